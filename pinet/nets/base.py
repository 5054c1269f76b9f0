"""What every PI-Net family shares: the trunk, the head activation, input checks, channels
folded into the batch for per-channel models, and the average over reversed inputs.

A family subclasses `PINet` per modality and builds the head that turns the trunk's
features into PIs; `architecture` lists what a checkpoint card must record to rebuild it.

Options that leave the release, all recorded in a checkpoint's card: `widths` of any
length (one conv block per width, so deeper trunks that see further along a signal),
`per_channel` (one network for one channel, applied to every channel: each recipe makes
channel c's PI from channel c alone), `average_reversed` (the mean of the predictions for
the input and for the input reversed along every spatial axis, which every recipe but
`signal-takens` at a stride above 1 maps to the same PIs (`Recipe.spatial_symmetries`): a
prediction with that exact symmetry, and never a larger squared error than the mean of the
two), `average_resampled` (signals: the mean with the prediction for the window at twice its
rate, linearly interpolated, which recipes of a path's turning points map to the same PIs),
and the trunk's `turning_points`, `running_extremes`, `delay_embedding`, `recurrence_radii`,
`recurrence_stride`, `value_bins`, `multiscale_pool`, `pooled_maxima` and `norm`
(`pinet.nets.layers.PINetTrunk`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from pinet.modality import (
    SPATIAL_DIMS,
    Modality,
    check_channels_and_size,
    input_ndim,
    layout,
)
from pinet.nets.layers import (
    TRUNK_WIDTHS,
    Normalisation,
    PINetTrunk,
    Widths,
    init_like_keras,
    interpolated_twice,
)
from pinet.tda.images import PI_SIZE

HeadActivation = Literal["relu", "sigmoid"]
HEAD_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
}

# Where a network's inputs lie (`pinet.inference.network_inputs`), spanned by the bins of a
# trunk's value encoding: z-scored signals (a 250-sample window's values beyond 4 standard
# deviations are rare; they still reach the trunk raw) and images scaled to [0, 1].
VALUE_RANGES: dict[Modality, tuple[float, float]] = {"signal": (-4.0, 4.0), "image": (0.0, 1.0)}


def _smallest_side(length: int, axes: int) -> int:
    """The smallest side s of an input of `axes` equal axes that holds `length` values:
    s ** axes >= length (for one axis, the length itself)."""
    side = 1
    while side**axes < length:
        side += 1
    return side


class PINet(nn.Module, ABC):
    """(N, C, *S) inputs -> (N, C, 50, 50) PIs: channel c of the output is the PI of input
    channel c, the layout of the ground truth (SPEC 2). Subclasses name their family and
    modality and build the head."""

    family: ClassVar[str]
    modality: ClassVar[Modality]
    # The head's Linear that reads the trunk's features, one input column per filter of the
    # last block: what filter pruning (pinet.resize) narrows along with that block.
    head_input: ClassVar[str]

    def __init__(
        self,
        in_channels: int,
        head: HeadActivation = "relu",
        widths: Widths = TRUNK_WIDTHS,
        per_channel: bool = False,
        average_reversed: bool = False,
        value_bins: int = 0,
        multiscale_pool: bool = False,
        norm: Normalisation = "batch",
        delay_embedding: tuple[int, int] | None = None,
        recurrence_radii: tuple[float, ...] = (),
        recurrence_stride: int = 1,
        recurrence_gap: int = 0,
        turning_points: bool = False,
        value_range: tuple[float, float] | None = None,
        average_resampled: bool = False,
        running_extremes: bool = False,
        pooled_maxima: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer; got {in_channels!r}")
        if head not in HEAD_ACTIVATIONS:
            raise ValueError(f"unknown head {head!r}; expected one of {sorted(HEAD_ACTIVATIONS)}")
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be positive filter counts, one per block: {widths!r}")
        if value_range is not None and not value_bins:
            raise ValueError(
                f"a value range ({value_range[0]:g}..{value_range[1]:g}) is where value bins "
                "are centred: give value bins too"
            )
        self.in_channels = in_channels
        self.head = head
        self.widths = tuple(widths)
        self.per_channel = per_channel
        # Channels the layers see: one at a time when per_channel folds them into the batch.
        self.net_channels = 1 if per_channel else in_channels
        if average_resampled and self.modality != "signal":
            raise ValueError(f"averaging over resampled inputs takes signals, not {self.modality}s")
        # Flags, not layers: they change what forward computes, never the weights.
        self.average_reversed = average_reversed
        self.average_resampled = average_resampled
        self.trunk = PINetTrunk(
            self.net_channels,
            self.trunk_spatial_dims,
            self.widths,
            value_bins=value_bins,
            value_range=tuple(value_range or VALUE_RANGES[self.modality]),
            multiscale_pool=multiscale_pool,
            pooled_maxima=pooled_maxima,
            norm=norm,
            delay_embedding=delay_embedding,
            recurrence_radii=recurrence_radii,
            recurrence_stride=recurrence_stride,
            recurrence_gap=recurrence_gap,
            turning_points=turning_points,
            running_extremes=running_extremes,
        )
        # The trunk reads the input's axes as `trunk_spatial_dims` axes (a raster network:
        # an image's rows one after the other), so each input side is the root of a length.
        self.min_input_size = _smallest_side(
            self.trunk.minimum_length, SPATIAL_DIMS[self.modality] // self.trunk_spatial_dims
        )
        self.build_head()
        self.apply(init_like_keras)

    @property
    def trunk_spatial_dims(self) -> int:
        """The axes the trunk convolves: the modality's own (1 for signals, 2 for images)."""
        return SPATIAL_DIMS[self.modality]

    @property
    def architecture(self) -> dict[str, Any]:
        """The family's options this network was built with, as JSON values: with the family,
        the modality, `in_channels` and `per_channel`, what a checkpoint card records to
        rebuild it (`pinet.nets.build_network`). The trunk's `turning_points`,
        `running_extremes`, `delay_embedding`, `recurrence_radii`, `recurrence_stride`,
        `recurrence_gap`, `value_bins`, `multiscale_pool`, `pooled_maxima` and `norm`, and
        `average_resampled`, appear only when they leave the release, and `value_range` only
        when it leaves the modality's default, so that every card written before they existed
        still describes its network."""
        delays, recurrence, encoding = self.trunk.delays, self.trunk.recurrence, self.trunk.encoding
        default_range = VALUE_RANGES[self.modality]
        # Recorded only when set: the resampled average, then the trunk's options.
        optional = {
            "average_resampled": self.average_resampled,
            "turning_points": self.trunk.turning_points is not None,
            "running_extremes": self.trunk.extremes is not None,
            "delay_embedding": [delays.dimension, delays.delay] if delays else None,
            "recurrence_radii": list(recurrence.radii) if recurrence else None,
            "recurrence_stride": recurrence.stride if recurrence and recurrence.stride > 1 else 0,
            "recurrence_gap": recurrence.gap if recurrence else 0,
            "value_bins": encoding.bins if encoding else 0,
            "value_range": list(encoding.range)
            if encoding and encoding.range != default_range
            else None,
            "multiscale_pool": self.trunk.multiscale_pool,
            "pooled_maxima": self.trunk.pooled_maxima,
            "norm": self.trunk.norm if self.trunk.norm != "batch" else None,
        }
        return {
            "head": self.head,
            "widths": list(self.widths),
            "average_reversed": self.average_reversed,
        } | {option: value for option, value in optional.items() if value}

    @property
    def parameter_count(self) -> int:
        """The network's parameters: what its size on disk and a forward pass's cost grow
        with."""
        return sum(parameter.numel() for parameter in self.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, *S) -> (N, C, 50, 50), channels folded into the batch when per_channel."""
        self.check_input(x)
        count, channels = x.shape[:2]
        if self.per_channel:
            x = x.reshape(count * channels, 1, *x.shape[2:])
        return self.persistence_images(x).view(count, channels, PI_SIZE, PI_SIZE)

    def persistence_images(self, x: torch.Tensor) -> torch.Tensor:
        """(M, net_channels, *S) -> (M, net_channels, 50, 50): the network proper, averaged
        with its PIs of the signals at twice their rate when `average_resampled`."""
        images = self.symmetrised_images(x)
        if not self.average_resampled:
            return images
        return (images + self.symmetrised_images(interpolated_twice(x))) / 2

    def symmetrised_images(self, x: torch.Tensor) -> torch.Tensor:
        """(M, net_channels, *S) -> (M, net_channels, 50, 50): the network's PIs, averaged
        with its PIs of the reversed inputs when `average_reversed` (the trunk encodes the
        inputs once for both: `PINetTrunk.reversed_encoding`)."""
        features = self.trunk(self.trunk_input(x), with_reversal=self.average_reversed)
        images = self.head_images(features)
        if not self.average_reversed:
            return images
        return (images[: x.shape[0]] + images[x.shape[0] :]) / 2

    def trunk_input(self, x: torch.Tensor) -> torch.Tensor:
        """(M, net_channels, *S) -> what the trunk reads: the inputs as they are (a family
        may read them along other axes)."""
        return x

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError naming the problem unless x is a float batch this model accepts:
        the modality's number of axes, the channels it was built for (any count when
        per_channel), every spatial extent at least `min_input_size`."""
        name, kind = type(self).__name__, self.modality
        if x.ndim != input_ndim(kind, batched=True):
            raise ValueError(
                f"{name} expects a batch of shape {layout(kind, batched=True)}; "
                f"got a tensor of shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"{name} expects a floating-point {kind}; got dtype {x.dtype}")
        check_channels_and_size(
            tuple(x.shape),
            kind,
            channels=self.in_channels,
            per_channel=self.per_channel,
            min_size=self.min_input_size,
            taker=name,
        )

    @abstractmethod
    def build_head(self) -> None:
        """Create the layers after the trunk; their kernels are then initialised like Keras'."""

    @abstractmethod
    def head_images(self, features: torch.Tensor) -> torch.Tensor:
        """(M, trunk features) -> (M, net_channels, 50, 50): the family's head."""
