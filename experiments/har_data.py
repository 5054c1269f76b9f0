"""The data of a HAR run on HAPT (experiments `har` and `differentiable`): the accelerometer
windows of the official training and test users, in the representations the run's rows
need, scaled with training statistics, and the test set clean and at every noise level."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from experiments import data
from experiments.classify import Inputs, logits_of, scores
from experiments.noise import NOISE_SEED
from experiments.representations import (
    EXACT,
    Arrays,
    Representer,
    Scaler,
    fit_scalers,
    scaled,
    test_sets,
)
from experiments.results import Result, Settings


@dataclass(frozen=True)
class HarData:
    """Scaled representations of the training windows and of the test windows by condition
    (`clean`, `noise 0.1`, ...), the scalers that scaled them, their labels `(N,)` from 0,
    the milliseconds per window each representation took on the clean test windows, and
    what the data was."""

    train: Arrays
    train_labels: torch.Tensor
    tests: dict[str, Arrays]
    test_labels: torch.Tensor
    scalers: dict[str, Scaler]
    classes: int
    ms_per_window: dict[str, float]
    description: dict[str, Any]


def load_har(settings: Settings, names: Iterable[str]) -> HarData:
    """HAPT's accelerometer store (the quick subset for a quick run) under the experiments'
    root, in the representations `names`. Training PIs come from the store; every test
    representation is computed from the (noisy) test windows, exact PIs by the store's
    recipe."""
    names = list(dict.fromkeys(names))
    store = data.ground_truth(data.HAPT_ACC, settings.out.parent, settings.quick)
    representer = Representer(store.recipe)
    train, test = data.load_split(store, "train"), data.load_split(store, "test")
    train_arrays, _ = representer.timed(names, train.inputs, known={EXACT: train.pis})
    scalers = fit_scalers(train_arrays)
    tests, ms = test_sets(representer, names, test.inputs, train.inputs)
    description = data.describe(store, ("train", train), ("test", test))
    return HarData(
        train=scaled(train_arrays, scalers),
        train_labels=torch.from_numpy(train.labels),
        tests={condition: scaled(arrays, scalers) for condition, arrays in tests.items()},
        test_labels=torch.from_numpy(test.labels),
        scalers=scalers,
        classes=int(train.labels.max()) + 1,
        ms_per_window=ms,
        description={
            **description,
            "pinet_model": representer.model_name,
            "noise_seed": NOISE_SEED,
        },
    )


def tensors(arrays: Arrays, names: Iterable[str]) -> Inputs:
    """The arrays `names`, in that order, as tensors."""
    return tuple(torch.from_numpy(np.ascontiguousarray(arrays[name])) for name in names)


def scored(
    row: str,
    seed: int,
    model: nn.Module,
    tests: dict[str, Inputs],
    labels: torch.Tensor,
    classes: int,
) -> list[Result]:
    """`model`'s accuracy and macro-F1 on the test inputs of each condition."""
    return [
        Result(row, seed, scores(logits_of(model, inputs), labels, classes), condition)
        for condition, inputs in tests.items()
    ]
