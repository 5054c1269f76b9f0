"""The statistical features, against a direct computation of each one on each window."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from experiments.features import FEATURE_NAMES, statistical_features


def direct_features(signal: np.ndarray) -> list[float]:
    """The 19 features of one `(T,)` signal, each the textbook way (no constant signals)."""
    centred = signal - signal.mean()
    diff = np.diff(signal)
    power = np.abs(np.fft.rfft(centred))[1:] ** 2
    share = power / power.sum()
    return [
        signal.mean(),
        signal.std(),
        signal.min(),
        signal.max(),
        np.median(signal),
        *np.percentile(signal, [10, 25, 75, 90]),
        stats.skew(signal),
        stats.kurtosis(signal),
        np.mean(signal**2),
        np.mean(np.abs(centred)),
        np.mean(np.sign(centred[:-1]) * np.sign(centred[1:]) < 0),
        np.mean(np.abs(diff)),
        np.std(diff),
        (centred[:-1] @ centred[1:]) / (centred @ centred),
        (np.argmax(power) + 1) / len(signal),
        -np.sum(share[share > 0] * np.log(share[share > 0])) / np.log(len(power)),
    ]


def test_each_feature_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(3)
    time = np.arange(250)
    windows = rng.normal(size=(4, 3, 250)) + np.sin(2 * np.pi * time / 25) * [[1], [3], [0]]
    features = statistical_features(windows)
    assert features.shape == (4, 3, len(FEATURE_NAMES)) == (4, 3, 19)
    for n, c in np.ndindex(4, 3):
        np.testing.assert_allclose(
            features[n, c], direct_features(windows[n, c]), rtol=1e-10, atol=1e-12
        )


def test_the_dominant_frequency_of_a_sine_is_its_frequency() -> None:
    window = np.sin(2 * np.pi * np.arange(250) / 25)[None, None]  # 10 cycles in 250 samples
    dominant = statistical_features(window)[0, 0, FEATURE_NAMES.index("dominant_frequency")]
    assert dominant == pytest.approx(1 / 25)


def test_a_constant_channel_has_finite_features() -> None:
    window = np.stack([np.full(250, 2.0), np.arange(250.0)])[None]
    features = statistical_features(window)
    assert np.isfinite(features).all()
    moments = [FEATURE_NAMES.index(name) for name in ("skewness", "kurtosis", "spectral_entropy")]
    assert (features[0, 0, moments] == 0).all()
    assert features[0, 0, FEATURE_NAMES.index("energy")] == 4.0
