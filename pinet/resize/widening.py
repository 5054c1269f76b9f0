"""Widening: a trained PI-Net made wider without forgetting what it learned (Net2WiderNet,
Chen, Goodfellow and Shlens, "Net2Net: Accelerating Learning via Knowledge Transfer", 2016).

Block i of `old` filters becomes one of `new` >= `old`: filters 0..old-1 stay where they are,
and each added filter j copies a filter g(j) drawn at random (its conv row, bias, BatchNorm
scale, shift and statistics). Copies compute the same output, so the function is kept
exactly if whatever reads them (conv i + 1, or the head's Linear through the global average
pool, `PINet.head_input`) divides the weights of filter k among its n_k copies: each copy
gets 1 / n_k of them. Why copies, not fresh filters: the wider network starts where the
trained one is and every added filter starts useful, so fine-tuning spends its steps on what
the width adds (Net2Net trained the wider network faster than one from scratch).

Copies that are exactly equal stay equal under Adam, whose step is blind to the gradient's
scale: `noise` adds Gaussian noise of that fraction of each copied filter's weight deviation
to the added copies' conv weights, which moves the function a little and lets them part.
With `noise=0` the widened network computes what the source did, to float rounding (the
tests check it).
"""

from __future__ import annotations

import os
from typing import Any

import torch

from pinet.nets import PINet, Widths
from pinet.resize.resized import load_source, save_resized, selected_state, with_widths

DEFAULT_NOISE = 0.01  # of each copied filter's weight deviation; see the module docstring


def check_widenable(network: PINet, widths: Widths) -> None:
    """ValueError unless `widths` keep or widen each of `network`'s blocks."""
    if len(widths) != len(network.widths) or not all(
        new >= old for new, old in zip(widths, network.widths, strict=True)
    ):
        raise ValueError(
            f"widened widths {list(widths)} must give each of the {len(network.widths)} blocks "
            f"of {list(network.widths)} at least its current number of filters"
        )


def filter_sources(old: int, new: int, generator: torch.Generator) -> torch.Tensor:
    """(new,) the filter each widened filter copies: itself for the first `old`, then filters
    drawn uniformly at random."""
    added = torch.randint(old, (new - old,), generator=generator)
    return torch.cat([torch.arange(old), added])


def widen_network(
    network: PINet, widths: Widths, *, seed: int = 0, noise: float = DEFAULT_NOISE
) -> PINet:
    """A copy of `network` whose block i has `widths[i]` filters, the added ones copies of
    filters drawn with `seed` (see the module docstring); same mode and device as `network`."""
    check_widenable(network, widths)
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0; got {noise}")
    generator = torch.Generator().manual_seed(seed)
    sources = [
        filter_sources(old, new, generator) for old, new in zip(network.widths, widths, strict=True)
    ]
    return with_widths(network, widths, _widened_state(network, sources, noise, generator))


def _widened_state(
    network: PINet, sources: list[torch.Tensor], noise: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """`network`'s state_dict with block i's filters `sources[i]` (see `selected_state`),
    whatever reads a filter divided by its number of copies, and noise on the added copies'
    conv weights."""
    state = selected_state(network, sources, [_shares(copied) for copied in sources])
    for i, old in enumerate(network.widths):
        name = f"trunk.blocks.{i}.conv.weight"
        state[name] = _with_noise(state[name], old, noise, generator)
    return state


def _shares(copied: torch.Tensor) -> torch.Tensor:
    """(len(copied),) 1 / (the number of copies of each filter's source)."""
    counts = torch.bincount(copied)
    return 1.0 / counts[copied].to(torch.float32)


def _with_noise(
    weight: torch.Tensor, old: int, noise: float, generator: torch.Generator
) -> torch.Tensor:
    """`weight` (new filters first dim) with Gaussian noise of `noise` x each row's standard
    deviation added to the rows from `old` on, the added copies."""
    if not noise or len(weight) == old:
        return weight
    added = weight[old:]
    scale = added.flatten(1).std(dim=1).view(-1, *[1] * (weight.ndim - 1))
    jitter = torch.randn(added.shape, generator=generator) * noise * scale
    return torch.cat([weight[:old], added + jitter])


def widen_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    widths: Widths,
    seed: int = 0,
    noise: float = DEFAULT_NOISE,
    name: str | None = None,
) -> dict[str, Any]:
    """Write to `out` the checkpoint (folder or bundled name) widened to `widths`; return
    what was done and the options that fine-tune it with `pinet train` / `pinet distill`.
    Its card records the widening (method, seed, noise), see `save_resized`."""
    network, card = load_source(checkpoint, out)
    widened = widen_network(network, tuple(widths), seed=seed, noise=noise)
    details = {"method": "net2wider", "seed": seed, "noise": noise}
    return save_resized(
        network,
        widened,
        card,
        out,
        step="widening",
        details=details,
        name=name or f"{card.name}-widened",
    )
