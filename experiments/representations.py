"""What the HAR classifiers see of HAPT windows `(N, C, T)`: the raw window, its statistical
features (SF), its exact PIs (the store's recipe) and its PI-Net PIs (a bundled Signal
PI-Net). Every representation is computed from the raw windows, so that noise added to a
test window reaches all of them, and scaled with statistics of the training windows only.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from experiments.features import statistical_features
from experiments.noise import channel_std, noise_conditions
from experiments.results import CLEAN
from pinet.inference import LoadedModel, load_model
from pinet.tda import Recipe

RAW, SF, EXACT, PINET = "raw", "SF", "exact PI", "PI-Net PI"
# Trained on HAPT's accelerometer windows of the official training users only, so the test
# users' windows are new to it (docs/training.md).
PINET_MODEL = "signal-hapt"
PINET_BATCH = 256  # windows per PI-Net forward pass: a fixed size keeps PIs reproducible
# Axes each representation's mean and scale are taken over: raw signals per channel (their
# level carries the posture, so it is kept across windows), SF per feature (each has its own
# unit), PIs over everything, so that a pixel that is nearly always 0 is not inflated to unit
# variance (under noise it would then dominate the input).
SCALE_AXES: dict[str, tuple[int, ...] | None] = {RAW: (0, 2), SF: (0,), EXACT: None, PINET: None}

Arrays = dict[str, np.ndarray]  # representation name -> values of every window


@dataclass(frozen=True)
class Scaler:
    """`x -> (x - mean) / scale` with a mean and scale fitted on training data."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, train: np.ndarray, axes: tuple[int, ...] | None) -> Scaler:
        """Statistics over `axes` (None: all) of `train`; a constant part keeps scale 1."""
        std = train.std(axis=axes, keepdims=True)
        return cls(train.mean(axis=axes, keepdims=True), np.where(std > 0, std, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)


class Representer:
    """Computes the representations of raw windows: `recipe` makes the exact PIs, the
    bundled `model_name` the PI-Net PIs (loaded on the CPU when first needed)."""

    def __init__(self, recipe: Recipe, model_name: str = PINET_MODEL) -> None:
        self.recipe = recipe
        self.model_name = model_name

    @functools.cached_property
    def model(self) -> LoadedModel:
        return load_model(self.model_name, "cpu")

    def compute(self, name: str, windows: np.ndarray) -> np.ndarray:
        """Representation `name` of `(N, C, T)` windows: raw `(N, C, T)`, SF `(N, C, 19)`,
        PIs `(N, C, 50, 50)`."""
        if name == RAW:
            return windows
        if name == SF:
            return statistical_features(windows)
        if name == EXACT:
            return self.recipe.images_batch(windows)
        if name == PINET:
            return pinet_pis(self.model, windows)
        raise ValueError(f"unknown representation {name!r}; known: {RAW}, {SF}, {EXACT}, {PINET}")

    def timed(
        self, names: Iterable[str], windows: np.ndarray, known: Arrays | None = None
    ) -> tuple[Arrays, dict[str, float]]:
        """Each of `names` for `windows` (taken from `known` when there, untimed), and the
        milliseconds per window each one took to compute."""
        arrays, ms = dict(known or {}), {}
        for name in names:
            if name in arrays:
                continue
            started = time.perf_counter()
            arrays[name] = self.compute(name, windows)
            ms[name] = 1000 * (time.perf_counter() - started) / len(windows)
        return {name: arrays[name] for name in names}, ms


def pinet_pis(model: LoadedModel, windows: np.ndarray) -> np.ndarray:
    """`(N, C, 50, 50)` PIs of `(N, C, T)` windows from a loaded PI-Net, in fixed batches."""
    return np.concatenate(
        [
            model.forward(model.prepare(windows[start : start + PINET_BATCH]))
            for start in range(0, len(windows), PINET_BATCH)
        ]
    )


def fit_scalers(train: Arrays) -> dict[str, Scaler]:
    """A scaler per representation, fitted on the training windows' values."""
    return {name: Scaler.fit(values, SCALE_AXES[name]) for name, values in train.items()}


def scaled(arrays: Arrays, scalers: dict[str, Scaler]) -> Arrays:
    return {name: scalers[name](values) for name, values in arrays.items()}


def test_sets(
    representer: Representer, names: Iterable[str], test: np.ndarray, train: np.ndarray
) -> tuple[dict[str, Arrays], dict[str, float]]:
    """The representations of the clean test windows and of each noisy copy (noise relative
    to the training windows' channel std), by condition, and the milliseconds per window
    each representation took on the clean ones."""
    names = list(names)
    sets, timings = {}, {}
    for condition, windows in noise_conditions(test, channel_std(train)):
        sets[condition], timings[condition] = representer.timed(names, windows)
    return sets, timings[CLEAN]
