"""What every ground-truth recipe is: an immutable, named value whose fields are all its
parameters, mapping an input with C channels to C finite diagrams and a `(C, R, R)` stack
of persistence images, R = `resolution` (50, PI-Net's output, for all but the recipes that
make it a parameter). Computing is a pure function of (recipe, input).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from pinet.modality import Modality
from pinet.tda.images import PI_SIZE, PersistenceImageGrid
from pinet.tda.inputs import as_images, as_signals

Diagrams = list[np.ndarray]
SpatialSymmetries = Literal["none", "reversal", "grid"]


def filtration_values(channels: np.ndarray, float32: bool) -> np.ndarray:
    """The values the filtration sees: the authors' ripser works in float32 (SPEC 2.1), and
    their released PIs are reproduced to 1e-15 only with that rounding (2.8e-7 without).
    Values beyond float32 become +-inf, silently: the recipes refuse them by name."""
    if not float32:
        return channels
    with np.errstate(over="ignore"):
        return channels.astype(np.float32).astype(np.float64)


@dataclass(frozen=True)
class Recipe(ABC):
    """Maps an input with C channels to C finite diagrams and a `(C, R, R)` PI stack."""

    name: ClassVar[str]
    modality: ClassVar[Modality]
    # The homology dimensions its diagrams hold (a recipe that lets one choose makes this
    # a parameter of the same name).
    homology_dimensions: ClassVar[tuple[int, ...]] = (0,)
    # The side R of its images; a recipe that lets one choose makes this a parameter too.
    # Ground-truth stores, PI-Net and the service's models hold 50 x 50 (`PI_SIZE`) only.
    resolution: ClassVar[int] = PI_SIZE
    # The spatial symmetries that leave its PIs unchanged, which `--augment` trains on and
    # `average_reversed` relies on: "reversal", every spatial axis reversed at once
    # (`pinet.nets.layers.reversed_spatially`); "grid", for images, every symmetry of the pixel
    # grid (either axis flipped alone, a square image transposed); "none".
    spatial_symmetries: ClassVar[SpatialSymmetries] = "reversal"
    # Whether its PIs are also unchanged when a channel's values are reflected as a network
    # sees them (a z-scored signal negated, an image's intensities v -> 1 - v in [0, 1]).
    value_reflection: ClassVar[bool] = False
    # Whether its diagrams depend on a signal's turning points alone, in their order (a
    # path's sublevel persistence), so that a network may read those instead of the samples
    # (`pinet.nets.encodings.TurningPoints`).
    turning_points_only: ClassVar[bool] = False

    spread: float
    min_bd: float
    max_bd: float

    def __post_init__(self) -> None:
        self.grid  # noqa: B018 - validates the image geometry at construction

    @property
    def grid(self) -> PersistenceImageGrid:
        return PersistenceImageGrid(self.spread, self.min_bd, self.max_bd, self.resolution)

    @property
    def params(self) -> dict[str, Any]:
        """All parameters as a plain, JSON-serialisable dict."""
        return {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(self).items()}

    def diagrams(self, x: np.ndarray) -> Diagrams:
        """One finite `(k, 2)` (birth, death) float64 diagram per channel of one input."""
        return self._channel_diagrams(self._validate(x, batched=False))

    def diagrams_with_dimensions(self, x: np.ndarray) -> tuple[Diagrams, list[np.ndarray]]:
        """`diagrams(x)`, and per channel the homology dimension of each of its pairs, `(k,)`
        int64: a diagram may merge several dimensions (`homology_dimensions`)."""
        (dimension,) = self.homology_dimensions  # a recipe of several dimensions overrides this
        diagrams = self.diagrams(x)
        return diagrams, [np.full(len(diagram), dimension) for diagram in diagrams]

    def images(self, x: np.ndarray) -> np.ndarray:
        """`(C, R, R)` float32 PIs in [0, 1] of one input (row 0 = highest persistence)."""
        return self.render(self.diagrams(x))

    def images_batch(self, inputs: np.ndarray) -> np.ndarray:
        """`(N, C, R, R)` float32 PIs of a batch `(N, C, ...)` of same-shaped inputs."""
        return self.transform_batch(inputs)[1]

    def transform_batch(self, inputs: np.ndarray) -> tuple[list[Diagrams], np.ndarray]:
        """Diagrams (per sample, per channel) and `(N, C, R, R)` PIs of a batch, in one pass."""
        inputs = self._validate(inputs, batched=True)
        n, c = inputs.shape[:2]
        diagrams = self._channel_diagrams(inputs.reshape(n * c, *inputs.shape[2:]))
        images = self.render(diagrams).reshape(n, c, self.resolution, self.resolution)
        return [diagrams[i * c : (i + 1) * c] for i in range(n)], images

    def render(self, diagrams: Diagrams) -> np.ndarray:
        """`(M, R, R)` float32 PIs of M finite diagrams on this recipe's grid."""
        return self.grid.render(diagrams).astype(np.float32)

    def _validate(self, x: np.ndarray, *, batched: bool) -> np.ndarray:
        if self.modality == "signal":
            return as_signals(x, batched=batched)
        return as_images(x, batched=batched)

    @abstractmethod
    def _channel_diagrams(self, channels: np.ndarray) -> Diagrams:
        """Diagrams of M validated channels, `(M, T)` signals or `(M, H, W)` images."""
