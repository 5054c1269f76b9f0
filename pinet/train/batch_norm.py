"""Precise BatchNorm statistics: the running mean and variance that an evaluated network
normalises with, recomputed over random training samples before each validation.

During training, BatchNorm keeps exponential averages (momentum 0.1) of its batches'
statistics, which follow the last few dozen batches. Batches here are drawn from a few store
chunks at a time (`ChunkWindowSampler`: minutes of one user, crops of a few photos), so those
averages describe whoever trained last, not the data: the signal student at stride 5, batch
16, validated at 7.5e-4 with them and at 6.9e-4 with statistics recomputed over 2,048 random
training windows, weights unchanged. Recomputing them is "precise BN" (Wu and Johnson,
*Rethinking "Batch" in BatchNorm*, 2021): the cumulative average of the statistics of
batches of random samples, which never changes what training computes, only what the
network answers in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from pinet.train.data import Samples

# Samples per batch of the recomputation: what each batch statistic averages over.
STATISTICS_BATCH = 256
# Keeps the draw of the statistics' samples apart from the epoch's data order.
_DRAW_KEY = 0xB7


def statistics_batches(
    parts: Sequence[Samples], weights: np.ndarray, count: int, seed: int, epoch: int
) -> Iterator[torch.Tensor]:
    """Batches of `count` training inputs drawn at random without replacement, part k's
    share of them with probability `weights[k]`, each batch from one part (parts may differ
    in shape), a part's draw split evenly into batches of at most `STATISTICS_BATCH`. It is
    read in store order, so a streamed store decodes each chunk once, and held in memory (at
    most `count` inputs). The draw depends on (seed, epoch) only."""
    rng = np.random.default_rng([seed, epoch, _DRAW_KEY])
    shares = rng.multinomial(count, weights)
    for part, share in zip(parts, shares, strict=True):
        if not share:
            continue
        positions = np.sort(rng.choice(len(part), size=min(int(share), len(part)), replace=False))
        # Read in slices, so that only the inputs are held, not their PIs (2,500 values each).
        inputs = torch.cat(
            [
                part.__getitems__(positions[start : start + STATISTICS_BATCH].tolist())[0]
                for start in range(0, len(positions), STATISTICS_BATCH)
            ]
        )
        order = torch.from_numpy(rng.permutation(len(inputs))).to(inputs.device)
        yield from inputs[order].tensor_split(math.ceil(len(inputs) / STATISTICS_BATCH))


@torch.no_grad()
def recompute_batch_norm(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace the running statistics of every BatchNorm of `model` by the cumulative average
    of their statistics over `batches` (forward passes in training mode, no gradients);
    parameters, momenta and the model's mode stay as they were. Returns the samples seen.
    Under DDP every process passes its shard of the same batches (synced BatchNorm adds them
    up). Raises ValueError when `batches` is empty, rather than leave reset statistics."""
    norms = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    if not norms:
        return 0
    momenta = [norm.momentum for norm in norms]
    was_training = model.training
    device = next(model.parameters()).device
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    seen = 0
    try:
        for batch in batches:
            model(batch.to(device))
            seen += len(batch)
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.train(was_training)
    if not seen:
        raise ValueError("no samples to recompute the BatchNorm statistics from")
    return seen


def freeze_batch_norm(model: nn.Module) -> None:
    """Put every BatchNorm of a training `model` in eval mode: it normalises by its running
    statistics, not the batch's, and leaves them unchanged; its scale and shift still learn
    (`--frozen-batch-norm`)."""
    for norm in model.modules():
        if isinstance(norm, _BatchNorm):
            norm.eval()
