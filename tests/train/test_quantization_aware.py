"""Quantization-aware training: the fake quantizers round to the int8 grids the export uses,
pass gradients straight through, and leave the network as it was; a run records it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pinet.checkpoint import load_checkpoint, read_card
from pinet.nets import build_network
from pinet.train import MeanSquaredError
from pinet.train.quantization_aware import (
    QuantizationAware,
    fake_quantization,
    fake_quantized_activation,
    fake_quantized_weight,
)
from tests.helpers import TrainedRun


def test_weights_land_on_a_symmetric_grid_of_their_own_filter() -> None:
    weight = torch.randn(6, 4, 3, generator=torch.Generator().manual_seed(0))
    weight[2] *= 100  # one filter far wider than the others keeps its own scale
    rounded = fake_quantized_weight(weight)
    scale = weight.abs().amax(dim=(1, 2), keepdim=True) / 127
    steps = rounded / scale
    assert torch.allclose(steps, steps.round(), atol=1e-3)
    assert steps.abs().max() <= 127 + 1e-3
    assert (rounded - weight).abs().le(scale / 2 + 1e-6).all()
    assert not torch.equal(rounded, weight)


def test_activations_take_at_most_256_values_keep_zero_and_pass_gradients_through() -> None:
    x = torch.rand(1000, generator=torch.Generator().manual_seed(1)) * 7 - 2
    x = torch.cat([torch.zeros(1), x]).requires_grad_()
    rounded = fake_quantized_activation(x)
    assert rounded.unique().numel() <= 256
    assert rounded[0] == 0  # zero (ReLU's floor, the padding) is a grid point
    assert (rounded - x).abs().max() <= 9 / 255 / 2 + 1e-5  # half a step of the range
    rounded.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_inside_the_block_the_network_computes_rounded_and_afterwards_as_before() -> None:
    torch.manual_seed(0)
    network = build_network("signal", 3, per_channel=True, widths=(4, 8)).eval()
    inputs = torch.randn(5, 3, 40)
    parameters = list(network.named_parameters())
    with torch.no_grad():
        before = network(inputs)
        with fake_quantization(network):
            rounded = network(inputs)
        after = network(inputs)
    assert torch.equal(before, after)
    assert 0 < F.mse_loss(rounded, before) < 1e-3 * before.square().mean()
    assert [(n, id(p)) for n, p in network.named_parameters()] == [
        (n, id(p)) for n, p in parameters
    ]
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in network.modules())


def test_a_forward_that_fails_midway_leaves_the_float_weights_in_place() -> None:
    network = build_network("signal", 3, widths=(4, 8))
    weights = [id(p) for p in network.parameters()]
    with pytest.raises(RuntimeError), fake_quantization(network):
        network.trunk(torch.randn(2, 5, 40))  # 5 channels into a 3-channel convolution
    assert [id(p) for p in network.parameters()] == weights


def test_the_loss_reaches_every_float_weight() -> None:
    torch.manual_seed(0)
    network = build_network("signal", 3, per_channel=True, widths=(4, 8))
    loss = QuantizationAware(MeanSquaredError())(
        network, torch.randn(8, 3, 40), torch.rand(8, 3, 50, 50)
    )
    loss.backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_the_cli_fine_tunes_through_fake_quantization_into_an_ordinary_checkpoint(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    out = tmp_path / "qat"
    init = signal_run.out / "best"
    command = [
        sys.executable, "-m", "pinet", "train", "--data", str(signal_run.store),
        "--model", "signal", "--out", str(out), "--epochs", "1", "--batch-size", "16",
        "--widths", ",".join(map(str, signal_run.config.widths)), "--init", str(init),
        "--device", "cpu", "--no-progress", "--quantization-aware",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    objective = read_card(out / "best").training["objective"]
    assert objective["name"] == "quantization-aware" and objective["base"] == {"name": "mse"}
    tuned, _ = load_checkpoint(out / "best")
    start, _ = load_checkpoint(init)
    assert tuned.state_dict().keys() == start.state_dict().keys()
    pairs = zip(tuned.parameters(), start.parameters(), strict=True)
    assert any(not torch.equal(after, before) for after, before in pairs)
