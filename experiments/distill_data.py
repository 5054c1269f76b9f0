"""The data of the distillation experiment: HAPT's accelerometer windows of the official
training and test users, with two kinds of exact PIs of them for the PI teacher: the paper's
(the store's `signal-sublevel`, 50 x 50) and the authors' group's (`signal-sublevel-tpkd`,
64 x 64, computed here in process, since a ground-truth store holds 50 x 50 PIs only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from experiments import data
from experiments.results import Settings
from pinet.tda import Recipe, get_recipe

RAW, PAPER, GROUP = "raw", "paper", "group"  # what a model takes: windows, or PIs of two kinds
GROUP_RECIPE = "signal-sublevel-tpkd"


@dataclass(frozen=True)
class PiKind:
    """One kind of exact PIs: the recipe, and its PIs `(N, C, R, R)` of the training and of
    the test windows."""

    recipe: Recipe
    train: torch.Tensor
    test: torch.Tensor


@dataclass(frozen=True)
class DistillData:
    """Raw windows `(N, C, T)` in g and labels `(N,)` from 0 of both splits, each kind of PIs
    (`PAPER`, `GROUP`), the number of classes, and what the data was."""

    train_signals: torch.Tensor
    train_labels: torch.Tensor
    test_signals: torch.Tensor
    test_labels: torch.Tensor
    pis: dict[str, PiKind]
    classes: int
    description: dict[str, Any]

    @property
    def channels(self) -> int:
        return self.train_signals.shape[1]


def load_distill_data(settings: Settings) -> DistillData:
    """HAPT's accelerometer store under the experiments' root (the quick subset for a quick
    run), with the group's PIs of every window."""
    store = data.ground_truth(data.HAPT_ACC, settings.out.parent, settings.quick)
    train, test = data.load_split(store, "train"), data.load_split(store, "test")
    group = get_recipe(GROUP_RECIPE)
    pis = {
        PAPER: PiKind(store.recipe, torch.from_numpy(train.pis), torch.from_numpy(test.pis)),
        GROUP: PiKind(
            group,
            torch.from_numpy(group.images_batch(train.inputs)),
            torch.from_numpy(group.images_batch(test.inputs)),
        ),
    }
    description = {
        **data.describe(store, ("train", train), ("test", test)),
        "pi_recipes": {kind: {"name": k.recipe.name, **k.recipe.params} for kind, k in pis.items()},
        "train_max_deviation": largest_deviation(train.inputs),
    }
    return DistillData(
        train_signals=torch.from_numpy(train.inputs),
        train_labels=torch.from_numpy(train.labels),
        test_signals=torch.from_numpy(test.inputs),
        test_labels=torch.from_numpy(test.labels),
        pis=pis,
        classes=int(max(train.labels.max(), test.labels.max())) + 1,
        description=description,
    )


def largest_deviation(signals: np.ndarray) -> float:
    """The largest |x - window mean| over windows `(N, C, T)`: what the group's recipe divides
    by (its `scale`), measured on this run's training windows to show that the recipe's
    default fits them."""
    return float(np.abs(signals - signals.mean(axis=2, keepdims=True)).max())
