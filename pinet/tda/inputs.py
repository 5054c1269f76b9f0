"""Raw inputs: what a recipe accepts (with a precise message when it does not), and the
per-channel standardisation that signal recipes and signal networks share."""

from __future__ import annotations

import numpy as np

from pinet.modality import with_channel_axis


def as_signals(x: np.ndarray, *, batched: bool) -> np.ndarray:
    """`(C, T)` (or `(N, C, T)` when batched) finite float64 signals, copied only if needed.

    A 1-D array is one channel; a batch must be 3-D, so channels are never taken for samples.
    """
    x = _as_real_array(x, "signal")
    if not batched:
        x = with_channel_axis(x, "signal")
    _check_ndim(
        x, 3 if batched else 2, "a signal batch (N, C, T)" if batched else "a signal (C, T)"
    )
    _check_finite(x, "signal")
    return x.astype(np.float64, copy=False)


def as_images(x: np.ndarray, *, batched: bool) -> np.ndarray:
    """`(C, H, W)` (or `(N, C, H, W)`) float64 images in [0, 1].

    uint8 input is divided by 255; float input must already lie in [0, 1]. A 2-D image
    `(H, W)` is one channel.
    """
    x = _as_real_array(x, "image")
    if not batched:
        x = with_channel_axis(x, "image")
    _check_ndim(
        x, 4 if batched else 3, "an image batch (N, C, H, W)" if batched else "an image (C, H, W)"
    )
    if x.dtype == np.uint8:
        return x / 255.0
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"image dtype {x.dtype} is not supported: pass uint8 or float in [0, 1]")
    _check_finite(x, "image")
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"float image values must lie in [0, 1], got [{low:g}, {high:g}]; "
            "divide 8-bit data by 255 or pass it as uint8"
        )
    return x.astype(np.float64, copy=False)


def _as_real_array(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype == np.bool_ or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{what} must be numeric, got dtype {x.dtype}")
    if np.iscomplexobj(x):
        raise ValueError(f"{what} must be real, got complex values")
    if x.size == 0:
        raise ValueError(f"{what} is empty (shape {x.shape})")
    return x


def _check_ndim(x: np.ndarray, ndim: int, expected: str) -> None:
    if x.ndim != ndim:
        raise ValueError(f"expected {expected} array with {ndim} dimensions, got shape {x.shape}")


def _check_finite(x: np.ndarray, what: str) -> None:
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"{what} contains {int((~finite).sum())} NaN or infinite value(s), "
            f"first at index {tuple(int(i) for i in bad)}"
        )


def standardise(channels: np.ndarray) -> np.ndarray:
    """Z-score along the last axis (population std, ddof 0); a constant channel becomes zeros.

    Each channel is first scaled by a power of two near its largest magnitude (exact in
    floating point, so the z-scores are unchanged): squares of values beyond ~1e154 or
    below ~1e-154 would otherwise overflow or underflow and a channel would look constant.
    """
    magnitude = np.abs(channels).max(axis=-1, keepdims=True)
    _, exponent = np.frexp(magnitude)
    scaled = np.ldexp(channels, -exponent)
    centred = scaled - scaled.mean(axis=-1, keepdims=True)
    spread = centred.std(axis=-1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)
