"""`image-cubical`: the sublevel filtration of each image channel on its pixel grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pinet.modality import Modality
from pinet.tda.persistence import cubical_diagrams
from pinet.tda.recipes.base import Diagrams, Recipe, SpatialSymmetries


@dataclass(frozen=True)
class ImageCubical(Recipe):
    """Sublevel filtration of each channel on its pixel grid (pixels as top cells).

    The pairs of the chosen homology dimensions are merged into one diagram per channel,
    so the output keeps PI-Net's one-PI-per-channel layout; weights are normalised over
    the merged diagram.
    """

    name: ClassVar[str] = "image-cubical"
    modality: ClassVar[Modality] = "image"
    # A flipped or transposed grid is the same complex.
    spatial_symmetries: ClassVar[SpatialSymmetries] = "grid"

    spread: float = 0.05
    min_bd: float = 0.0
    max_bd: float = 1.0
    homology_dimensions: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        dims = tuple(self.homology_dimensions)
        if not dims or not set(dims) <= {0, 1} or len(set(dims)) != len(dims):
            raise ValueError(f"homology_dimensions must be distinct values of 0 and 1, got {dims}")
        object.__setattr__(self, "homology_dimensions", dims)

    def diagrams_with_dimensions(self, x: np.ndarray) -> tuple[Diagrams, list[np.ndarray]]:
        labelled = [self._labelled_diagram(c) for c in self._validate(x, batched=False)]
        return [pairs for pairs, _ in labelled], [dimensions for _, dimensions in labelled]

    def _channel_diagrams(self, channels: np.ndarray) -> Diagrams:
        return [self._labelled_diagram(channel)[0] for channel in channels]

    def _labelled_diagram(self, channel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One channel's pairs of `homology_dimensions`, merged in that order, and each
        pair's dimension."""
        by_dimension = cubical_diagrams(channel)
        parts = [by_dimension[d] for d in self.homology_dimensions]
        dimensions = np.repeat(self.homology_dimensions, [len(part) for part in parts])
        return np.concatenate(parts), dimensions
