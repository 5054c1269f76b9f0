"""The benchmarks' inputs, defined once: signals `(n, 3, 250)` and images `(n, 3, 32, 32)`.

Real data where it is installed (HAPT windows, photo crops, the authors' CIFAR10 samples),
synthetic data of the same shape otherwise, so that every benchmark runs anywhere and says
which it got: each generator returns its inputs with a short description of their source
for the printed tables. Random draws come from the caller's generator, so one seed makes a
run's inputs reproducible.
"""

from __future__ import annotations

import numpy as np

from data_prep.sources.base import Source
from data_prep.sources.errors import SourceUnavailable
from data_prep.sources.hapt import HaptWindows
from data_prep.sources.photos import PHOTO_NAMES, PhotoCrops
from pinet.tda.reference import reference_samples

CHANNELS = 3  # the released inputs: 3 accelerometer axes, RGB
WINDOW = 250  # 5 s at 50 Hz, the Signal PI-Net input of SPEC 5
SAMPLE_RATE_HZ = 50  # HAPT's
IMAGE_SIDE = 32  # CIFAR10's side, the Image PI-Net input of SPEC 5


def spread_over(source: Source, n: int) -> np.ndarray | None:
    """`n` inputs of `source` evenly spread over everything it yields, in order (some repeat
    when it yields fewer than `n`), so that even a small batch is not drawn from one
    recording or photo; None when the source's data is not installed."""
    try:
        inputs = [sample.input for sample in source.samples()]
    except SourceUnavailable:
        return None
    picked = np.linspace(0, len(inputs) - 1, n).astype(int)
    return np.stack([inputs[i] for i in picked])


def synthetic_windows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 250)` float64 accelerometer-like windows (5 s at 50 Hz): even ones random
    walks, odd ones sines of 0.5-3 Hz plus noise, two kinds of sublevel diagram (bars of
    every length; a few long bars, one per period, among many short ones from the noise)."""
    shape = (n, CHANNELS, WINDOW)
    walks = np.cumsum(rng.standard_normal(shape), axis=-1)
    t = np.arange(WINDOW) / SAMPLE_RATE_HZ
    frequency = rng.uniform(0.5, 3.0, (n, CHANNELS, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, CHANNELS, 1))
    sines = np.sin(2 * np.pi * frequency * t + phase) + 0.2 * rng.standard_normal(shape)
    windows = np.where(np.arange(n)[:, None, None] % 2 == 0, walks, sines)
    return windows, "random walks and noisy sines"


def accelerometer_windows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 250)` float64: HAPT accelerometer windows (in g) spread over all recordings
    when the data is installed, else `synthetic_windows`."""
    windows = spread_over(HaptWindows(window=WINDOW, stride=WINDOW), n)
    if windows is not None:
        return windows, "HAPT acc windows"
    windows, source = synthetic_windows(n, rng)
    return windows, f"{source} (HAPT not installed)"


def photo_crops(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 32, 32)` uint8: crops of the bundled skimage / sklearn photos (every photo,
    in order) when installed, else smooth random images (8x8 noise upsampled, plus a little
    pixel noise), so that a recipe sees regions and edges rather than pure noise."""
    per_photo = -(-n // len(PHOTO_NAMES))
    crops = spread_over(PhotoCrops(train_per_photo=per_photo, test_per_photo=0), n)
    if crops is not None:
        return crops, "photo crops"
    coarse = rng.uniform(0, 255, (n, CHANNELS, 8, 8))
    smooth = coarse.repeat(IMAGE_SIDE // 8, axis=2).repeat(IMAGE_SIDE // 8, axis=3)
    noisy = smooth + rng.normal(0, 8, smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), "smooth random images (no photos)"


def cifar_like_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 32, 32)` uint8: the authors' 10 released CIFAR10 images (shipped with pinet),
    then `photo_crops` for the rest, so that the inputs start with what the authors ran."""
    cifar = np.round(reference_samples().images * 255).astype(np.uint8)
    if n <= len(cifar):
        return cifar[:n], f"{n} CIFAR10"
    crops, source = photo_crops(n - len(cifar), rng)
    return np.concatenate([cifar, crops]), f"{len(cifar)} CIFAR10 + {source}"
