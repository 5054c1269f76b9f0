"""Signal PI-Net and Image PI-Net, the networks released by Som et al. (CVPR-W 2020).

Both map a batch of C-channel inputs to C persistence images of 50 x 50, laid out
(N, C, 50, 50): channel c of the output is the PI of input channel c, exactly the layout of
the ground truth (SPEC 2). The released Keras code returns channels-last (50, 50, C) maps and
flattens them, which scrambles channels against channels-first targets (SPEC 3, "Hazard");
here the output is channel-first by construction.

    trunk  (N, C, *S) -> (N, 1024)       shared by both, S = (T,) or (H, W)
      4 x [Conv(k=3, same) -> BatchNorm -> ReLU] with 128, 256, 512, 1024 filters,
      MaxPool(3, stride 2, Keras 'same') after the first three, global average pooling
    SignalPINet head  (N, 1024) -> Linear(1024, 2500 C) -> view (N, C, 50, 50) -> activation
    ImagePINet head   (N, 1024) -> Linear(1024, 2500) -> ReLU -> view (N, 1, 50, 50)
                      -> ConvTranspose(1 -> C, 50 x 50, Keras 'same') -> BatchNorm -> activation
                      (the transposed conv is computed as a correlation, through the FFT)

Layer hyper-parameters follow the release (github.com/anirudhsom/PI-Net, `pi_net.py`): padding,
pooling windows and BatchNorm epsilon / momentum match Keras' definitions, so Keras weights
ported tensor by tensor give the same outputs (checked once against Keras 3 to float32
rounding), and initialisation is Keras' too (glorot-uniform kernels, zero biases).

Three options leave the release, all recorded in a checkpoint's card: `widths` of any
length (one conv block per width, so deeper trunks that see further along a signal),
`per_channel` (one network for one channel, applied to every channel: each recipe makes
channel c's PI from channel c alone) and `average_reversed` (the mean of the predictions for
the input and for the input reversed along every spatial axis, which every recipe maps to the
same PIs: a prediction with that exact symmetry, and never a larger squared error than the
mean of the two).
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

Modality = Literal["signal", "image"]
HeadActivation = Literal["relu", "sigmoid"]

PI_SIZE = 50  # side of a persistence image: the legacy PersImage grid has 50 x 50 pixels (SPEC 2.2)
TRUNK_WIDTHS = (128, 256, 512, 1024)  # filters of the four conv blocks (SPEC 3)
Widths = tuple[int, ...]  # filters of each conv block; the release has four
POOL_KERNEL = 3  # max-pool window after each of the first three blocks (SPEC 3)
POOL_STRIDE = 2
# BatchNorm epsilon as Keras' default in the release (1e-3). The running statistics use
# PyTorch's default momentum (0.1, weight of the new batch) instead of Keras' 0.99 (0.01
# here): with 0.01 they need thousands of steps to settle, and CPU-sized training runs of a
# few hundred steps evaluated at twice their training loss (measured on HAPT).
BN_EPS = 1e-3
BN_MOMENTUM = 0.1
# The output BatchNorm's scale starts small, so that the first predictions are near zero
# like most PI pixels. From Keras' 1, the first hundreds of steps only learn to shrink the
# output: measured on photo crops, MSE 0.45 -> 0.030 in 30 Adam steps, against 0.015 ->
# 0.011 (the mean-PI baseline is 0.013) from 0.05.
OUTPUT_BN_INITIAL_SCALE = 0.05
# F.pad (left, right, top, bottom) that makes ImagePINet's 50 x 50 conv act as the release's
# transposed conv with Keras 'same' padding; see ImagePINet.__init__.
DECONV_PADDING = (PI_SIZE // 2, (PI_SIZE - 1) // 2) * 2
# FFT side for a linear (not circular) convolution of two 50 x 50 maps: at least 50 + 50 - 1.
_FFT_SIDE = 2 * PI_SIZE

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d}
_HEAD_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
}


def same_max_pool(
    x: torch.Tensor, kernel_size: int = POOL_KERNEL, stride: int = POOL_STRIDE
) -> torch.Tensor:
    """Max-pool every spatial dim as Keras `MaxPooling(padding='same')` does.

    (N, C, *S) -> (N, C, *ceil(S / stride)). TensorFlow pads each dim by
    max((ceil(L / s) - 1) s + k - L, 0) in total, the smaller half before. PyTorch's symmetric
    `padding=1` gives the same length but, for even L, windows shifted one step left.
    """
    pad: list[int] = []
    for length in reversed(x.shape[2:]):  # F.pad lists the last dim first
        out_length = -(-length // stride)
        total = max((out_length - 1) * stride + kernel_size - length, 0)
        pad += [total // 2, total - total // 2]
    x = F.pad(x, pad, value=float("-inf"))  # -inf never wins a max: padding is ignored
    return _MAX_POOL[x.ndim - 2](x, kernel_size, stride)


# What a PI-Net's constructor takes besides its modality, as keyword names: a checkpoint's
# card records each of them, and a model is rebuilt from exactly these.
ARCHITECTURE_FIELDS = ("in_channels", "head", "widths", "per_channel", "average_reversed")


def architecture(model: PINet) -> tuple[object, ...]:
    """The values of `ARCHITECTURE_FIELDS` that `model` was built with."""
    return tuple(getattr(model, name) for name in ARCHITECTURE_FIELDS)


def reversed_spatially(x: torch.Tensor) -> torch.Tensor:
    """(N, C, *S) with every spatial axis reversed: a symmetry every recipe respects (a
    reversed path has the same sublevel diagram, a 180-degree turn the same raster path
    reversed, the same cubical grid and an isometric point cloud)."""
    return x.flip(tuple(range(2, x.ndim)))


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


class ConvBlock(nn.Module):
    """Conv(k=3, stride 1, same) -> BatchNorm -> ReLU over 1 or 2 spatial dims.

    (N, in_channels, *S) -> (N, out_channels, *S).
    """

    def __init__(self, in_channels: int, out_channels: int, spatial_dims: int) -> None:
        super().__init__()
        # k = 3 is odd, so Keras 'same' pads 1 on each side, like PyTorch's 'same'.
        self.conv = _CONV[spatial_dims](in_channels, out_channels, kernel_size=3, padding="same")
        self.bn = _BATCH_NORM[spatial_dims](out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class PINetTrunk(nn.Module):
    """The feature extractor both PI-Nets share: (N, C, *S) -> (N, widths[-1]).

    Conv blocks of `widths` filters (released: 128, 256, 512, 1024), a Keras-'same' max-pool
    (3, stride 2) after each but the last, then global average pooling over all spatial
    positions, which is why any length / size at or above the minimum is accepted. More
    blocks see further: the release's last block sees 45 samples of a signal.
    """

    def __init__(
        self, in_channels: int, spatial_dims: Literal[1, 2], widths: Widths = TRUNK_WIDTHS
    ) -> None:
        super().__init__()
        widths = (in_channels, *widths)
        self.blocks = nn.ModuleList(
            ConvBlock(c_in, c_out, spatial_dims) for c_in, c_out in itertools.pairwise(widths)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < len(self.blocks) - 1:
                x = same_max_pool(x)
        return x.mean(dim=tuple(range(2, x.ndim)))


def _init_like_keras(module: nn.Module) -> None:
    """Keras defaults: glorot-uniform kernels and zero biases (BatchNorm keeps 1 / 0)."""
    if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


class PINet(nn.Module, ABC):
    """What both PI-Nets share: the trunk, the head activation, input validation, the
    folding of channels into the batch for per-channel models and the averaging over
    reversed inputs. Subclasses say how many spatial dims their inputs have and build the
    head that turns the trunk's features into PIs."""

    spatial_dims: ClassVar[Literal[1, 2]]

    def __init__(
        self,
        in_channels: int,
        head: HeadActivation = "relu",
        widths: Widths = TRUNK_WIDTHS,
        per_channel: bool = False,
        average_reversed: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer; got {in_channels!r}")
        if head not in _HEAD_ACTIVATIONS:
            raise ValueError(f"unknown head {head!r}; expected one of {sorted(_HEAD_ACTIVATIONS)}")
        self.in_channels = in_channels
        self.head = head
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be positive filter counts, one per block: {widths!r}")
        self.widths = tuple(widths)
        self.min_input_size = minimum_input_size(self.widths)
        self.per_channel = per_channel
        # Channels the layers see: one at a time when per_channel folds them into the batch.
        self.net_channels = 1 if per_channel else in_channels
        # A flag, not a layer: it changes what forward computes, never the weights.
        self.average_reversed = average_reversed
        self.trunk = PINetTrunk(self.net_channels, self.spatial_dims, self.widths)
        self.build_head()
        self.apply(_init_like_keras)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, *S) -> (N, C, 50, 50)."""
        self.check_input(x)
        if not self.average_reversed:
            return self._channel_images(x)
        count = x.shape[0]
        both = self._channel_images(torch.cat([x, reversed_spatially(x)]))
        return (both[:count] + both[count:]) / 2

    def _channel_images(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, *S) -> (N, C, 50, 50), channels folded into the batch when per_channel."""
        count, channels = x.shape[:2]
        if self.per_channel:
            x = x.reshape(count * channels, 1, *x.shape[2:])
        return self.persistence_images(x).view(count, channels, PI_SIZE, PI_SIZE)

    @abstractmethod
    def build_head(self) -> None:
        """Create the layers after the trunk; their kernels are then initialised like Keras'."""

    @abstractmethod
    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError naming the problem unless x is a batch this model accepts."""

    @abstractmethod
    def persistence_images(self, x: torch.Tensor) -> torch.Tensor:
        """(M, net_channels, *S) -> (M, net_channels, 50, 50): the network proper."""

    def _check_batch(self, x: torch.Tensor, kind: str, layout: str) -> None:
        """Shape, dtype and channel checks common to both models."""
        name = type(self).__name__
        if x.ndim != 2 + self.spatial_dims:
            raise ValueError(
                f"{name} expects a batch of shape {layout}; got a tensor of shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ValueError(f"{name} expects a floating-point {kind}; got dtype {x.dtype}")
        if not self.per_channel and x.shape[1] != self.in_channels:
            raise ValueError(
                f"{kind} has {x.shape[1]} channels; {name} was built for {self.in_channels}"
            )


class SignalPINet(PINet):
    """Signal PI-Net: multivariate time series (N, C, T) -> persistence images (N, C, 50, 50).

    Released for C = 3 accelerometer axes, T = 250. The head is Linear(1024, 2500 C) whose
    units [2500 c, 2500 (c + 1)) form the 50 x 50 image of channel c (row-major), followed by
    the head activation. The release applies ReLU twice (Dense(relu), then ReLU), which is one
    ReLU; with head='sigmoid' the sigmoid replaces it, because sigmoid after ReLU could never
    go below 0.5 while most PI pixels are near 0.
    """

    spatial_dims = 1

    def build_head(self) -> None:
        self.dense = nn.Linear(self.widths[-1], self.net_channels * PI_SIZE * PI_SIZE)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless x is a float (N, C, T) batch with T >= min_input_size."""
        self._check_batch(x, "signal", "(N, C, T)")
        length = x.shape[2]
        if length < self.min_input_size:
            raise ValueError(
                f"signal has length {length}; {type(self).__name__} needs at least "
                f"{self.min_input_size} samples"
            )

    def persistence_images(self, x: torch.Tensor) -> torch.Tensor:
        z = self.dense(self.trunk(x))  # (M, 2500 C')
        z = z.view(x.shape[0], self.net_channels, PI_SIZE, PI_SIZE)
        return _HEAD_ACTIVATIONS[self.head](z)


