"""`image-rips`: Vietoris-Rips H1 of each image channel seen as a point cloud."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from pinet.modality import Modality
from pinet.tda.persistence import rips_h1_diagram
from pinet.tda.recipes.base import Diagrams, Recipe, SpatialSymmetries


@dataclass(frozen=True)
class ImageRips(Recipe):
    """SPEC 2.5, what the paper's text describes: Rips H1 of the (x/W, y/H, intensity) cloud.

    Exact and the most expensive recipe (per 32x32 channel, one thread: 0.05-0.2 s with
    giotto-ph on a certified threshold, about 1 s in full, 1.5-2.5 s with ripser;
    docs/ground-truth.md): where a learned PI pays off.
    H1 deaths seen on CIFAR10 stay below 0.4, hence the grid's range.
    """

    name: ClassVar[str] = "image-rips"
    modality: ClassVar[Modality] = "image"
    homology_dimensions: ClassVar[tuple[int, ...]] = (1,)
    # A flip maps x/W to (W - 1)/W - x/W, a square's transpose swaps x/W and y/H: isometries
    # of the cloud (up to the rounding of x/W: none when W is a power of two).
    spatial_symmetries: ClassVar[SpatialSymmetries] = "grid"
    # Intensity v -> 1 - v mirrors the cloud along its third axis.
    value_reflection: ClassVar[bool] = True

    spread: float = 0.01
    min_bd: float = 0.0
    max_bd: float = 0.5

    def _channel_diagrams(self, channels: np.ndarray) -> Diagrams:
        return [rips_h1_diagram(intensity_cloud(channel)) for channel in channels]


def intensity_cloud(channel: np.ndarray) -> np.ndarray:
    """The `(H W, 3)` point cloud of one `(H, W)` channel: (x/W, y/H, intensity) per pixel,
    row by row."""
    height, width = channel.shape
    rows, columns = np.mgrid[0:height, 0:width]
    return np.column_stack([columns.ravel() / width, rows.ravel() / height, channel.ravel()])
