"""The "recurrence" family: a Signal PI-Net that reads each channel's recurrence plot, the
matrix of distances between the points of its delay embedding, with a 2-D trunk and the
rank-`rank` separable head of the "lowrank" family.

A Vietoris-Rips diagram is a function of the cloud's distance matrix alone, so for
`signal-takens` (Rips H1 of a channel's delay embedding) that matrix is the input with the
recipe's own structure: a loop the signal traces again and again is a band of small
distances parallel to the diagonal, its width the loop's size. A 1-D trunk must find, along
the signal, which far-apart samples come back to the same place; here they are neighbours.
The embedding is fixed (no weights): `dimension` and `delay` are the recipe's, `stride`
subsamples the points (the recipe's stride 2 gives 117 points for 250 samples, 4 gives 59,
a quarter of the matrix for the trunk to read).

    embed   (M, 1, T) -> (M, 1, n, dimension)       x[t], x[t + delay], ... every `stride`
    plot    (M, 1, n, n)                             Euclidean distances between the points
    trunk   (M, 1, n, n) -> (M, F)                   the PI-Net trunk, 2-D (pinet.nets.layers)
    head    (M, F) -> rank-R separable PI            as LowRankImagePINet (pinet.nets.lowrank)
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from pinet.modality import Modality
from pinet.nets.base import HeadActivation
from pinet.nets.layers import Widths, minimum_input_size
from pinet.nets.lowrank import DEFAULT_RANK, LowRankPINet

# The trunk's default: four narrow 2-D blocks; a 59 x 59 plot ends at 8 x 8 after 3 pools.
RECURRENCE_WIDTHS: Widths = (16, 32, 64, 128)
# `signal-takens`' embedding (pinet.tda.recipes.takens), subsampled twice as coarsely.
DEFAULT_DIMENSION = 3
DEFAULT_DELAY = 8
DEFAULT_STRIDE = 4


def recurrence_plot(signals: torch.Tensor, dimension: int, delay: int, stride: int) -> torch.Tensor:
    """(M, C, T) -> (M, C, n, n): the distances between the points (x[t], x[t + delay], ...,
    x[t + (dimension - 1) delay]), t = 0, stride, 2 stride, ..., of each channel's delay
    embedding (`pinet.tda.recipes.takens.delay_embedding`); n = (T - span - 1) // stride + 1
    with span = (dimension - 1) delay. Not differentiable on the diagonal (a square root of
    0): it reads the input, before any weight."""
    span = (dimension - 1) * delay
    points = signals.unfold(2, span + 1, stride)[..., ::delay]  # (M, C, n, dimension)
    offsets = points.unsqueeze(3) - points.unsqueeze(2)  # (M, C, n, n, dimension)
    return offsets.square().sum(-1).sqrt()


class RecurrenceSignalPINet(LowRankPINet):
    """Signals (N, C, T) -> PIs (N, C, 50, 50) through each channel's recurrence plot."""

    family: ClassVar[str] = "recurrence"
    modality: ClassVar[Modality] = "signal"

    def __init__(
        self,
        in_channels: int,
        head: HeadActivation = "sigmoid",
        widths: Widths = RECURRENCE_WIDTHS,
        per_channel: bool = False,
        average_reversed: bool = False,
        rank: int = DEFAULT_RANK,
        dimension: int = DEFAULT_DIMENSION,
        delay: int = DEFAULT_DELAY,
        stride: int = DEFAULT_STRIDE,
    ) -> None:
        for field, value, least in (
            ("dimension", dimension, 1),
            ("delay", delay, 1),
            ("stride", stride, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{field} must be an integer >= {least}; got {value!r}")
        # read by smallest_input, which PINet.__init__ calls
        self.dimension, self.delay, self.stride = dimension, delay, stride
        super().__init__(in_channels, head, widths, per_channel, average_reversed, rank)

    @property
    def architecture(self) -> dict[str, Any]:
        return {
            **super().architecture,
            "dimension": self.dimension,
            "delay": self.delay,
            "stride": self.stride,
        }

    def trunk_dims(self) -> int:
        return 2

    def smallest_input(self, widths: Widths) -> int:
        """The shortest signal whose plot has one full stride of the trunk on each side."""
        points = minimum_input_size(widths)
        return (self.dimension - 1) * self.delay + (points - 1) * self.stride + 1

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(recurrence_plot(x, self.dimension, self.delay, self.stride))
