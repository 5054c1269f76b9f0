"""Gaussian noise on test data only (the paper's robustness test), at four levels.

A level is the noise's standard deviation as a fraction of each channel's standard deviation
over the training data, so one level means the same signal-to-noise ratio on every channel
and data set: 0.1 is barely visible, 1.0 buries the signal as deep as it is strong.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from experiments.results import CLEAN

LEVELS = (0.1, 0.25, 0.5, 1.0)


def condition(level: float) -> str:
    """The name of a noise condition in results and reports."""
    return f"noise {level:g}"


CONDITIONS = (CLEAN, *(condition(level) for level in LEVELS))


def channel_std(inputs: np.ndarray) -> np.ndarray:
    """Each channel's standard deviation over samples and positions of `(N, C, *S)` inputs,
    shaped to broadcast against them."""
    axes = (0, *range(2, inputs.ndim))
    return inputs.std(axis=axes, keepdims=True)


def noisy(inputs: np.ndarray, level: float, scale: np.ndarray, seed: int) -> np.ndarray:
    """`inputs` plus Gaussian noise of standard deviation `level * scale` (per channel),
    drawn from `seed` so that every model of a run sees the same noisy test set."""
    rng = np.random.default_rng([seed, round(level * 1000)])
    noise = rng.standard_normal(inputs.shape) * (level * scale)
    return (inputs + noise).astype(inputs.dtype)


# Every model and seed of a run is scored on the same noisy test sets: the seeds measure
# training's spread, not the luck of one noise draw.
NOISE_SEED = 0


def noise_conditions(
    inputs: np.ndarray, scale: np.ndarray, seed: int = NOISE_SEED
) -> Iterator[tuple[str, np.ndarray]]:
    """The clean test `inputs` and a noisy copy at each of LEVELS, with their conditions."""
    yield CLEAN, inputs
    for level in LEVELS:
        yield condition(level), noisy(inputs, level, scale, seed)