class ImagePINet(PINet):
    """Image PI-Net: images (N, C, H, W) -> persistence images (N, C, 50, 50).

    Released for 32 x 32 RGB (CIFAR10). The head turns the 1024 features into one 50 x 50 map
    (Linear + ReLU) and a transposed convolution with C filters of 50 x 50 spreads it into
    C maps, one per input channel, followed by BatchNorm and the head activation.
    """

    spatial_dims = 2

    def build_head(self) -> None:
        self.dense = nn.Linear(self.widths[-1], PI_SIZE * PI_SIZE)
        # The release's transposed conv, Conv2DTranspose(C, 50, stride 1, 'same'), is the
        # adjoint of a TF 'same' conv, which pads (k - 1) // 2 = 24 before and 25 after. A
        # stride-1 transposed conv equals a conv with the kernel flipped and the padding
        # mirrored: 25 before, 24 after (DECONV_PADDING). We store it as that Conv2d, so a
        # Keras kernel K (50, 50, C, 1) ports as K.permute(2, 3, 0, 1).flip(-2, -1), and
        # compute it with `correlate_same` (FFT), see there.
        self.deconv = nn.Conv2d(1, self.net_channels, PI_SIZE)
        self.deconv_bn = nn.BatchNorm2d(self.net_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        nn.init.constant_(self.deconv_bn.weight, OUTPUT_BN_INITIAL_SCALE)  # kept by Keras' init

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless x is a float (N, C, H, W) batch with H, W >= min_input_size."""
        self._check_batch(x, "image", "(N, C, H, W)")
        height, width = x.shape[2:]
        if min(height, width) < self.min_input_size:
            raise ValueError(
                f"image is {height}x{width} pixels; {type(self).__name__} needs at least "
                f"{self.min_input_size}x{self.min_input_size}"
            )

    def persistence_images(self, x: torch.Tensor) -> torch.Tensor:
        z = F.relu(self.dense(self.trunk(x)))  # (M, 2500)
        z = z.view(x.shape[0], 1, PI_SIZE, PI_SIZE)
        z = correlate_same(z, self.deconv.weight, self.deconv.bias)  # (M, C', 50, 50)
        return _HEAD_ACTIVATIONS[self.head](self.deconv_bn(z))


def correlate_same(maps: torch.Tensor, kernels: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """F.conv2d(F.pad(maps, DECONV_PADDING), kernels, bias), computed through the FFT.

    maps (N, 1, 50, 50), kernels (C, 1, 50, 50), bias (C,) -> (N, C, 50, 50). A direct
    50 x 50 convolution is ImagePINet's most expensive layer: measured on 2 CPU cores
    (torch 2.13, batch 128, forward + backward) 2.3 s direct against 0.04 s through the FFT,
    equal to 2e-6 relative (float32 transforms, also under autocast, which has no half FFT
    for sides that are not powers of two).
    """
    side = (_FFT_SIDE, _FFT_SIDE)
    # correlation with K is convolution with K flipped; the 'same' window of the full
    # convolution then starts at 49 - 25 = 24 (DECONV_PADDING puts 25 before).
    start = PI_SIZE - 1 - DECONV_PADDING[0]
    spectrum = torch.fft.rfft2(maps.float(), s=side) * torch.fft.rfft2(
        kernels.float().flip(-2, -1), s=side
    ).squeeze(1)
    full = torch.fft.irfft2(spectrum, s=side)
    window = full[..., start : start + PI_SIZE, start : start + PI_SIZE]
    return window + bias.float().view(1, -1, 1, 1)


MODEL_CLASSES: dict[str, type[SignalPINet] | type[ImagePINet]] = {
    "signal": SignalPINet,
    "image": ImagePINet,
}


def build_model(
    modality: Modality,
    in_channels: int,
    head: HeadActivation = "relu",
    widths: Widths = TRUNK_WIDTHS,
    per_channel: bool = False,
    average_reversed: bool = False,
) -> SignalPINet | ImagePINet:
    """The PI-Net for `modality`: 'signal' takes (N, C, T), 'image' takes (N, C, H, W).

    Both return (N, C, 50, 50) with C = in_channels. `widths` other than the released
    (128, 256, 512, 1024) make smaller variants, for tests and quick experiments.
    `per_channel` builds the network for one channel and applies it to each channel in turn:
    every recipe computes channel c's PI from channel c alone, so one set of weights serves
    all channels, sees C times the examples, and takes inputs of any channel count (not in
    the release). `average_reversed` returns the mean of the predictions for the input and
    for the input reversed along every spatial axis (the same PIs under every recipe), for
    twice the compute (not in the release).
    """
    if modality not in MODEL_CLASSES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[modality](in_channels, head, widths, per_channel, average_reversed)
