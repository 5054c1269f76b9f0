"""Structured pruning: a PI-Net of any family made narrower by removing whole conv filters.

Filter j of block i is one output channel of conv i, one entry of BatchNorm i, and one input
channel of conv i + 1 (after the last block, or after every block of a trunk that pools
each one: one input column of the head's Linear that reads the trunk, `PINet.head_input`,
through the global average pool). Removing it removes all three, so the result is an
ordinary network of the same family whose `widths` alone differ: it saves, loads,
fine-tunes (`pinet train --init`), exports and serves like any other.

Which filters go: per block, those of smallest importance (see `filter_importance`). What the
network loses is exactly what a copy of it computes with those filters' BatchNorm scale and
shift set to zero (their ReLU outputs zero, so nothing downstream sees them): the tests check
that identity. Fine-tuning then lets the remaining filters make up for the removed ones.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

from pinet.nets import PINet, Widths
from pinet.nets.layers import ConvBlock
from pinet.resize.resized import load_source, save_resized, selected_state, with_widths

CRITERION = "l1-of-bn-folded-filter"  # recorded in the card; see filter_importance


def filter_importance(block: ConvBlock) -> torch.Tensor:
    """(out_channels,) the L1 norm of each filter of `block` with its BatchNorm folded in:
    |gamma_j| / sqrt(running_var_j + eps) * ||W_j||_1.

    Why this and not the filter's L1 norm alone (Li et al. 2017, "Pruning Filters for
    Efficient ConvNets"): BatchNorm divides each filter's output by its running standard
    deviation, so the scale of W_j says nothing about the block's output (W_j x 10 computes
    the same network). Folding BatchNorm into the conv, as inference does, gives the filter
    the network actually applies; its L1 norm bounds how much filter j's output moves per unit
    of input, before the shift beta_j and the ReLU. |gamma_j| alone (network slimming, Liu et
    al. 2017) would ignore the filter itself, and train-mode batch statistics are not stored,
    so the running variance stands for them. The shift is not scored: a filter whose output
    is near-constant carries little information, and fine-tuning relearns its offset.
    """
    bn = block.bn
    scale = bn.weight.detach().abs() / torch.sqrt(bn.running_var + bn.eps)
    return scale * block.conv.weight.detach().abs().flatten(1).sum(dim=1)


def pruned_widths(widths: Widths, keep: float) -> Widths:
    """ceil(keep x width) filters of each block, keep in (0, 1]: at least one per block."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be a fraction in (0, 1]; got {keep}")
    # Rounded first so that float products like 0.3 x 10 = 3.0000000000000004 give 3, not 4.
    return tuple(math.ceil(round(keep * width, 9)) for width in widths)


def check_prunable(network: PINet, widths: Widths) -> None:
    """ValueError unless `widths` narrow each of `network`'s blocks to between 1 and its
    current width."""
    if len(widths) != len(network.widths) or not all(
        1 <= new <= old for new, old in zip(widths, network.widths, strict=True)
    ):
        raise ValueError(
            f"pruned widths {list(widths)} must give each of the {len(network.widths)} blocks "
            f"of {list(network.widths)} between 1 and its current number of filters"
        )


def filters_to_keep(network: PINet, widths: Widths) -> list[torch.Tensor]:
    """Per block, the indices (ascending) of its `widths[i]` most important filters."""
    check_prunable(network, widths)
    kept = []
    for block, width in zip(network.trunk.blocks, widths, strict=True):
        ranking = torch.argsort(filter_importance(block), descending=True, stable=True)
        kept.append(ranking[:width].sort().values)
    return kept


def prune_network(network: PINet, widths: Widths) -> PINet:
    """A copy of `network` keeping, per block, its `widths[i]` most important filters (see
    `filter_importance`), in their original order; same mode and device as `network`."""
    kept = filters_to_keep(network, widths)
    return with_widths(network, widths, selected_state(network, kept))


def prune_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    keep: float | None = None,
    widths: Widths | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Write to `out` the checkpoint (folder or bundled name) pruned to `widths`, or to
    ceil(`keep` x width) filters per block; return what was done and the options that
    fine-tune it with `pinet train` / `pinet distill`. Its card records the pruning (keep,
    criterion), see `save_resized`.
    """
    if (keep is None) == (widths is None):
        raise ValueError("give either keep (a fraction of every block) or widths, not both")
    network, card = load_source(checkpoint, out)
    widths = pruned_widths(network.widths, keep) if keep is not None else tuple(widths)
    pruned = prune_network(network, widths)
    details = {"keep": keep, "criterion": CRITERION}
    return save_resized(
        network,
        pruned,
        card,
        out,
        step="pruning",
        details=details,
        name=name or f"{card.name}-pruned",
    )
