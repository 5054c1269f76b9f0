"""`signal-takens`: Vietoris-Rips H1 of each channel's sliding-window (delay) embedding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pinet.modality import Modality
from pinet.tda.inputs import standardise
from pinet.tda.persistence import rips_h1_diagram
from pinet.tda.recipes.base import Diagrams, Recipe, SpatialSymmetries

# The fewest points whose Rips filtration can hold a cycle (a square's four corners).
FEWEST_POINTS_FOR_H1 = 4


def delay_embedding(signal: np.ndarray, dimension: int, delay: int, stride: int) -> np.ndarray:
    """The `(n, dimension)` points (x[t], x[t + delay], ..., x[t + (dimension - 1) delay]) for
    t = 0, stride, 2 stride, ...; no points (`(0, dimension)`) when the signal is too short."""
    span = (dimension - 1) * delay
    if span >= len(signal):  # not one point; and `dimension` may be anything, so no arange
        return np.empty((0, dimension))
    starts = np.arange(0, len(signal) - span, stride)
    return signal[starts[:, None] + delay * np.arange(dimension)]


@dataclass(frozen=True)
class SignalTakens(Recipe):
    """Z-score each channel (ddof 0), delay-embed it, Vietoris-Rips H1, legacy PI.

    The standard persistent-homology feature for periodicity in time series: a periodic
    signal traces a loop in its delay embedding, one long H1 bar; noise gives short ones.
    A channel with fewer than 4 embedded points (`T < (dimension - 1) delay + 1 + 3 stride`:
    `has_room_for_cycles`), or a constant one (all points equal), has no H1 pair, hence an
    all-zero PI.

    Defaults, for 50 Hz accelerometer windows of 250 samples (HAPT), measured on HAPT
    windows (docs/ground-truth.md): `dimension` 3, `delay` 8 (0.16 s, about a third of a
    ~2 Hz walking step, so the coordinates are far from redundant), `stride` 1 (234 points
    per channel, every one the window has). A stride of 2 keeps every other point, and which
    ones depends on where the window starts: moving a window by one sample moved its PIs by
    0.90x the mean-PI predictor's MSE at stride 2 (by two samples, 0.05x), 0.03x at stride 1.
    Births and deaths are distances between z-scored points: 99.9% of births lie below 2.5
    and of deaths below 2.9 (largest 5.8; 3.0 and 3.3 at stride 2), hence the grid's range
    [0, 3.5]. The spread 0.2 (2.9 of its 0.07 bin widths) keeps the PI stable: most of a
    PI's mass is the dozens of short bars of the window's noise, and Gaussian noise of 3% of
    a channel's deviation moved the PIs of 300 HAPT test windows by 6-7.5% of their spread
    across windows (MSE against the mean PI's), against 17% at spread 0.1.
    """

    name: ClassVar[str] = "signal-takens"
    modality: ClassVar[Modality] = "signal"
    homology_dimensions: ClassVar[tuple[int, ...]] = (1,)
    # z-scoring commutes with negation, and a negated embedding is the cloud mirrored.
    value_reflection: ClassVar[bool] = True

    spread: float = 0.2
    min_bd: float = 0.0
    max_bd: float = 3.5
    dimension: int = 3
    delay: int = 8
    stride: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for field, least in (("dimension", 2), ("delay", 1), ("stride", 1)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
                raise ValueError(f"{field} must be an integer >= {least}, got {value!r}")
            object.__setattr__(self, field, int(value))  # a plain int: params stay JSON

    @property
    def spatial_symmetries(self) -> SpatialSymmetries:  # type: ignore[override]
        """ "reversal" at stride 1: a reversed channel's embedding is the same cloud with each
        point's coordinates in reverse order, an isometry. "none" at a larger stride, where
        that holds only when the stride divides T - 1 - (dimension - 1) delay (233 on 250
        samples with dimension 3 and delay 8: stride 2 does not)."""
        return "reversal" if self.stride == 1 else "none"

    def embedded_points(self, length: int) -> int:
        """How many points `delay_embedding` makes of a channel of `length` samples: what
        the cost of its Rips filtration grows with."""
        span = (self.dimension - 1) * self.delay
        return len(range(0, max(length - span, 0), self.stride))

    def has_room_for_cycles(self, length: int) -> bool:
        """Whether a channel of `length` samples embeds as enough points for any H1 pair;
        without, its diagram is empty and its PI zero, whatever the signal."""
        return self.embedded_points(length) >= FEWEST_POINTS_FOR_H1

    def _channel_diagrams(self, channels: np.ndarray) -> Diagrams:
        return [
            rips_h1_diagram(delay_embedding(channel, self.dimension, self.delay, self.stride))
            for channel in standardise(channels)
        ]
