"""Tiny seeded networks of every family for the resizing tests, with BatchNorms that make
every filter matter differently."""

from __future__ import annotations

from typing import Any

import torch

from pinet.nets import PINet, build_network
from tests.helpers import TINY_WIDTHS

INPUT_SHAPES = {"signal": (5, 3, 64), "image": (5, 3, 32, 32)}


# Every family, by modality: ("signal", "pinet"), ("image", "pinet"), ("image", "lowrank").
NETWORKS = [("signal", "pinet"), ("image", "pinet"), ("image", "lowrank")]


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


# The release's trunk, and one that encodes values and pools every block into the head.
TRUNKS = [{}, {"value_bins": 3, "multiscale_pool": True}]
