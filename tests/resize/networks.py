"""What the resizing tests share: tiny seeded networks of every family, with BatchNorms that
make every filter matter differently, and fine-tuning through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from pinet.cli import main
from pinet.nets import PINet, build_network
from tests.helpers import TINY_WIDTHS, TrainedRun

INPUT_SHAPES = {"signal": (5, 3, 64), "image": (5, 3, 32, 32)}


# Every family, by modality.
NETWORKS = [("signal", "pinet"), ("image", "pinet"), ("image", "lowrank"), ("image", "raster")]


def scrambled_network(
    modality: str, per_channel: bool, family: str = "pinet", **trunk_options: Any
) -> PINet:
    """A seeded tiny network in eval mode whose BatchNorms have random scales, shifts and
    statistics, so that filter importances differ and the kept filters are not a prefix."""
    torch.manual_seed(0)
    network = build_network(
        modality, 3, family=family, per_channel=per_channel, widths=TINY_WIDTHS, **trunk_options
    )
    with torch.no_grad():
        for block in network.trunk.blocks:
            block.bn.weight.uniform_(-1.0, 1.0)
            block.bn.bias.uniform_(-0.5, 0.5)
            block.bn.running_mean.uniform_(-0.2, 0.2)
            block.bn.running_var.uniform_(0.5, 2.0)
    return network.eval()


# The release's trunk, one that encodes values and pools every block into the head, and one
# that pools each block's maximum beside its average.
TRUNKS = [
    {},
    {"value_bins": 3, "multiscale_pool": True},
    {"multiscale_pool": True, "pooled_maxima": True},
]


def fine_tune_for_an_epoch(
    options: str, run: TrainedRun, out: Path, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """What `pinet train` prints after one epoch on `run`'s store with the fine-tuning
    `options` a resizing command printed."""
    train = ["train", "--data", str(run.store), "--model", "signal", "--out", str(out)]
    train += ["--epochs", "1", "--batch-size", "16", "--device", "cpu", "--no-progress"]
    assert main([*train, *options.split()]) == 0
    return json.loads(capsys.readouterr().out)
