"""Statistical features (SF) of signal windows: the hand-made baseline PIs are compared with.

The PI-Net paper's HAR classifier takes 19 statistical features per frame (SPEC 8) without
listing them; these 19 per channel cover a window's level, spread, shape, rhythm and
spectrum, in FEATURE_NAMES order:

- level and spread: mean, standard deviation (population), minimum, maximum, median, the
  10th, 25th, 75th and 90th percentiles (linear interpolation, numpy's default);
- shape: skewness and excess kurtosis (population moments, scipy's `bias=True` defaults);
- energy: the mean of the squared values, and the mean absolute deviation from the mean;
- rhythm: the mean-crossing rate (the fraction of consecutive pairs on strictly opposite
  sides of the mean), the mean and the standard deviation of the first difference, and the
  lag-1 autocorrelation;
- spectrum (of the window minus its mean, DC left out): the dominant frequency in cycles
  per sample, and the spectral entropy of the power spectrum, normalised to [0, 1].

Moments and autocorrelation of a constant channel, and the entropy of a flat spectrum with
no power, are 0 rather than undefined.
"""

from __future__ import annotations

import numpy as np

FEATURE_NAMES = (
    "mean",
    "std",
    "min",
    "max",
    "median",
    "p10",
    "p25",
    "p75",
    "p90",
    "skewness",
    "kurtosis",
    "energy",
    "mean_abs_deviation",
    "mean_crossing_rate",
    "mean_abs_diff",
    "std_diff",
    "autocorrelation_lag1",
    "dominant_frequency",
    "spectral_entropy",
)
PERCENTILES = (50, 10, 25, 75, 90)  # the median first, then the four others in order


def statistical_features(windows: np.ndarray) -> np.ndarray:
    """`(N, C, T)` windows (T >= 4) -> `(N, C, 19)` float64 features, FEATURE_NAMES last."""
    x = np.asarray(windows, dtype=np.float64)
    mean = x.mean(axis=-1)
    centred = x - mean[..., None]
    std = centred.std(axis=-1)
    median, *percentiles = np.percentile(x, PERCENTILES, axis=-1)
    variance = std**2
    diff = np.diff(x, axis=-1)
    return np.stack(
        [
            mean,
            std,
            x.min(axis=-1),
            x.max(axis=-1),
            median,
            *percentiles,
            _ratio((centred**3).mean(axis=-1), std**3),
            _ratio((centred**4).mean(axis=-1), variance**2) - (variance > 0) * 3.0,
            (x**2).mean(axis=-1),
            np.abs(centred).mean(axis=-1),
            (centred[..., :-1] * centred[..., 1:] < 0).mean(axis=-1),
            np.abs(diff).mean(axis=-1),
            diff.std(axis=-1),
            _ratio((centred[..., :-1] * centred[..., 1:]).sum(axis=-1), (centred**2).sum(axis=-1)),
            *_spectral_features(centred),
        ],
        axis=-1,
    )


def _spectral_features(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dominant frequency (cycles per sample) and normalised spectral entropy of `(..., T)`
    zero-mean windows, from the power at frequencies 1/T .. 1/2."""
    length = centred.shape[-1]
    power = np.abs(np.fft.rfft(centred, axis=-1)[..., 1:]) ** 2
    dominant = (power.argmax(axis=-1) + 1) / length
    total = power.sum(axis=-1, keepdims=True)
    share = np.divide(power, total, out=np.zeros_like(power), where=total > 0)
    logs = np.log(share, out=np.zeros_like(share), where=share > 0)
    entropy = -(share * logs).sum(axis=-1) / np.log(power.shape[-1])
    return dominant, entropy


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (a constant window)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
