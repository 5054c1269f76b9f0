"""The layers PI-Nets are built from, with the release's Keras semantics (SPEC 3).

Layer hyper-parameters follow the release (github.com/anirudhsom/PI-Net, `pi_net.py`):
padding, pooling windows and BatchNorm epsilon match Keras' definitions, so Keras weights
ported tensor by tensor give the same outputs (checked once against Keras 3 to float32
rounding), and initialisation is Keras' too (glorot-uniform kernels, zero biases). The
trunk every family shares (`PINetTrunk`) puts its options' encodings
(`pinet.nets.encodings`) before its first block.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from pinet.nets.encodings import (
    DelayEncoding,
    RecurrenceDensity,
    RunningExtremes,
    TurningPoints,
    ValueEncoding,
)

Widths = tuple[int, ...]  # filters of each conv block; the release has four
TRUNK_WIDTHS: Widths = (128, 256, 512, 1024)  # filters of the released conv blocks (SPEC 3)
POOL_KERNEL = 3  # max-pool window after each block but the last (SPEC 3)
POOL_STRIDE = 2
# BatchNorm epsilon as Keras' default in the release (1e-3). The running statistics use
# PyTorch's default momentum (0.1, weight of the new batch) instead of Keras' 0.99 (0.01
# here): with 0.01 they need thousands of steps to settle, and CPU-sized training runs of a
# few hundred steps evaluated at twice their training loss (measured on HAPT).
BN_EPS = 1e-3
BN_MOMENTUM = 0.1
# How a block normalises its conv's output: "batch" (the release) by statistics over the
# batch, kept as running averages for evaluation; "group" by each sample's own statistics
# over groups of GROUP_CHANNELS filters (GroupNorm, Wu and He 2018), the same in training
# and evaluation whatever the batch or the source holds.
Normalisation = Literal["batch", "group"]
NORMALISATIONS: tuple[str, ...] = get_args(Normalisation)
GROUP_CHANNELS = 8

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d}
_GLOBAL_AVERAGE_POOL = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d}


def batch_norm(channels: int, spatial_dims: int) -> nn.Module:
    """BatchNorm over 1 or 2 spatial dims with the release's epsilon (see BN_EPS)."""
    return _BATCH_NORM[spatial_dims](channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def group_count(channels: int) -> int:
    """GroupNorm's groups for `channels` filters: GROUP_CHANNELS to a group where they
    divide evenly, otherwise the most groups (at most channels // GROUP_CHANNELS, at least
    one) that split the filters into equal parts."""
    most = max(1, channels // GROUP_CHANNELS)
    return next(groups for groups in range(most, 0, -1) if channels % groups == 0)


def normalisation(kind: Normalisation, channels: int, spatial_dims: int) -> nn.Module:
    """The normalisation layer of a block of `channels` filters (see Normalisation)."""
    if kind == "batch":
        return batch_norm(channels, spatial_dims)
    if kind == "group":
        return nn.GroupNorm(group_count(channels), channels, eps=BN_EPS)
    raise ValueError(f"unknown normalisation {kind!r}; expected one of {list(NORMALISATIONS)}")


def same_max_pool(
    x: torch.Tensor, kernel_size: int = POOL_KERNEL, stride: int = POOL_STRIDE
) -> torch.Tensor:
    """Max-pool every spatial dim as Keras `MaxPooling(padding='same')` does.

    (N, C, *S) -> (N, C, *ceil(S / stride)). TensorFlow pads each dim by
    max((ceil(L / s) - 1) s + k - L, 0) in total, the smaller half before. PyTorch's symmetric
    `padding=1` gives the same length but, for even L, windows shifted one step left.
    In an ONNX graph it is one MaxPool node (`_SameMaxPoolNode`).
    """
    if torch.onnx.is_in_onnx_export():
        return _SameMaxPoolNode.apply(x, kernel_size, stride)
    return _padded_max_pool(x, kernel_size, stride)


def _padded_max_pool(x: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
    """`same_max_pool` written out: TensorFlow's padding, then PyTorch's max-pool."""
    pad: list[int] = []
    for length in reversed(x.shape[2:]):  # F.pad lists the last dim first
        out_length = (length + stride - 1) // stride
        total = max((out_length - 1) * stride + kernel_size - length, 0)
        pad += [total // 2, total - total // 2]
    x = F.pad(x, pad, value=float("-inf"))  # -inf never wins a max: padding is ignored
    return _MAX_POOL[x.ndim - 2](x, kernel_size, stride)


class _SameMaxPoolNode(torch.autograd.Function):
    """`same_max_pool` as an ONNX graph holds it: one MaxPool node whose `auto_pad`
    SAME_UPPER is Keras' 'same' at any length (the smaller half of the padding before).
    Traced instead, the padding became a Pad node of widths computed from the input's
    shape, which copied the whole tensor and, its -inf having no int8 scale, kept an int8
    graph in float around it: 15% of the signal student's int8 time was its first Pad."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
        return _padded_max_pool(x, kernel_size, stride)

    @staticmethod
    def symbolic(g: Any, x: Any, kernel_size: int, stride: int) -> Any:
        dims = x.type().dim() - 2
        return g.op(
            "MaxPool",
            x,
            kernel_shape_i=[kernel_size] * dims,
            strides_i=[stride] * dims,
            auto_pad_s="SAME_UPPER",
        )


def global_average_pool(x: torch.Tensor) -> torch.Tensor:
    """The mean over every spatial position: (N, C, *S) -> (N, C).

    In an ONNX graph it is one GlobalAveragePool node, which onnxruntime runs on 8-bit
    inputs (QLinearGlobalAveragePool); traced, the mean became a ReduceMean, which runs in
    float only, on the dequantized copy of the whole block's output.
    """
    if torch.onnx.is_in_onnx_export():
        return _GLOBAL_AVERAGE_POOL[x.ndim - 2](x, 1).flatten(1)
    return x.mean(dim=tuple(range(2, x.ndim)))


def minimum_input_size(widths: Widths) -> int:
    """The shortest signal / smallest image side a trunk of these blocks accepts.

    The trunk halves every spatial dim after each block but the last (the release: three
    times, total stride 8). Below that stride a pool receives a single position and does
    nothing; we require one full stride so that the deepest block always summarises at least
    one complete cell of real input (8 samples, 8 x 8 pixels for the release). Smaller inputs
    would run but are far outside the release's training data (250 samples, 32 x 32 pixels),
    so we refuse them rather than extrapolate.
    """
    return 2 ** (len(widths) - 1)


def reversed_spatially(x: torch.Tensor) -> torch.Tensor:
    """(N, C, *S) with every spatial axis reversed: a symmetry of every recipe whose
    `spatial_symmetries` are not "none" (a reversed path has the same sublevel diagram, a
    180-degree turn the same raster path reversed, the same cubical grid and an isometric
    point cloud; a delay embedding subsampled with a stride is not always mirrored)."""
    return x.flip(tuple(range(2, x.ndim)))


def interpolated_twice(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T) signals -> (N, C, 2T - 1): each sample, then the midpoint to the next. A path's
    sublevel diagram is unchanged (a midpoint makes no local minimum or maximum), so every
    recipe with `turning_points_only` maps the result to the same PIs: the same window, seen
    at twice its rate."""
    midpoints = (x[..., :-1] + x[..., 1:]) / 2
    interleaved = torch.stack([x[..., :-1], midpoints], dim=-1).flatten(-2)
    return torch.cat([interleaved, x[..., -1:]], dim=-1)


class ConvBlock(nn.Module):
    """Conv(k=3, stride 1, same) -> BatchNorm (or GroupNorm) -> ReLU over 1 or 2 spatial dims.

    (N, in_channels, *S) -> (N, out_channels, *S). The normalisation layer is `bn` whatever
    its kind, so that checkpoints written before GroupNorm existed load as they are.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        spatial_dims: int,
        norm: Normalisation = "batch",
    ) -> None:
        super().__init__()
        # k = 3 is odd, so Keras 'same' pads 1 on each side, like PyTorch's 'same'.
        self.conv = _CONV[spatial_dims](in_channels, out_channels, kernel_size=3, padding="same")
        self.bn = normalisation(norm, out_channels, spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class PINetTrunk(nn.Module):
    """The feature extractor every PI-Net shares: (N, C, *S) -> (N, features).

    Conv blocks of `widths` filters (released: 128, 256, 512, 1024), a Keras-'same' max-pool
    (3, stride 2) after each but the last, then global average pooling over all spatial
    positions, which is why any length / size at or above the minimum is accepted. More
    blocks see further: the release's last block sees 45 samples of a signal.

    Eight options leave the release (all off by default):
    - `turning_points`, over one axis only, hands the first block each channel's turning
      points (`TurningPoints`), one per sample, instead of its samples;
    - `running_extremes`, over one axis only, adds each channel's running minima and maxima
      from either end (`RunningExtremes`) beside its values;
    - `delay_embedding` (dimension, delay), signals only, hands the first block each
      channel's delay-embedding coordinates (`DelayEncoding`) instead of its samples;
    - `recurrence_radii`, with `delay_embedding`, adds each point's `RecurrenceDensity` at
      those radii (among every `recurrence_stride`-th point, those at least
      `recurrence_gap` samples away) to its coordinates;
    - `value_bins` > 0 puts a `ValueEncoding` of that many bins over `value_range` before
      the first block (of each coordinate, with `delay_embedding`);
    - `multiscale_pool` averages every block's output, not only the last one's, and
      concatenates them (`features` = sum(widths)): early blocks still tell apart the many
      short bars that pooling merges, which a PI counts one by one;
    - `pooled_maxima` adds each pooled block's global maximum over positions beside its
      average (`features` doubles, the averages first): a feature that fires at one sample
      (a window's deepest drop, its highest peak, which set its longest bars) reaches the
      head undiluted by the window's length;
    - `norm` "group" normalises each block by each sample's statistics (GroupNorm) instead
      of the batch's: a network that evaluates every input as it trained, whatever source
      its statistics would have come from (docs/studies.md, "Each sample its own
      statistics"), at the cost of a float layer between int8 convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        spatial_dims: int,
        widths: Widths = TRUNK_WIDTHS,
        value_bins: int = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
        multiscale_pool: bool = False,
        pooled_maxima: bool = False,
        norm: Normalisation = "batch",
        delay_embedding: tuple[int, int] | None = None,
        recurrence_radii: tuple[float, ...] = (),
        recurrence_stride: int = 1,
        recurrence_gap: int = 0,
        turning_points: bool = False,
        running_extremes: bool = False,
    ) -> None:
        super().__init__()
        self.delays = None
        self.recurrence = None
        self.turning_points = None
        self.extremes = None
        path_encodings = [
            name
            for name, asked in (
                ("turning points", turning_points),
                ("running extremes", running_extremes),
            )
            if asked
        ]
        if path_encodings and (spatial_dims != 1 or delay_embedding is not None):
            raise ValueError(
                f"{' and '.join(path_encodings)} are a path's: they take a trunk over one axis "
                "(signals, raster images), without a delay embedding (whose recipe reads every "
                "sample)"
            )
        if turning_points:
            self.turning_points = TurningPoints()
        encoded_channels = in_channels
        if running_extremes:
            self.extremes = RunningExtremes()
            encoded_channels *= 5
        if delay_embedding is not None:
            if spatial_dims != 1:
                raise ValueError("a delay embedding takes signals (one spatial axis) only")
            self.delays = DelayEncoding(*delay_embedding)
            encoded_channels *= self.delays.dimension
        if not recurrence_radii and (recurrence_stride != 1 or recurrence_gap):
            raise ValueError(
                "a recurrence stride or gap says which points the densities count among: "
                "give recurrence radii"
            )
        if recurrence_radii:
            if self.delays is None:
                raise ValueError("recurrence densities are of a delay embedding's points: give one")
            self.recurrence = RecurrenceDensity(
                self.delays.dimension, recurrence_radii, recurrence_stride, recurrence_gap
            )
            encoded_channels += in_channels * len(recurrence_radii)
        self.encoding = ValueEncoding(value_bins, value_range) if value_bins else None
        widths = (encoded_channels * (1 + value_bins), *widths)
        self.blocks = nn.ModuleList(
            ConvBlock(c_in, c_out, spatial_dims, norm) for c_in, c_out in itertools.pairwise(widths)
        )
        self.multiscale_pool = multiscale_pool
        self.pooled_maxima = pooled_maxima
        self.norm = norm
        pooled = sum(widths[1:]) if multiscale_pool else widths[-1]
        self.features = 2 * pooled if pooled_maxima else pooled
        # The shortest input: what the first block must receive, and what the delays take off.
        self.minimum_length = minimum_input_size(widths[1:]) + (
            self.delays.span if self.delays else 0
        )
        self.register_buffer("reversal_order", self._reversal_order(in_channels), persistent=False)

    def _reversal_order(self, channels: int) -> torch.Tensor:
        """For `channels` input channels, the encoded channel that each encoded channel of a
        reversed input is, reversed: `reversed_encoding`'s permutation. A delay embedding's
        points of a reversed signal are the signal's in reverse order with their coordinates
        reversed (x[t + 2 d], x[t + d], x[t]); the densities keep their channels, running
        extremes from the start and from the end trade places, and the value encoding's bumps
        follow their value's channel."""
        order = torch.arange(channels)
        if self.delays is not None:
            order = torch.arange(channels * self.delays.dimension).view(channels, -1).flip(-1)
            order = order.flatten()
        if self.recurrence is not None:
            densities = channels * len(self.recurrence.radii)
            order = torch.cat([order, torch.arange(len(order), len(order) + densities)])
        if self.extremes is not None:
            # Prefix and suffix swap: (min from the start, from the end, max ..., ...).
            swapped = torch.tensor([1, 0, 3, 2]) + len(order) + 4 * torch.arange(channels)[:, None]
            order = torch.cat([order, swapped.flatten()])
        if self.encoding is not None:
            bins = torch.arange(self.encoding.bins)
            order = torch.cat([order, len(order) + (order[:, None] * len(bins) + bins).flatten()])
        return order

    def feature_offsets(self) -> list[tuple[int, ...]]:
        """Per block, where its filters start among the trunk's output features: none where
        the block does not reach them, its average's and then its maximum's with
        `pooled_maxima`. What narrows the head when a block is pruned."""
        widths = [block.conv.out_channels for block in self.blocks]
        if self.multiscale_pool:
            averages = list(itertools.accumulate([0, *widths[:-1]]))
        else:
            averages = [None] * (len(widths) - 1) + [0]
        pooled = [() if start is None else (start,) for start in averages]
        if not self.pooled_maxima:
            return pooled
        maxima = self.features // 2  # where the maxima start, after every average
        return [(*starts, *(maxima + start for start in starts)) for starts in pooled]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, *S) inputs -> (N, C', *S') what the first block reads: the input, or its
        turning points or delay coordinates, running extremes, densities and value bumps, as
        the options ask."""
        if self.turning_points is not None:
            x = self.turning_points(x)
        if self.extremes is not None:
            x = self.extremes(x)
        if self.delays is not None:
            x = self.delays(x)
        if self.recurrence is not None:
            x = self.recurrence(x)
        if self.encoding is not None:
            x = self.encoding(x)
        return x

    def reversed_encoding(self, encoded: torch.Tensor) -> torch.Tensor:
        """`encode` of the inputs reversed along every spatial axis, from their own encoding:
        reversed and its channels permuted, without computing an encoding (the densities'
        pairs) again. Exact: every encoding but turning points commutes with reversal up to
        that permutation."""
        return reversed_spatially(encoded)[:, self.reversal_order]

    def forward(self, x: torch.Tensor, with_reversal: bool = False) -> torch.Tensor:
        """(N, C, *S) -> (N, features); with `with_reversal`, (2 N, features): the inputs',
        then the reversed inputs', from one encoding, or from encoding both with turning
        points (the reversed inputs' are not their reversal)."""
        if with_reversal and self.turning_points is not None:
            x = self.encode(torch.cat([x, reversed_spatially(x)]))
        else:
            x = self.encode(x)
            if with_reversal:
                x = torch.cat([x, self.reversed_encoding(x)])
        averages, maxima = [], []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if self.multiscale_pool or i == len(self.blocks) - 1:
                averages.append(global_average_pool(x))
                if self.pooled_maxima:
                    maxima.append(x.flatten(2).amax(dim=2))
            if i < len(self.blocks) - 1:
                x = same_max_pool(x)
        pooled = averages + maxima
        return torch.cat(pooled, dim=1) if len(pooled) > 1 else pooled[0]


def init_like_keras(module: nn.Module) -> None:
    """Keras defaults: glorot-uniform kernels and zero biases (BatchNorm keeps 1 / 0)."""
    if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)
