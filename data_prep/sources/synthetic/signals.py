"""`synthetic-signals`: thirteen families of signals, from random walks to exact periodic trains,
footfalls and sawtooth waves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.signal import lfilter

from data_prep.sources.synthetic.common import (
    Family,
    SyntheticSource,
    add_noise,
    log_uniform,
    mix_channels,
    power_law_noise,
)
from pinet.modality import Modality

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
MIN_REPEATS = 4  # a periodic signal shows at least this many whole periods
MIN_PERIOD = 2  # samples: an alternation, the fastest pattern a sampled signal repeats
# Footfalls: a step every MIN_STEP to length / MIN_REPEATS samples, each interval within
# STEP_JITTER of the mean; each impact rings down within IMPACT_DECAY samples at a ringing
# period of IMPACT_RING samples; the body's sway under them is SWAY of the impacts' size.
MIN_STEP = 6
STEP_JITTER = 0.15
IMPACT_DECAY = (0.5, 8.0)
IMPACT_RING = (3.0, 20.0)
SWAY = (0.02, 1.0)
# Sawtooth waves: a cycle as often as footfalls' steps (MIN_STEP, STEP_JITTER); in each, a
# rest at the baseline for up to MAX_REST of the cycle, a ramp shaped as a power (RAMP_SHAPE)
# of the time since it began, and a reset past the baseline by up to MAX_OVERSHOOT of the
# ramp's height, held for one to MAX_RESET_SAMPLES samples.
MAX_REST = 0.8
RAMP_SHAPE = (0.5, 4.0)
MAX_OVERSHOOT = 2.0
MAX_RESET_SAMPLES = 3
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


def periodic(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """One pattern repeated exactly, each channel its own (a rectangular pulse of random
    width, or random values), at one period of MIN_PERIOD to length / MIN_REPEATS samples
    and a random phase, plus noise: the hundreds of identical bars of machines and
    mains-driven appliances, which noisy sines never make."""
    period = int(log_uniform(rng, MIN_PERIOD, max(MIN_PERIOD, length / MIN_REPEATS)))
    if rng.uniform() < 0.5:
        on = rng.integers(1, period, (channels, 1))
        pattern = (np.arange(period) < on).astype(float)
    else:
        pattern = rng.normal(size=(channels, period))
    start = rng.integers(period)
    return add_noise(rng, pattern[:, (start + np.arange(length)) % period])


def repeat_period(rng: np.random.Generator, length: int) -> float:
    """Samples between footfalls' steps or sawtooth cycles: log-uniform from MIN_STEP to
    length / MIN_REPEATS, so that at least MIN_REPEATS of them show."""
    return float(log_uniform(rng, MIN_STEP, max(MIN_STEP, length / MIN_REPEATS)))


def jittered(rng: np.random.Generator, period: float, count: int) -> np.ndarray:
    """`count` intervals of `period` samples, each within STEP_JITTER of it."""
    return period * rng.uniform(1 - STEP_JITTER, 1 + STEP_JITTER, count)


def footfalls(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """What a body-worn accelerometer records while someone walks or runs: an impact at
    every step (intervals jittered by STEP_JITTER, left and right feet of unequal strength,
    log-normal heights) that rings down as a damped oscillation, seen along each channel
    through its own random direction, over a sway at the step and stride rates, plus noise.
    Impacts far above the sway give the heavy-tailed, regularly spaced swings of gait
    recordings, which spikes (at random places) and bursts (smooth envelopes) never make."""
    step = repeat_period(rng, length)
    intervals = jittered(rng, step, int(length / step) + 2)
    at = (np.cumsum(intervals) - rng.uniform(0.0, step)).astype(int)
    at = at[(at >= 0) & (at < length)]
    feet = np.where(np.arange(at.size) % 2 == 0, 1.0, rng.uniform(0.4, 1.0))
    heights = feet * rng.lognormal(0.0, 0.5, at.size)
    impulses = np.zeros((channels, length))
    impulses[:, at] = rng.normal(size=(channels, 1)) * heights
    radius = np.exp(-1.0 / log_uniform(rng, *IMPACT_DECAY))
    ring = 2 * np.pi / log_uniform(rng, *IMPACT_RING)
    impacts = lfilter([1.0], [1.0, -2 * radius * np.cos(ring), radius**2], impulses, axis=1)
    t = np.arange(length) / step
    phase = rng.uniform(0.0, 2 * np.pi, (2, channels, 1))
    sway = np.sin(2 * np.pi * t + phase[0]) + rng.uniform() * np.sin(np.pi * t + phase[1])
    sway *= log_uniform(rng, *SWAY) * impacts.std() * rng.normal(size=(channels, 1))
    return add_noise(rng, impacts + sway)


def sawtooth(rng: np.random.Generator, channels: int, length: int) -> np.ndarray:
    """Relaxation oscillations: a slow ramp away from a baseline ended by an abrupt reset
    past it, cycle after cycle (sawtooth waves, integrate-and-fire units, a leg's swing ended
    by the heel's strike), with jittered cycles, ramp heights that vary from cycle to cycle,
    a rest between ramps, and each channel its own direction, ramp shape and reset, plus
    noise. A ramp's far end and its reset's lie side by side, so every cycle pairs two far
    values of opposite sign into one long bar, which footfalls (ringing around each impact)
    and spikes (rising from noise) seldom do."""
    cycle = repeat_period(rng, length)
    intervals = jittered(rng, cycle, int(length / (cycle * (1 - STEP_JITTER))) + 3)  # to cover
    starts = np.cumsum(intervals) - intervals[0] - rng.uniform(0.0, cycle)
    t = np.arange(length)
    which = np.searchsorted(starts, t, side="right") - 1
    begin, end = starts[which], starts[which + 1]
    rows = []
    for _ in range(channels):
        rest = rng.uniform(0.0, MAX_REST)
        heights = rng.lognormal(0.0, 0.3, starts.size)[which]
        since = np.clip(((t - begin) / (end - begin) - rest) / (1.0 - rest), 0.0, 1.0)
        ramp = heights * since ** log_uniform(rng, *RAMP_SHAPE)
        resetting = t >= end - rng.integers(1, MAX_RESET_SAMPLES, endpoint=True)
        reset = -heights * rng.uniform(0.0, MAX_OVERSHOOT)
        rows.append(rng.choice([-1.0, 1.0]) * np.where(resetting, reset, ramp))
    return add_noise(rng, np.stack(rows))


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
    "periodic": periodic,
    "footfalls": footfalls,
    "sawtooth": sawtooth,
}


MIN_SIGNAL_LENGTH = 16  # shorter windows are too short for most families to show their shape


@dataclass(frozen=True)
class SyntheticSignals(SyntheticSource):
    """`count` signals `(channels, length)` float64 from SIGNAL_FAMILIES.

    Every family's channels are mixed towards their mean by a random weight (real channels
    are correlated) and then each channel is scaled (log-uniform over SIGNAL_SCALE) and
    offset, so the data covers scales and offsets as well as shapes; noise levels vary
    within each family (NOISE_RATIO). A store holds one shape: for lengths from 64 to
    1,000+ and several channel counts, make one store per (length, channels) and train on
    their mixture. Real signals resampled or decimated are not a family here: they need
    real data, which the mixture's real stores (hapt, basicmotions, files) bring: hapt at
    another rate is `HaptWindows(decimate=K)`.
    id: `synthetic-signals/ar/000123`; label: the family's index in SIGNAL_FAMILIES.
    """

    name: ClassVar[str] = "synthetic-signals"
    modality: ClassVar[Modality] = "signal"
    EXTENT: ClassVar[tuple[str, int]] = ("length", MIN_SIGNAL_LENGTH)
    FAMILIES: ClassVar[Mapping[str, Family]] = SIGNAL_FAMILIES

    families: str = ",".join(SIGNAL_FAMILIES)
    length: int = 250  # the hapt windows' length, the Signal PI-Net's input
    channels: int = 3  # the hapt accelerometer's axes

    def draw(self, rng: np.random.Generator, family: str) -> np.ndarray:
        signal = mix_channels(rng, self.FAMILIES[family](rng, self.channels, self.length))
        scale = log_uniform(rng, *SIGNAL_SCALE, (self.channels, 1))
        offset = rng.normal(0.0, OFFSET_IN_SCALES, (self.channels, 1)) * scale
        return scale * signal + offset
