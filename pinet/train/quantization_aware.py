"""Quantization-aware training: fine-tune a network through the rounding that its int8
export will apply, so that its weights learn to tolerate it.

`pinet export --format onnx --int8` quantizes what onnxruntime computes in integers
(`pinet.export.onnx`): every convolution's and dense layer's weights (symmetric, one scale
per output filter) and the activations around them (one affine scale per tensor). Here each
training forward pass rounds the same tensors to int8 grids and back (fake quantization),
with the straight-through gradient (the rounding's gradient taken as the identity):

    conv / dense:  inputs        one scale and zero point from the batch's range
                   weights       one symmetric scale per output filter, from their range
    batch norm:    outputs       one scale and zero point (a folded convolution's output)
    dense:         outputs       likewise

Activation ranges are the batch's own: no state to save or resume, at the cost of a small
mismatch with the export, which calibrates one range per tensor over the train split.
BatchNorm stays a float layer while training; the export folds it into the convolution,
whose per-filter symmetric quantization commutes with that folding (a filter times a
constant has the constant times its grid).

Start from a trained float network (`--init`): a few epochs suffice, and the card records
the objective, so the export is known to be the quantization-aware one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from pinet.train.losses import WrappedObjective

INT8_MIN, INT8_MAX = -128, 127
SYMMETRIC_MAX = 127  # symmetric weights use -127..127, so that zero is a grid point
_SMALLEST_SCALE = 1e-12  # for an all-zero filter or a constant activation
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
_OUTPUT_QUANTIZED = (nn.BatchNorm1d, nn.BatchNorm2d, nn.Linear)


def fake_quantized_activation(x: torch.Tensor) -> torch.Tensor:
    """`x` rounded to the int8 affine grid spanning its range (and zero), then back to its
    dtype; the gradient passes straight through."""
    low = x.detach().min().clamp_max(0).float()
    high = x.detach().max().clamp_min(0).float()
    scale = ((high - low) / (INT8_MAX - INT8_MIN)).clamp_min(_SMALLEST_SCALE).reshape(1)
    zero_point = (INT8_MIN - torch.round(low / scale)).clamp(INT8_MIN, INT8_MAX).int()
    rounded = torch.fake_quantize_per_tensor_affine(
        x.float(), scale, zero_point, INT8_MIN, INT8_MAX
    )
    return rounded.to(x.dtype)  # bfloat16 under CUDA autocast


def fake_quantized_weight(weight: torch.Tensor) -> torch.Tensor:
    """`weight` rounded to a symmetric int8 grid per output filter (dim 0), then back to
    float; the gradient passes straight through."""
    reach = weight.detach().abs().amax(dim=tuple(range(1, weight.ndim))).float()
    scale = (reach / SYMMETRIC_MAX).clamp_min(_SMALLEST_SCALE)
    zero_point = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(
        weight, scale, zero_point, 0, -SYMMETRIC_MAX, SYMMETRIC_MAX
    )


@contextmanager
def fake_quantization(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, `model`'s forward passes compute with fake-quantized weights and
    activations (module docstring); on leaving it, the model is as it was: the same
    parameters, in the same order, and hooks removed.

    A weight is swapped for its rounded copy just before its layer runs and put back just
    after (as `torch.func.functional_call` swaps parameters), so gradients reach the float
    parameter that the optimiser holds.
    """
    swapped: dict[nn.Module, nn.Parameter] = {}

    def before(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        weight = module._parameters["weight"]
        swapped[module] = weight
        module._parameters["weight"] = fake_quantized_weight(weight)  # type: ignore[assignment]
        return (fake_quantized_activation(args[0]), *args[1:])

    def after(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
        module._parameters["weight"] = swapped.pop(module)

    def rounded_output(
        module: nn.Module, args: tuple[Any, ...], output: torch.Tensor
    ) -> torch.Tensor:
        return fake_quantized_activation(output)

    handles = []
    for module in model.modules():
        if isinstance(module, _WEIGHTED):
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        if isinstance(module, _OUTPUT_QUANTIZED):
            handles.append(module.register_forward_hook(rounded_output))
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()
        for module, weight in swapped.items():  # a forward that raised midway
            module._parameters["weight"] = weight


class QuantizationAware(WrappedObjective):
    """`base`, computed by the model under fake int8 quantization (module docstring)."""

    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        with fake_quantization(model):
            return self.base(model, inputs, targets)

    def describe(self) -> dict[str, Any]:
        return {
            "name": "quantization-aware",
            "weights": "int8, symmetric, per output filter",
            "activations": "int8, affine, per tensor, batch range",
            "base": self.base.describe(),
        }
