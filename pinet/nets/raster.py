"""The "raster" family: an Image PI-Net that reads each channel as the path the recipe reads.

`image-raster`, PI-Net's image recipe (SPEC 2.3), flattens each channel row-major and takes
the 0-dim sublevel persistence of that path of H x W values: the diagram is a function of
the path alone, of its local minima and the maxima between them. A 2-D trunk has to learn
which pixels the path makes neighbours (the last of a row and the first of the next, not
the one below); a 1-D trunk on the path has that structure built in, as the signal PI-Net
has for `signal-sublevel`, the same computation on a signal. The trunk is the signal
PI-Nets' (`PINetTrunk` over one axis), the head the `lowrank` family's separable one.

    path   (M, C', H, W) -> (M, C', H W)     row-major, the recipe's own order
    trunk  (M, C', H W) -> (M, F)            the PI-Net trunk over one axis
    head   (M, F) -> (M, C', 50, 50)         rank-`rank` separable (pinet.nets.lowrank)

The average over reversed inputs (`average_reversed`) reverses both image axes, which
reverses the path: the same diagram, as for the 2-D families.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from pinet.modality import Modality
from pinet.nets.lowrank import LowRankPINet


class RasterImagePINet(LowRankPINet):
    """Images (N, C, H, W) -> PIs (N, C, 50, 50) through a 1-D trunk on each channel's
    row-major path and a rank-`rank` separable head."""

    family: ClassVar[str] = "raster"
    modality: ClassVar[Modality] = "image"

    @property
    def trunk_spatial_dims(self) -> int:
        """One: the path. Its smallest image is then the smallest square whose H x W values
        fill one full stride of the trunk (8 x 8 for seven blocks)."""
        return 1

    def trunk_input(self, x: torch.Tensor) -> torch.Tensor:
        """Each channel's row-major path, (M, C', H, W) -> (M, C', H W): reversing both
        image axes reverses it, so the trunk's reversal is the image's."""
        return x.flatten(2)
