"""What the synthetic sources share: the family type, the helpers families use, and the
source that turns families into seeded samples with ids, groups and splits."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source
from data_prep.sources.files import is_test_group

Family = Callable[[np.random.Generator, int, int], np.ndarray]
"""A generator family: `(rng, channels, extent)` -> `(C, T)` signals or `(C, S, S)` images,
float64 of any scale; the source then gives it its modality's final form."""

DEFAULT_COUNT = 5000  # about as many samples as the hapt and photos sources hold
DEFAULT_TEST_FRACTION = 0.2  # of the groups; the photos source's 4,000 : 1,000
# Consecutive sample indices per group (times the number of families): 2,000 samples of
# 10 families make about 300 groups of about 6 samples.
GROUP_SIZE = 64

# Every family: a few random levels of additive Gaussian noise, relative to the clean
# sample's standard deviation (from barely visible to dominant).
NOISE_RATIO = (1e-3, 0.5)


def log_uniform(
    rng: np.random.Generator, low: float, high: float, size: int | tuple[int, ...] | None = None
) -> np.ndarray:
    """Values spread evenly in log scale between `low` and `high`, for scales and frequencies
    where a factor matters more than a difference."""
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def add_noise(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """`x` `(C, ...)` plus white Gaussian noise at a random level (NOISE_RATIO) relative to
    each channel's spread, so the same shapes are seen from clean to noisy."""
    spread = x.std(axis=tuple(range(1, x.ndim)), keepdims=True)
    level = log_uniform(rng, *NOISE_RATIO) * np.where(spread > 0, spread, 1.0)
    return x + level * rng.normal(size=x.shape)


def mix_channels(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Pull the channels of `x` `(C, ...)` towards their mean by a random weight in [0, 1):
    real channels (accelerometer axes, colour planes) are correlated, independent draws are
    not. One channel is left as it is."""
    shared = rng.uniform()
    return (1.0 - shared) * x + shared * x.mean(axis=0, keepdims=True)


def power_law_noise(
    rng: np.random.Generator, shape: tuple[int, ...], exponent: float, dims: int
) -> np.ndarray:
    """Gaussian noise over the last `dims` axes of `shape` with power falling as
    1 / frequency**`exponent` and zero mean: 1/f-like textures (exponent 1-3) and smooth
    random Fourier series (larger exponents)."""
    spatial = shape[-dims:]
    frequencies = [np.fft.fftfreq(n) for n in spatial[:-1]] + [np.fft.rfftfreq(spatial[-1])]
    radius = np.sqrt(sum(f**2 for f in np.meshgrid(*frequencies, indexing="ij")))
    radius.flat[0] = np.inf  # no constant term
    half_spectrum = (*shape[:-1], radius.shape[-1])
    coefficients = rng.normal(size=half_spectrum) + 1j * rng.normal(size=half_spectrum)
    axes = tuple(range(-dims, 0))
    return np.fft.irfftn(coefficients * radius ** (-exponent / 2), s=spatial, axes=axes)


@dataclass(frozen=True)
class SyntheticSource(Source):
    """What both synthetic sources share: options, family choice, ids, groups and splits.

    Subclasses name their FAMILIES and their EXTENT, override `families` with all of them as
    the default, have a `channels` option, and implement `draw` (one sample of a family, in
    its final form).
    """

    FAMILIES: ClassVar[Mapping[str, Family]]
    # The option that sizes a sample (a signal's length, an image's side) and its minimum.
    EXTENT: ClassVar[tuple[str, int]]

    seed: int = 0
    count: int = DEFAULT_COUNT
    families: str = ""  # comma-separated names from FAMILIES; subclasses default to all
    test_fraction: float = DEFAULT_TEST_FRACTION

    def __post_init__(self) -> None:
        if self.seed < 0 or self.count < 0:
            raise ValueError(f"seed and count must be >= 0, got {self.seed}, {self.count}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError(f"test_fraction must be in [0, 1], got {self.test_fraction}")
        extent, minimum = self.EXTENT
        if getattr(self, extent) < minimum or self.channels < 1:
            raise ValueError(
                f"{extent} must be >= {minimum} and channels >= 1, got "
                f"{getattr(self, extent)}, {self.channels}"
            )
        self.family_names()

    def family_names(self) -> tuple[str, ...]:
        """The chosen families, in the order given; ValueError naming an unknown or repeated
        one, or an empty choice."""
        names = tuple(name.strip() for name in self.families.split(",") if name.strip())
        known = ", ".join(self.FAMILIES)
        unknown = [name for name in names if name not in self.FAMILIES]
        if unknown or not names or len(set(names)) != len(names):
            problem = f"unknown family {unknown[0]!r}" if unknown else "families"
            raise ValueError(
                f"{problem} in {self.families!r} of source {self.name!r}: give distinct "
                f"comma-separated names from {known}"
            )
        return names

    def draw(self, rng: np.random.Generator, family: str) -> np.ndarray:
        """One sample of `family` in the source's final form, from `rng` alone."""
        raise NotImplementedError

    def sample(self, index: int) -> Sample:
        """Sample `index`, which depends on (`seed`, `index`) and the chosen families only."""
        names = self.family_names()
        rng = np.random.default_rng([self.seed, index])
        family = names[rng.integers(len(names))]
        group = f"{family}/{index // GROUP_SIZE:05d}"
        return Sample(
            id=f"{self.name}/{family}/{index:06d}",
            input=self.draw(rng, family),
            label=list(self.FAMILIES).index(family),
            group=group,
            split="test" if is_test_group(group, self.test_fraction) else "train",
        )

    def samples(self) -> Iterator[Sample]:
        for index in range(self.count):
            yield self.sample(index)
