"""The "lowrank" family: a PI-Net whose head predicts each PI as a sum of a few outer
products, PI = act(sum_r u_r v_r^T + b), instead of the release's heads (for images a
50 x 50 transposed convolution, for signals a 2,500-unit dense layer per channel).

A legacy PI is itself separable per diagram point (SPEC 2.2: PI = Ey^T diag(w) Ex, one
outer product per point), and its smooth Gaussians make a few terms enough for most of its
energy. The head is one Linear layer from the trunk's features to the `rank` pairs of
50-vectors of each channel: for rank 4 and 64 features, 26 k weights and 20 k multiply-adds
per channel, against the release head's 2,500-unit dense layer and 50 x 50 FFT convolution,
which kept even tiny image trunks slower than the exact recipe on a CPU (SPEC 7). For
signals, with a 512-wide last block, the head is 410 k weights at rank 4 instead of 1.28 M.
Truncated by SVD to rank 4, 3,000 HAPT `signal-takens` PIs err by 5e-7 of the mean-PI
predictor's MSE: the form costs nothing there.

    trunk  (M, C', *S) -> (M, F)         the PI-Net trunk (pinet.nets.layers), S = (T,) or (H, W)
    head   (M, F) -> Linear(F, 2 R 50 C') -> u, v (M, C', R, 50) -> sum_r u_r v_r^T
           + b (one per channel) -> activation  (M, C', 50, 50)
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from pinet.modality import Modality
from pinet.nets.base import HEAD_ACTIVATIONS, HeadActivation, PINet
from pinet.tda.images import PI_SIZE

DEFAULT_RANK = 4
# The offset b starts where most PI pixels are: sigmoid(-4) = 0.018 (relu(0) = 0).
INITIAL_OFFSET: dict[str, float] = {"sigmoid": -4.0, "relu": 0.0}


class LowRankPINet(PINet):
    """A PI-Net whose head draws each channel's PI as a rank-`rank` separable map; a subclass
    per modality."""

    family: ClassVar[str] = "lowrank"
    head_input: ClassVar[str] = "factors"

    def __init__(
        self,
        in_channels: int,
        head: HeadActivation = "sigmoid",
        rank: int = DEFAULT_RANK,
        **options: Any,
    ) -> None:
        """`rank` outer products per channel; `options` are those of every family
        (`PINet`), passed on as they are."""
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= PI_SIZE:
            raise ValueError(f"rank must be an integer from 1 to {PI_SIZE}; got {rank!r}")
        self.rank = rank  # read by build_head, which PINet.__init__ calls
        super().__init__(in_channels, head, **options)

    @property
    def architecture(self) -> dict[str, Any]:
        return {**super().architecture, "rank": self.rank}

    def build_head(self) -> None:
        self.factors = nn.Linear(self.trunk.features, self.net_channels * 2 * self.rank * PI_SIZE)
        self.offset = nn.Parameter(torch.full((self.net_channels, 1, 1), INITIAL_OFFSET[self.head]))

    def head_images(self, features: torch.Tensor) -> torch.Tensor:
        factors = self.factors(features)
        factors = factors.view(features.shape[0], self.net_channels, 2, self.rank, PI_SIZE)
        rows, columns = factors[:, :, 0], factors[:, :, 1]  # (M, C', R, 50) each
        maps = torch.einsum("mcri,mcrj->mcij", rows, columns) + self.offset
        return HEAD_ACTIVATIONS[self.head](maps)


class LowRankImagePINet(LowRankPINet):
    """Images (N, C, H, W) -> PIs (N, C, 50, 50) through a rank-`rank` separable head."""

    modality: ClassVar[Modality] = "image"


class LowRankSignalPINet(LowRankPINet):
    """Signals (N, C, T) -> PIs (N, C, 50, 50) through a rank-`rank` separable head."""

    modality: ClassVar[Modality] = "signal"
