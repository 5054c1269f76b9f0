"""Training and scoring classifiers, the same way for every experiment: seeded, fixed
epochs (no early stopping, so no test set is ever looked at while training), Adam with a
cosine learning rate, and accuracy plus macro-F1 on held-out users or images."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

Inputs = tuple[torch.Tensor, ...]  # what a model takes: raw signals, PIs, features, ...
# A training loss: (model, batch inputs, batch labels, generator) -> scalar. It runs the
# forward pass itself, so that a loss may mix inputs or consult a teacher first.
Loss = Callable[[nn.Module, Inputs, torch.Tensor, torch.Generator], torch.Tensor]


def cross_entropy(
    model: nn.Module, inputs: Inputs, labels: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """The plain classification loss."""
    return functional.cross_entropy(model(*inputs), labels)


@dataclass(frozen=True)
class Schedule:
    """How long and how fast a classifier trains."""

    epochs: int
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4


def seeded(seed: int, threads: int) -> torch.Generator:
    """Seed torch globally (weight initialisation, dropout) and return a generator for the
    batch order; fix the CPU threads and ask for deterministic kernels, so that a rerun with
    the same seed reproduces every number."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def fit(
    model: nn.Module,
    inputs: Inputs,
    labels: torch.Tensor,
    schedule: Schedule,
    generator: torch.Generator,
    loss: Loss = cross_entropy,
    groups: list[dict[str, Any]] | None = None,
) -> nn.Module:
    """Train `model` on every sample for `schedule.epochs` epochs; returns it in eval mode.
    `groups`: Adam's parameter groups when parts of the model learn at their own rate (a
    pretrained part fine-tuned slowly); by default every parameter learns at `schedule.lr`."""
    optimiser = torch.optim.Adam(
        groups or model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay
    )
    steps_per_epoch = -(-len(labels) // schedule.batch_size)
    lr_schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=max(1, schedule.epochs * steps_per_epoch)
    )
    model.train()
    for _ in range(schedule.epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), schedule.batch_size):
            rows = order[start : start + schedule.batch_size]
            if len(rows) < 2:  # BatchNorm needs two samples; one left over is skipped
                continue
            optimiser.zero_grad()
            loss(model, tuple(x[rows] for x in inputs), labels[rows], generator).backward()
            optimiser.step()
            lr_schedule.step()
    return model.eval()


@torch.no_grad()
def logits_of(model: nn.Module, inputs: Inputs, batch_size: int = 512) -> torch.Tensor:
    """The model's logits for every sample, in eval mode."""
    model.eval()
    count = len(inputs[0])
    return torch.cat(
        [
            model(*(x[start : start + batch_size] for x in inputs))
            for start in range(0, count, batch_size)
        ]
    )


def scores(logits: torch.Tensor, labels: torch.Tensor, classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (the unweighted mean of each class's F1; a class never
    predicted and never present counts as F1 = 0 only if it is present)."""
    predicted = logits.argmax(dim=1).numpy()
    truth = labels.numpy()
    f1s = []
    for label in range(classes):
        hits = np.sum((predicted == label) & (truth == label))
        support, claimed = np.sum(truth == label), np.sum(predicted == label)
        if support == 0:
            continue
        f1s.append(2 * hits / (support + claimed))
    return {"accuracy": float(np.mean(predicted == truth)), "macro_f1": float(np.mean(f1s))}


def ms_per_sample(predict: Callable[[], object], samples: int, repeats: int = 3) -> float:
    """The best of `repeats` timings of `predict()` (which handles `samples` samples), in
    milliseconds per sample: the cost of one model at test time, on this CPU."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        predict()
        best = min(best, time.perf_counter() - started)
    return 1000 * best / samples
