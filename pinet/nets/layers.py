"""The layers PI-Nets are built from, with the release's Keras semantics (SPEC 3).

Layer hyper-parameters follow the release (github.com/anirudhsom/PI-Net, `pi_net.py`):
padding, pooling windows and BatchNorm epsilon match Keras' definitions, so Keras weights
ported tensor by tensor give the same outputs (checked once against Keras 3 to float32
rounding), and initialisation is Keras' too (glorot-uniform kernels, zero biases).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

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

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d}


def batch_norm(channels: int, spatial_dims: int) -> nn.Module:
    """BatchNorm over 1 or 2 spatial dims with the release's epsilon (see BN_EPS)."""
    return _BATCH_NORM[spatial_dims](channels, eps=BN_EPS, momentum=BN_MOMENTUM)


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
        # ceil(L / s) with non-negative operands only: exported to ONNX, integer division
        # truncates toward zero, and -(-L // s) would become floor(L / s) for odd L.
        out_length = (length + stride - 1) // stride
        total = max((out_length - 1) * stride + kernel_size - length, 0)
        pad += [total // 2, total - total // 2]
    x = F.pad(x, pad, value=float("-inf"))  # -inf never wins a max: padding is ignored
    return _MAX_POOL[x.ndim - 2](x, kernel_size, stride)


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
        self.bn = batch_norm(out_channels, spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class PINetTrunk(nn.Module):
    """The feature extractor every PI-Net shares: (N, C, *S) -> (N, widths[-1]).

    Conv blocks of `widths` filters (released: 128, 256, 512, 1024), a Keras-'same' max-pool
    (3, stride 2) after each but the last, then global average pooling over all spatial
    positions, which is why any length / size at or above the minimum is accepted. More
    blocks see further: the release's last block sees 45 samples of a signal.
    """

    def __init__(self, in_channels: int, spatial_dims: int, widths: Widths = TRUNK_WIDTHS) -> None:
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


def init_like_keras(module: nn.Module) -> None:
    """Keras defaults: glorot-uniform kernels and zero biases (BatchNorm keeps 1 / 0)."""
    if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)
