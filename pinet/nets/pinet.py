"""Signal PI-Net and Image PI-Net, the networks released by Som et al. (CVPR-W 2020): the
"pinet" family.

Both map a batch of C-channel inputs to C persistence images of 50 x 50, laid out
(N, C, 50, 50). The released Keras code returns channels-last (50, 50, C) maps and flattens
them, which scrambles channels against channels-first targets (SPEC 3, "Hazard"); here the
output is channel-first by construction.

    trunk  (N, C, *S) -> (N, 1024)       shared by both, S = (T,) or (H, W)
      4 x [Conv(k=3, same) -> BatchNorm -> ReLU] with 128, 256, 512, 1024 filters,
      MaxPool(3, stride 2, Keras 'same') after the first three, global average pooling
    SignalPINet head  (N, 1024) -> Linear(1024, 2500 C) -> view (N, C, 50, 50) -> activation
    ImagePINet head   (N, 1024) -> Linear(1024, 2500) -> ReLU -> view (N, 1, 50, 50)
                      -> ConvTranspose(1 -> C, 50 x 50, Keras 'same') -> BatchNorm -> activation
                      (the transposed conv is computed as a correlation, through the FFT)
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from pinet.modality import Modality
from pinet.nets.base import HEAD_ACTIVATIONS, PINet
from pinet.nets.layers import batch_norm
from pinet.tda.images import PI_SIZE

# The output BatchNorm's scale starts small, so that the first predictions are near zero
# like most PI pixels. From Keras' 1, the first hundreds of steps only learn to shrink the
# output: measured on photo crops, MSE 0.45 -> 0.030 in 30 Adam steps, against 0.015 ->
# 0.011 (the mean-PI baseline is 0.013) from 0.05.
OUTPUT_BN_INITIAL_SCALE = 0.05
# F.pad (left, right, top, bottom) that makes ImagePINet's 50 x 50 conv act as the release's
# transposed conv with Keras 'same' padding; see ImagePINet.build_head.
DECONV_PADDING = (PI_SIZE // 2, (PI_SIZE - 1) // 2) * 2
# FFT side for a linear (not circular) convolution of two 50 x 50 maps: at least 50 + 50 - 1.
_FFT_SIDE = 2 * PI_SIZE


class SignalPINet(PINet):
    """Signal PI-Net: multivariate time series (N, C, T) -> persistence images (N, C, 50, 50).

    Released for C = 3 accelerometer axes, T = 250. The head is Linear(1024, 2500 C) whose
    units [2500 c, 2500 (c + 1)) form the 50 x 50 image of channel c (row-major), followed by
    the head activation. The release applies ReLU twice (Dense(relu), then ReLU), which is one
    ReLU; with head='sigmoid' the sigmoid replaces it, because sigmoid after ReLU could never
    go below 0.5 while most PI pixels are near 0.
    """

    family: ClassVar[str] = "pinet"
    modality: ClassVar[Modality] = "signal"
    head_input: ClassVar[str] = "dense"

    def build_head(self) -> None:
        self.dense = nn.Linear(self.trunk.features, self.net_channels * PI_SIZE * PI_SIZE)

    def head_images(self, features: torch.Tensor) -> torch.Tensor:
        z = self.dense(features)  # (M, 2500 C')
        z = z.view(features.shape[0], self.net_channels, PI_SIZE, PI_SIZE)
        return HEAD_ACTIVATIONS[self.head](z)


class ImagePINet(PINet):
    """Image PI-Net: images (N, C, H, W) -> persistence images (N, C, 50, 50).

    Released for 32 x 32 RGB (CIFAR10). The head turns the 1024 features into one 50 x 50 map
    (Linear + ReLU) and a transposed convolution with C filters of 50 x 50 spreads it into
    C maps, one per input channel, followed by BatchNorm and the head activation.
    """

    family: ClassVar[str] = "pinet"
    modality: ClassVar[Modality] = "image"
    head_input: ClassVar[str] = "dense"

    def build_head(self) -> None:
        self.dense = nn.Linear(self.trunk.features, PI_SIZE * PI_SIZE)
        # The release's transposed conv, Conv2DTranspose(C, 50, stride 1, 'same'), is the
        # adjoint of a TF 'same' conv, which pads (k - 1) // 2 = 24 before and 25 after. A
        # stride-1 transposed conv equals a conv with the kernel flipped and the padding
        # mirrored: 25 before, 24 after (DECONV_PADDING). We store it as that Conv2d, so a
        # Keras kernel K (50, 50, C, 1) ports as K.permute(2, 3, 0, 1).flip(-2, -1), and
        # compute it with `correlate_same` (FFT), see there.
        self.deconv = nn.Conv2d(1, self.net_channels, PI_SIZE)
        self.deconv_bn = batch_norm(self.net_channels, spatial_dims=2)
        nn.init.constant_(self.deconv_bn.weight, OUTPUT_BN_INITIAL_SCALE)  # kept by Keras' init

    def head_images(self, features: torch.Tensor) -> torch.Tensor:
        z = F.relu(self.dense(features))  # (M, 2500)
        z = z.view(features.shape[0], 1, PI_SIZE, PI_SIZE)
        z = correlate_same(z, self.deconv.weight, self.deconv.bias)  # (M, C', 50, 50)
        return HEAD_ACTIVATIONS[self.head](self.deconv_bn(z))


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
