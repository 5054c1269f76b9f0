"""Seeded synthetic signals and images: broad training data whose exact PIs cost nothing to get.

A PI-Net trained on one real data set scores near a constant on others. These sources draw
every sample from a mixture of generator families (random walks, ARMA processes, sines,
chirps, piecewise signals, spikes, noise textures, gradients, shapes, edges...), so a store
made from them covers structure no single real data set has. Each source's fields are its
parameters, so a store's `job` attributes record exactly how its samples were generated.

Determinism: sample `i` is drawn from `np.random.default_rng([seed, i])` alone, so it does not
depend on `count`, on `--limit` or on the order samples are computed in. Each sample comes
from one family, drawn uniformly from the chosen ones (not round-robin, so the even spread of
`--limit` cannot alias onto one family); the family is in the id and its index in the
source's registry (all families, whatever `families` chose) is the label. Groups are
`family/block` with blocks of GROUP_SIZE consecutive indices, and a group is test when a
stable hash of its name says so (`is_test_group`), so no group straddles the splits and
validation by group has many groups to choose from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal import lfilter

from data_prep.sources.base import Sample, Source
from data_prep.sources.files import is_test_group
from pinet.modality import Modality

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

# ---------------------------------------------------------------------------------------
# Helpers the families share


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


# ---------------------------------------------------------------------------------------
# Signal families: `(rng, channels, length)` -> `(C, T)` float64

MIN_CYCLES = 0.5  # slowest oscillation: half a period per window
MIN_SAMPLES_PER_CYCLE = 4  # fastest oscillation: well below the Nyquist limit of 2
MAX_SINES = 5
MAX_AR_ORDER = 4
MAX_MA_ORDER = 2
# Partial autocorrelations in (-0.95, 0.95) give stationary AR processes whose memory is
# at most tens of samples; AR_BURN_IN samples are dropped so the zero start is forgotten.
MAX_PARTIAL_AUTOCORRELATION = 0.95
AR_BURN_IN = 200
MAX_PIECES = 12
MAX_SPIKE_DENSITY = 0.05  # spikes per sample, at most
SPIKE_DECAY = (0.5, 10.0)  # samples for a spike to fall to 1/e: from an impulse to a transient
MAX_BURSTS = 3
SMOOTH_EXPONENT = (2.0, 5.0)  # power-law spectra from random-walk-like to very smooth
# Per channel: scale log-uniform over four decades, offset a normal number of scales.
SIGNAL_SCALE = (1e-2, 1e2)
OFFSET_IN_SCALES = 10.0


def cycles_per_window(rng: np.random.Generator, length: int, size: tuple[int, ...]) -> np.ndarray:
    """Random frequencies in cycles per window, from MIN_CYCLES up to MIN_SAMPLES_PER_CYCLE
    samples per cycle, log-uniform so slow and fast oscillations are equally common."""
    return log_uniform(rng, MIN_CYCLES, length / MIN_SAMPLES_PER_CYCLE, size)


def random_walk(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Cumulative sums of Gaussian steps with a small random drift per channel."""
    drift = rng.normal(0.0, 0.1, (channels, 1))
    return np.cumsum(rng.normal(drift, 1.0, (channels, length)), axis=1)


def stable_ar_coefficients(partial: np.ndarray) -> np.ndarray:
    """AR coefficients `phi_1..phi_p` from partial autocorrelations in (-1, 1) (the
    Levinson-Durbin recursion): every such draw is a stationary process, which random
    coefficients drawn directly would often not be."""
    phi = np.zeros(0)
    for reflection in partial:
        phi = np.append(phi - reflection * phi[::-1], reflection)
    return phi


