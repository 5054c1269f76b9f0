"""HAR on HAPT: what exact and PI-Net PIs add to a human activity classifier (SPEC 8, the
PI-Net paper's HAR experiment).

Six activities from 250-sample (5 s) windows of HAPT's three accelerometer axes, trained on
the official training users and tested on the 9 test users (`data.HAPT_ACC`). The rows:

- an 8-layer MLP on statistical features (SF, 19 per channel: `experiments.features`), on
  exact PIs, on PI-Net PIs, and on SF with either PI;
- a 10-layer 1D-CNN on the raw windows, alone and with PI features fused (`FusedCNN`).

Exact PIs are the store's recipe (`signal-sublevel`); PI-Net PIs come from the bundled
`signal-hapt`, trained on the training users' windows only. Each model is also scored on
the test windows with Gaussian noise at the four levels of `experiments.noise`; SF and both
kinds of PI are recomputed from the noisy windows. `ms_per_sample` is the test-time cost of
a row on this CPU: computing its inputs from a raw window, then the classifier.

Full run: `python -m experiments run har --threads 1`, 19 CPU minutes, which is its wall
time on an idle 2-core machine (48 minutes on one shared with other jobs); the numbers are in
docs/experiments.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from experiments.classify import Inputs, Schedule, fit, logits_of, ms_per_sample, seeded
from experiments.compare import POINT, gap, robustness_gap, verdict_on_all
from experiments.har_data import HarData, load_har, scored, tensors
from experiments.nets import MLP, PICNN, FusedCNN, SignalCNN
from experiments.representations import EXACT, PINET, RAW, SF
from experiments.results import CLEAN, Outcome, Result, Settings, Summary, Verdict
from pinet.device import use_threads

TITLE = "HAR on HAPT: statistical features, exact PIs and PI-Net PIs"
MLP_KIND, CNN_KIND = "MLP", "1D-CNN"


@dataclass(frozen=True)
class Row:
    """A compared model: its name, its classifier (MLP or 1D-CNN) and the representations
    it takes (an MLP takes them flattened and joined; a 1D-CNN fuses PIs into its head)."""

    name: str
    kind: str
    inputs: tuple[str, ...]


ROW_SPECS = (
    Row("MLP: SF", MLP_KIND, (SF,)),
    Row("MLP: exact PI", MLP_KIND, (EXACT,)),
    Row("MLP: PI-Net PI", MLP_KIND, (PINET,)),
    Row("MLP: SF + exact PI", MLP_KIND, (SF, EXACT)),
    Row("MLP: SF + PI-Net PI", MLP_KIND, (SF, PINET)),
    Row("1D-CNN: raw", CNN_KIND, (RAW,)),
    Row("1D-CNN + exact PI", CNN_KIND, (RAW, EXACT)),
    Row("1D-CNN + PI-Net PI", CNN_KIND, (RAW, PINET)),
)
ROWS = tuple(row.name for row in ROW_SPECS)


@dataclass(frozen=True)
class Config:
    """Schedules and widths of the classifiers. The depths are the paper's (SPEC 8); the
    1D-CNN's width is halved from nets.py's 64 and the PI branch kept narrow, so that the
    full run fits in about 20 minutes on 2 cores."""

    mlp: Schedule
    cnn: Schedule
    mlp_width: int
    cnn_width: int
    pi_width: int


FULL = Config(Schedule(epochs=40), Schedule(epochs=20), mlp_width=128, cnn_width=32, pi_width=16)
QUICK = Config(Schedule(epochs=2), Schedule(epochs=1), mlp_width=16, cnn_width=8, pi_width=4)


def config_of(settings: Settings) -> Config:
    return QUICK if settings.quick else FULL


def run(settings: Settings) -> Outcome:
    """Train every wanted row for every seed and score it on each test condition."""
    use_threads(settings.threads)
    rows = [row for row in ROW_SPECS if settings.wants(row.name)]
    har = load_har(settings, (name for row in rows for name in row.inputs))
    config = config_of(settings)
    results = [
        result
        for row in rows
        for seed in settings.seeds
        for result in run_row(row, seed, har, config, settings.threads)
    ]
    return Outcome(results, har.description, notes(config, settings.threads))


def run_row(row: Row, seed: int, har: HarData, config: Config, threads: int) -> list[Result]:
    """One row trained with one seed, scored on every condition; the clean result also
    carries the row's test-time cost."""
    generator = seeded(seed, threads)
    train_inputs = row_inputs(row, har.train)
    model = classifier(row, train_inputs, har.classes, config)
    schedule = config.mlp if row.kind == MLP_KIND else config.cnn
    fit(model, train_inputs, har.train_labels, schedule, generator)
    tests = {condition: row_inputs(row, arrays) for condition, arrays in har.tests.items()}
    results = scored(row.name, seed, model, tests, har.test_labels, har.classes)
    inputs_ms = sum(har.ms_per_window[name] for name in row.inputs)
    model_ms = ms_per_sample(lambda: logits_of(model, tests[CLEAN]), len(har.test_labels))
    return [
        dataclasses.replace(r, metrics={**r.metrics, "ms_per_sample": inputs_ms + model_ms})
        if r.condition == CLEAN
        else r
        for r in results
    ]


