"""0-dim sublevel persistence of a path: the released recipes, for signals (SPEC 2.4) and for
images flattened row-major (SPEC 2.3, the authors' released image ground truth), and the
signal PIs of the authors' group's topological knowledge distillation papers (SPEC 8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pinet.modality import Modality
from pinet.tda.inputs import standardise
from pinet.tda.persistence import sublevel_diagrams
from pinet.tda.recipes.base import Diagrams, Recipe, filtration_values


@dataclass(frozen=True)
class SignalSublevel(Recipe):
    """SPEC 2.4: z-score each channel (ddof 0), 0-dim sublevel PD, legacy PI.

    PI settings from the Sublevel-Set-TDA example notebook by the PI-Net authors' group.
    A constant channel has no finite pair, hence an all-zero PI.
    """

    name: ClassVar[str] = "signal-sublevel"
    modality: ClassVar[Modality] = "signal"
    turning_points_only: ClassVar[bool] = True

    spread: float = 0.25
    min_bd: float = -10.0
    max_bd: float = 10.0
    float32_filtration: bool = True

    def _channel_diagrams(self, channels: np.ndarray) -> Diagrams:
        values = filtration_values(standardise(channels), self.float32_filtration)
        return sublevel_diagrams(values)


# Persistences of 8-bit images are multiples of 1/255; the released ground truth drops
# those of exactly 1/255 and keeps those of 2/255 (SPEC 2.3, measured): any cut strictly
# between the two reproduces it.
RASTER_NOISE_CUT = 1.5 / 255


@dataclass(frozen=True)
class ImageRaster(Recipe):
    """SPEC 2.3, the authors' released image ground truth, reproduced exactly.

    Each channel is flattened row-major into a signal of H*W values, whose 0-dim sublevel
    pairs with persistence above `min_persistence` make the diagram.
    """

    name: ClassVar[str] = "image-raster"
    modality: ClassVar[Modality] = "image"
    turning_points_only: ClassVar[bool] = True

    spread: float = 0.05
    min_bd: float = 0.0
    max_bd: float = 1.0
    min_persistence: float = RASTER_NOISE_CUT
    float32_filtration: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_min_persistence(self.min_persistence)

    def _channel_diagrams(self, channels: np.ndarray) -> Diagrams:
        signals = channels.reshape(len(channels), -1)
        diagrams = sublevel_diagrams(filtration_values(signals, self.float32_filtration))
        return persistent_pairs(diagrams, self.min_persistence)


# HAPT's accelerometer (g): the largest |x - window mean| over the 3,363 windows of the
# official training users (250 samples, stride 125; docs/experiments.md) is 1.4729, rounded
# up so that every training window lies in [-1, 1], the grid's birth range.
HAPT_ACC_MAX_DEVIATION = 1.473


@dataclass(frozen=True)
class SignalSublevelTPKD(Recipe):
    """The signal PIs of the topological knowledge distillation papers (Jeon, Choi, Shukla,
    Turaga et al.; TPKD, arXiv 2407.05315), as their code makes them (github.com/jeunsom/
    TDA_KD, PI.ipynb): per channel, 0-dim sublevel PD (ripser, float32), pairs with
    persistence <= `min_persistence` dropped, legacy PI 64 x 64 with spread 0.015 over
    births in [-1, 1], divided by its max.

    Their signals reach the grid already scaled (PAMAP2: min-max per channel into [0, 1]
    by fixed data-set bounds). Here each channel is mean-centred per window and divided by
    `scale`, a data set's largest |x - mean|: the normalisation of the group's time-series
    TDA code (Sublevel-Set-TDA, SPEC 2.4). It fills the symmetric range [-1, 1] (min-max
    would leave the negative births empty), needs one constant rather than per-channel
    bounds, and unlike a z-score keeps amplitude: a still window's pairs mostly fall under
    the cut, so its image is faint or empty. The default `scale` is HAPT's accelerometer's.
    """

    name: ClassVar[str] = "signal-sublevel-tpkd"
    modality: ClassVar[Modality] = "signal"
    turning_points_only: ClassVar[bool] = True

    spread: float = 0.015
    min_bd: float = -1.0
    max_bd: float = 1.0
    resolution: int = 64
    scale: float = HAPT_ACC_MAX_DEVIATION
    min_persistence: float = 0.01
    float32_filtration: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "resolution", int(self.resolution))  # plain: params stay JSON
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scale must be positive and finite, got {self.scale}")
        check_min_persistence(self.min_persistence)

    def _channel_diagrams(self, channels: np.ndarray) -> Diagrams:
        centred = channels - channels.mean(axis=-1, keepdims=True)
        values = filtration_values(centred / self.scale, self.float32_filtration)
        if not np.isfinite(values).all():
            raise ValueError(
                f"signal values far beyond the data scale {self.scale:g} overflow the "
                "filtration (float32 when float32_filtration); pass a larger scale"
            )
        return persistent_pairs(sublevel_diagrams(values), self.min_persistence)


def check_min_persistence(min_persistence: float) -> None:
    """ValueError unless the cut is finite and >= 0: a NaN cut would keep no pair, silently."""
    if not (np.isfinite(min_persistence) and min_persistence >= 0):
        raise ValueError(f"min_persistence must be >= 0 and finite, got {min_persistence}")


def persistent_pairs(diagrams: Diagrams, min_persistence: float) -> Diagrams:
    """Each diagram's pairs of persistence above `min_persistence`."""
    return [d[d[:, 1] - d[:, 0] > min_persistence] for d in diagrams]