def arma(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """ARMA(p <= 4, q <= 2) processes with stable AR parts, own coefficients per channel."""
    rows = []
    for _ in range(channels):
        order = rng.integers(1, MAX_AR_ORDER, endpoint=True)
        bound = MAX_PARTIAL_AUTOCORRELATION
        phi = stable_ar_coefficients(rng.uniform(-bound, bound, order))
        theta = rng.normal(0.0, 0.5, rng.integers(0, MAX_MA_ORDER, endpoint=True))
        noise = rng.normal(size=length + AR_BURN_IN)
        rows.append(lfilter(np.r_[1.0, theta], np.r_[1.0, -phi], noise)[AR_BURN_IN:])
    return np.stack(rows)


def sines(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Sums of 1-5 sines of random frequency, phase and amplitude, plus noise."""
    size = (channels, rng.integers(1, MAX_SINES, endpoint=True), 1)
    cycles = cycles_per_window(rng, length, size)
    phase = rng.uniform(0.0, 2 * np.pi, size)
    amplitude = log_uniform(rng, 0.1, 1.0, size)
    t = np.arange(length) / length
    return add_noise(rng, (amplitude * np.sin(2 * np.pi * cycles * t + phase)).sum(axis=1))


def chirp(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Sines whose frequency sweeps linearly between two random frequencies, plus noise."""
    start, stop = cycles_per_window(rng, length, (2, channels, 1))
    t = np.arange(length) / length
    phase = rng.uniform(0.0, 2 * np.pi, (channels, 1))
    return add_noise(rng, np.sin(2 * np.pi * (start * t + (stop - start) * t**2 / 2) + phase))


def change_points(rng: np.random.Generator, length: int) -> np.ndarray:
    """Sorted distinct positions in 1..length-1 where a piecewise signal changes."""
    return np.unique(rng.integers(1, length, rng.integers(1, MAX_PIECES)))


def piecewise_constant(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Steps: random levels between random change points, plus noise."""
    rows = []
    for _ in range(channels):
        changes = change_points(rng, length)
        levels = rng.normal(size=changes.size + 1)
        rows.append(levels[np.searchsorted(changes, np.arange(length), side="right")])
    return add_noise(rng, np.stack(rows))


def piecewise_linear(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Straight segments joining random values at random knots, plus noise."""
    rows = []
    for _ in range(channels):
        knots = np.unique(np.r_[0, change_points(rng, length), length - 1])
        rows.append(np.interp(np.arange(length), knots, rng.normal(size=knots.size)))
    return add_noise(rng, np.stack(rows))


def spikes(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Sparse spikes of either sign (at least one per channel), each decaying exponentially,
    plus noise: impulses when the decay is short, transients when it is long."""
    density = log_uniform(rng, 1.0 / length, MAX_SPIKE_DENSITY)
    at = rng.random((channels, length)) < density
    at[np.arange(channels), rng.integers(0, length, channels)] = True
    heights = at * rng.exponential(1.0, at.shape) * rng.choice([-1.0, 1.0], at.shape)
    decay = np.exp(-1.0 / log_uniform(rng, *SPIKE_DECAY))
    return add_noise(rng, lfilter([1.0], [1.0, -decay], heights, axis=1))


def bursts(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """1-3 oscillations under Gaussian envelopes at random places and widths, plus noise."""
    size = (channels, rng.integers(1, MAX_BURSTS, endpoint=True), 1)
    t = np.arange(length) / length
    centre = rng.uniform(0.0, 1.0, size)
    width = log_uniform(rng, 0.02, 0.2, size)  # fraction of the window
    carrier = np.sin(2 * np.pi * cycles_per_window(rng, length, size) * t)
    envelope = rng.exponential(1.0, size) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    return add_noise(rng, (envelope * carrier).sum(axis=1))


def smooth(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Random Fourier series whose spectrum decays as a power law: smooth random curves."""
    return power_law_noise(rng, (channels, length), rng.uniform(*SMOOTH_EXPONENT), dims=1)


NOISE_DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, tuple[int, int]], np.ndarray]] = {
    "normal": lambda rng, shape: rng.normal(size=shape),
    "uniform": lambda rng, shape: rng.uniform(-1.0, 1.0, shape),
    "laplace": lambda rng, shape: rng.laplace(size=shape),
    "student-t3": lambda rng, shape: rng.standard_t(3, shape),  # heavy tails: outliers
}


def noise(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """White noise from one of NOISE_DISTRIBUTIONS: light, flat or heavy tails."""
    draw = list(NOISE_DISTRIBUTIONS.values())[rng.integers(len(NOISE_DISTRIBUTIONS))]
    return draw(rng, (channels, length))


SIGNAL_FAMILIES: dict[str, Family] = {
    "random-walk": random_walk,
    "ar": arma,
    "sines": sines,
    "chirp": chirp,
    "piecewise-constant": piecewise_constant,
    "piecewise-linear": piecewise_linear,
    "spikes": spikes,
    "bursts": bursts,
    "smooth": smooth,
    "noise": noise,
}

# ---------------------------------------------------------------------------------------
# Image families: `(rng, channels, size)` -> `(C, S, S)` float64

MAX_SMOOTHING_FRACTION = 0.25  # widest blur: a quarter of the image side
PINK_EXPONENT = (1.0, 3.0)  # power-law textures around natural images' 2
SHARPEN_AMOUNT = (1.0, 4.0)  # unsharp-mask gain
MAX_SHAPES = 8
SHAPE_RADIUS = (0.05, 0.35)  # fraction of the image side
MAX_POLYGON_VERTICES = 6
MAX_EDGES = 4
EDGE_BLUR = (0.3, 2.0)  # pixels: from a sharp step to a soft one
# Pixel values: the darkest pixel lands in [0, DARKEST_MAX], the brightest in
# [BRIGHTEST_MIN, 255], after a random gamma, so images use most of the range in varied ways.
DARKEST_MAX = 64
BRIGHTEST_MIN = 192
GAMMA = (0.5, 2.0)


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """`(y, x)` pixel coordinates as fractions of the side, each `(S, S)` in [0, 1)."""
    y, x = np.mgrid[0:size, 0:size] / size
    return y, x


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel of `x` `(C, S, S)` (wrapping, so borders look alike)."""
    return gaussian_filter(x, sigma=(0.0, sigma, sigma), mode="wrap")


def white_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """Independent uniform pixels: the finest texture."""
    return rng.random((channels, size, size))


def smooth_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """White noise blurred at a random scale, from half a pixel to a quarter of the side."""
    sigma = log_uniform(rng, 0.5, size * MAX_SMOOTHING_FRACTION)
    return blur(rng.normal(size=(channels, size, size)), sigma)


def pink_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """1/f-like noise: every scale at once, as in natural images."""
    exponent = rng.uniform(*PINK_EXPONENT)
    return power_law_noise(rng, (channels, size, size), exponent, dims=2)


def sharpened_noise(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """Slightly blurred noise under an unsharp mask: ringing, exaggerated local contrast."""
    base = blur(rng.normal(size=(channels, size, size)), log_uniform(rng, 0.5, 2.0))
    detail = base - blur(base, log_uniform(rng, 1.0, 4.0))
    return base + rng.uniform(*SHARPEN_AMOUNT) * detail


def gradient(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """A linear ramp in a random direction plus a radial bowl or dome, per channel, plus noise."""
    y, x = pixel_grid(size)
    slope_y, slope_x, curvature = rng.normal(size=(3, channels, 1, 1))
    centre_y, centre_x = rng.uniform(size=2)
    bowl = (y - centre_y) ** 2 + (x - centre_x) ** 2
    return add_noise(rng, slope_y * y + slope_x * x + curvature * bowl)


def disc(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask of a disc of random centre and radius."""
    centre_y, centre_x = rng.uniform(size=2)
    return (y - centre_y) ** 2 + (x - centre_x) ** 2 < rng.uniform(*SHAPE_RADIUS) ** 2


def rectangle(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask of an axis-aligned rectangle between two random corners."""
    (top, bottom), (left, right) = np.sort(rng.uniform(size=(2, 2)), axis=1)
    return (top <= y) & (y < bottom) & (left <= x) & (x < right)


def polygon(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mask of a convex polygon: 3-6 vertices on a random circle, in angle order, so a pixel
    is inside when it is left of every edge."""
    vertices = rng.integers(3, MAX_POLYGON_VERTICES, endpoint=True)
    angles = np.sort(rng.uniform(0.0, 2 * np.pi, vertices))
    centre_y, centre_x = rng.uniform(size=2)
    radius = rng.uniform(*SHAPE_RADIUS)
    corner_x = centre_x + radius * np.cos(angles)
    corner_y = centre_y + radius * np.sin(angles)
    edge_x = np.roll(corner_x, -1) - corner_x
    edge_y = np.roll(corner_y, -1) - corner_y
    cross = edge_x[:, None, None] * (y - corner_y[:, None, None]) - edge_y[:, None, None] * (
        x - corner_x[:, None, None]
    )
    return np.all(cross >= 0, axis=0)


SHAPE_MASKS = (disc, rectangle, polygon)


def shapes(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """1-8 discs, rectangles and convex polygons of random colours painted over each other
    on a plain background, plus noise: flat regions and hard edges."""
    y, x = pixel_grid(size)
    image = np.broadcast_to(rng.uniform(size=(channels, 1, 1)), (channels, size, size)).copy()
    for _ in range(rng.integers(1, MAX_SHAPES, endpoint=True)):
        mask = SHAPE_MASKS[rng.integers(len(SHAPE_MASKS))](rng, y, x)
        image[:, mask] = rng.uniform(size=(channels, 1))
    return add_noise(rng, image)


def edges(rng: np.random.Generator, channels: int, size: int) -> np.ndarray:
    """1-4 straight steps across the image at random angles and places, blurred by a random
    amount, plus noise."""
    y, x = pixel_grid(size)
    image = np.zeros((channels, size, size))
    for _ in range(rng.integers(1, MAX_EDGES, endpoint=True)):
        angle = rng.uniform(0.0, 2 * np.pi)
        through_y, through_x = rng.uniform(size=2)
        side = np.cos(angle) * (x - through_x) + np.sin(angle) * (y - through_y) > 0
        image += rng.normal(size=(channels, 1, 1)) * side
    return add_noise(rng, blur(image, log_uniform(rng, *EDGE_BLUR)))


IMAGE_FAMILIES: dict[str, Family] = {
    "white-noise": white_noise,
    "smooth-noise": smooth_noise,
    "pink-noise": pink_noise,
    "sharpened-noise": sharpened_noise,
    "gradient": gradient,
    "shapes": shapes,
    "edges": edges,
}


def to_uint8(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """`image` `(C, S, S)` rescaled into a random range that spans at least half of 0-255,
    under a random gamma; a constant image becomes the range's dark end."""
    low, high = image.min(), image.max()
    unit = (image - low) / (high - low) if high > low else np.zeros_like(image)
    unit **= log_uniform(rng, *GAMMA)
    darkest = rng.uniform(0, DARKEST_MAX)
    brightest = rng.uniform(BRIGHTEST_MIN, 255)
    return np.round(darkest + (brightest - darkest) * unit).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# The sources


@dataclass(frozen=True)
class SyntheticSource(Source):
    """What both synthetic sources share: options, family choice, ids, groups and splits.

    Subclasses name their FAMILIES, override `families` with all of them as the default, and
    implement `draw` (one sample of a family, in its final form).
    """

    FAMILIES: ClassVar[Mapping[str, Family]]

    seed: int = 0
    count: int = DEFAULT_COUNT
    families: str = ""  # comma-separated names from FAMILIES; subclasses default to all
    test_fraction: float = DEFAULT_TEST_FRACTION

    def __post_init__(self) -> None:
        if self.seed < 0 or self.count < 0:
            raise ValueError(f"seed and count must be >= 0, got {self.seed}, {self.count}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError(f"test_fraction must be in [0, 1], got {self.test_fraction}")
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


MIN_SIGNAL_LENGTH = 16  # shorter windows are too short for most families to show their shape
MIN_IMAGE_SIZE = 8  # likewise for shapes and textures


@dataclass(frozen=True)
class SyntheticSignals(SyntheticSource):
    """`count` signals `(channels, length)` float64 from SIGNAL_FAMILIES.

    Every family's channels are mixed towards their mean by a random weight (real channels
    are correlated) and then each channel is scaled (log-uniform over SIGNAL_SCALE) and
    offset, so the data covers scales and offsets as well as shapes; noise levels vary
    within each family (NOISE_RATIO). A store holds one shape: for lengths from 64 to
    1,000+ and several channel counts, make one store per (length, channels) and train on
    their mixture. Real signals resampled or decimated are not a family here: they need
    real data, which the mixture's real stores (hapt, basicmotions, files) bring.
    id: `synthetic-signals/ar/000123`; label: the family's index in SIGNAL_FAMILIES.
    """

    name: ClassVar[str] = "synthetic-signals"
    modality: ClassVar[Modality] = "signal"
    FAMILIES: ClassVar[Mapping[str, Family]] = SIGNAL_FAMILIES

    families: str = ",".join(SIGNAL_FAMILIES)
    length: int = 250  # the hapt windows' length, the Signal PI-Net's input
    channels: int = 3  # the hapt accelerometer's axes

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.length < MIN_SIGNAL_LENGTH or self.channels < 1:
            raise ValueError(
                f"length must be >= {MIN_SIGNAL_LENGTH} and channels >= 1, "
                f"got {self.length}, {self.channels}"
            )

    def draw(self, rng: np.random.Generator, family: str) -> np.ndarray:
        signal = mix_channels(rng, self.FAMILIES[family](rng, self.channels, self.length))
        scale = log_uniform(rng, *SIGNAL_SCALE, (self.channels, 1))
        offset = rng.normal(0.0, OFFSET_IN_SCALES, (self.channels, 1)) * scale
        return scale * signal + offset


@dataclass(frozen=True)
class SyntheticImages(SyntheticSource):
    """`count` images `(channels, size, size)` uint8 from IMAGE_FAMILIES.

    channels=1 is grey, 3 colour (any count works): channels are drawn with their own
    colours or noise, then mixed towards their mean by a random weight, as colour planes of
    real images are correlated. Each image is rescaled into a random range spanning at
    least half of 0-255 under a random gamma (`to_uint8`). A store holds one shape: make
    one store per size and channel count. id: `synthetic-images/shapes/000123`; label: the
    family's index in IMAGE_FAMILIES.
    """

    name: ClassVar[str] = "synthetic-images"
    modality: ClassVar[Modality] = "image"
    FAMILIES: ClassVar[Mapping[str, Family]] = IMAGE_FAMILIES

    families: str = ",".join(IMAGE_FAMILIES)
    size: int = 32  # CIFAR-10's and the photo crops' side, the Image PI-Net's input
    channels: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.size < MIN_IMAGE_SIZE or self.channels < 1:
            raise ValueError(
                f"size must be >= {MIN_IMAGE_SIZE} and channels >= 1, "
                f"got {self.size}, {self.channels}"
            )

    def draw(self, rng: np.random.Generator, family: str) -> np.ndarray:
        image = mix_channels(rng, self.FAMILIES[family](rng, self.channels, self.size))
        return to_uint8(rng, image)