def row_inputs(row: Row, arrays: dict[str, np.ndarray]) -> Inputs:
    """What `row`'s classifier takes: one `(N, F)` vector of its representations for an
    MLP; the raw `(N, C, T)` windows, then the PIs `(N, C, 50, 50)` if any, for a 1D-CNN."""
    if row.kind == CNN_KIND:
        return tensors(arrays, row.inputs)
    count = len(arrays[row.inputs[0]])
    joined = np.concatenate([arrays[name].reshape(count, -1) for name in row.inputs], axis=1)
    return (torch.from_numpy(joined),)


def classifier(row: Row, inputs: Inputs, classes: int, config: Config) -> nn.Module:
    """A freshly initialised classifier for `row`'s inputs (seed torch first)."""
    if row.kind == MLP_KIND:
        return MLP(inputs[0].shape[1], classes, width=config.mlp_width)
    channels = inputs[0].shape[1]
    if len(inputs) == 1:
        return SignalCNN(channels, classes, width=config.cnn_width)
    return fused_cnn(channels, classes, config.cnn_width, config.pi_width)


def fused_cnn(channels: int, classes: int, cnn_width: int, pi_width: int) -> FusedCNN:
    """The 1D-CNN with PI features fused: a 1D-CNN of `cnn_width` filters on the raw
    windows, a 2-D CNN of `pi_width` on the PIs."""
    signal_net = SignalCNN(channels, classes, width=cnn_width)
    return FusedCNN(signal_net, PICNN(channels, classes, width=pi_width), classes)


def notes(config: Config, threads: int) -> list[str]:
    """The choices a reader of the numbers needs."""
    return [
        "SF: 19 statistical features per channel (experiments/features.py), z-scored per "
        "feature; PIs scaled by one mean and std over all pixels; raw windows z-scored per "
        "channel; all with training statistics.",
        f"MLP: 7 x (Linear {config.mlp_width}, BatchNorm, ReLU, Dropout 0.2) + a linear head, "
        f"{config.mlp.epochs} epochs. 1D-CNN: 9 conv blocks of {config.cnn_width} filters + "
        f"a linear head, {config.cnn.epochs} epochs; fused: a 2-D CNN of width "
        f"{config.pi_width} on the PIs joins its pooled features before the head. Adam, lr "
        f"{config.mlp.lr:g}, cosine schedule, batch {config.mlp.batch_size}, fixed epochs.",
        "PI-Net PIs: the bundled signal-hapt (float32, CPU), trained on the training users' "
        "windows only.",
        "Noise: Gaussian, std = level x the training windows' channel std, added to the raw "
        "test windows; SF, exact and PI-Net PIs are recomputed from the noisy windows. One "
        "draw for every model and seed.",
        f"ms_per_sample: the row's inputs computed from raw test windows plus the classifier, "
        f"batched, {threads} torch thread(s), on the machine of the run.",
    ]


def verdicts(summary: Summary) -> list[Verdict]:
    """The paper's three HAR claims against our numbers (accuracy, mean over seeds)."""
    fusions = [
        ("MLP: SF + exact PI", "MLP: SF"),
        ("MLP: SF + PI-Net PI", "MLP: SF"),
        ("1D-CNN + exact PI", "1D-CNN: raw"),
        ("1D-CNN + PI-Net PI", "1D-CNN: raw"),
    ]
    learned_vs_exact = [
        ("MLP: PI-Net PI", "MLP: exact PI"),
        ("MLP: SF + PI-Net PI", "MLP: SF + exact PI"),
        ("1D-CNN + PI-Net PI", "1D-CNN + exact PI"),
    ]
    return [
        verdict_on_all(
            "PI fusion helps: every model with PIs beats its counterpart without by more "
            "than the pooled std over seeds",
            [gap(summary, fused, alone) for fused, alone in fusions],
            lambda g: g.difference > g.spread,
        ),
        verdict_on_all(
            "PI-Net PIs are as good as exact PIs: each PI-Net row is at most max(1 point, "
            "pooled std) below its exact-PI twin",
            [gap(summary, learned, exact) for learned, exact in learned_vs_exact],
            lambda g: g.difference >= -max(POINT, g.spread),
        ),
        verdict_on_all(
            "PIs add robustness to noise: every model with PIs loses at least 1 point less "
            "accuracy from clean to the strongest noise than its counterpart",
            [robustness_gap(summary, fused, alone) for fused, alone in fusions],
            lambda g: g.difference >= POINT,
        ),
    ]
