"""Differentiable PIs: does the HAR classifier gain from training PI-Net through its own loss?

Exact PIs have no useful gradient; PI-Net's do. The fused HAR classifier of `har` (a 1D-CNN
on the raw windows, a 2-D CNN on PIs, one head) gets its PIs from the bundled Signal PI-Net
`signal-hapt` inside the model, and the rows differ only in what PI-Net does while the
classifier trains (same seed, same initial classifier, same batches):

- "exact PI": exact PIs of the store's recipe instead, for reference;
- "PI-Net frozen": PI-Net's weights fixed (its PIs computed once);
- "PI-Net fine-tuned": PI-Net's weights trained by the classification loss, at a tenth of
  the classifier's learning rate; its BatchNorm layers keep their running statistics.

Test windows are scored clean and under the four noise levels of `experiments.noise`; the
fine-tuned PI-Net computes its PIs from the noisy windows itself.

Full run: `python -m experiments run differentiable --threads 1`, 22 CPU minutes, which is
its wall time on an idle 2-core machine (31 minutes on one shared with other jobs), most of
it the fine-tuned row's passes through PI-Net; the numbers are in docs/experiments.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from experiments.classify import Inputs, Schedule, fit, seeded
from experiments.compare import gap, verdict_on_all
from experiments.har import FULL as HAR_FULL
from experiments.har import QUICK as HAR_QUICK
from experiments.har import fused_cnn
from experiments.har_data import HarData, load_har, scored, tensors
from experiments.nets import FusedCNN
from experiments.representations import EXACT, PINET, PINET_MODEL, RAW, Arrays, Scaler
from experiments.results import Outcome, Result, Settings, Summary, Verdict
from pinet.checkpoint import load_checkpoint
from pinet.device import use_threads
from pinet.inference import find_checkpoint, network_inputs
from pinet.nets import PINet

TITLE = "Differentiable PIs: PI-Net fine-tuned through the HAR classifier"
EXACT_ROW, FROZEN, FINE_TUNED = "exact PI", "PI-Net frozen", "PI-Net fine-tuned"
ROWS = (EXACT_ROW, FROZEN, FINE_TUNED)
# What each row needs computed; the fine-tuned row scales its PIs as the frozen PI-Net's.
REPRESENTATIONS = {EXACT_ROW: (RAW, EXACT), FROZEN: (RAW, PINET), FINE_TUNED: (RAW, PINET)}
FINE_TUNE_LR_FACTOR = 0.1  # PI-Net learns slowly: it starts from a good solution


@dataclass(frozen=True)
class Config:
    """The schedule and widths of the fused classifier: `har`'s widths, fewer epochs (a
    fine-tuning epoch costs ten of the classifier alone)."""

    schedule: Schedule
    cnn_width: int
    pi_width: int


FULL = Config(Schedule(epochs=6), HAR_FULL.cnn_width, HAR_FULL.pi_width)
QUICK = Config(Schedule(epochs=1), HAR_QUICK.cnn_width, HAR_QUICK.pi_width)


class PINetFused(nn.Module):
    """A fused classifier whose PIs a PI-Net computes inside the model, scaled as the
    precomputed ones are, so that the classification loss reaches PI-Net's weights. Takes
    the windows `(N, C, T)` as the classifier sees them and as PI-Net sees them."""

    def __init__(self, fused: FusedCNN, pinet: PINet, pi_scaler: Scaler) -> None:
        super().__init__()
        self.fused, self.pinet = fused, pinet
        self.register_buffer("pi_mean", torch.tensor(float(pi_scaler.mean.item())))
        self.register_buffer("pi_scale", torch.tensor(float(pi_scaler.scale.item())))

    def train(self, mode: bool = True) -> PINetFused:
        """Train the classifier; PI-Net's BatchNorm keeps the statistics of its own training
        data (batches of 64 windows would estimate them worse)."""
        super().train(mode)
        self.pinet.eval()
        return self

    def parameter_groups(self, lr: float) -> list[dict[str, Any]]:
        """The classifier at `lr`, PI-Net at FINE_TUNE_LR_FACTOR times it."""
        return [
            {"params": list(self.fused.parameters())},
            {"params": list(self.pinet.parameters()), "lr": lr * FINE_TUNE_LR_FACTOR},
        ]

    def forward(self, signals: torch.Tensor, pinet_inputs: torch.Tensor) -> torch.Tensor:
        pis = (self.pinet(pinet_inputs) - self.pi_mean) / self.pi_scale
        return self.fused(signals, pis)


def run(settings: Settings) -> Outcome:
    """Train every wanted row for every seed and score it on each test condition."""
    use_threads(settings.threads)
    config = QUICK if settings.quick else FULL
    rows = [row for row in ROWS if settings.wants(row)]
    har = load_har(settings, (name for row in rows for name in REPRESENTATIONS[row]))
    results = [
        result
        for row in rows
        for seed in settings.seeds
        for result in run_row(row, seed, har, config, settings.threads)
    ]
    notes = [
        f"Fused classifier: 1D-CNN of {config.cnn_width} filters + 2-D CNN of "
        f"{config.pi_width} on the PIs, {config.schedule.epochs} epochs, Adam lr "
        f"{config.schedule.lr:g} with a cosine schedule, batch {config.schedule.batch_size}; "
        f"PI-Net fine-tuned at {FINE_TUNE_LR_FACTOR:g} x that lr, BatchNorm statistics kept.",
        "Every row of a seed starts from the same classifier weights and sees the same "
        "batches; the fine-tuned PI-Net starts from the bundled signal-hapt.",
    ]
    return Outcome(results, har.description, notes)


def run_row(row: str, seed: int, har: HarData, config: Config, threads: int) -> list[Result]:
    """One row trained with one seed, scored on every condition."""
    generator = seeded(seed, threads)
    channels = har.train[RAW].shape[1]
    # The classifier first, so that its initial weights are the same in every row.
    model: nn.Module = fused_cnn(channels, har.classes, config.cnn_width, config.pi_width)
    groups = None
    if row == FINE_TUNED:
        model = PINetFused(model, fresh_pinet(), har.scalers[PINET])
        groups = model.parameter_groups(config.schedule.lr)
    train_inputs = row_inputs(row, har.train)
    fit(model, train_inputs, har.train_labels, config.schedule, generator, groups=groups)
    tests = {condition: row_inputs(row, arrays) for condition, arrays in har.tests.items()}
    return scored(row, seed, model, tests, har.test_labels, har.classes)


def row_inputs(row: str, arrays: Arrays) -> Inputs:
    """What `row`'s model takes: the scaled windows `(N, C, T)`, then exact PIs, PI-Net PIs
    `(N, C, 50, 50)`, or PI-Net's inputs `(N, C, T)`. Those are made from the scaled
    windows: PI-Net z-scores each window's channels, which undoes any per-channel scaling."""
    if row == FINE_TUNED:
        return torch.from_numpy(arrays[RAW]), network_inputs(arrays[RAW], "signal")
    return tensors(arrays, (RAW, EXACT if row == EXACT_ROW else PINET))


def fresh_pinet() -> PINet:
    """The bundled Signal PI-Net's torch network, float32 on the CPU, a new copy each time
    (fine-tuning changes its weights)."""
    network, _ = load_checkpoint(find_checkpoint(PINET_MODEL), "cpu")
    return network


def verdicts(summary: Summary) -> list[Verdict]:
    """Whether fine-tuning PI-Net through the classifier beats keeping it frozen."""
    verdict = verdict_on_all(
        "Fine-tuning PI-Net through the classification loss helps: the fine-tuned row beats "
        "the frozen one by more than the pooled std over seeds",
        [gap(summary, FINE_TUNED, FROZEN)],
        lambda g: g.difference > g.spread,
    )
    reference = gap(summary, FINE_TUNED, EXACT_ROW).describe()
    return [
        dataclasses.replace(verdict, evidence=f"{verdict.evidence}; for reference, {reference}")
    ]
