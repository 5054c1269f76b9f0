"""Fit a PI-Net to a ground-truth store.

The loop is plain PyTorch: an objective (MSE on persistence images by default), Adam with a
cosine schedule by default (or the released optimiser), validation on whole groups (users,
photos) held out of the training split, a checkpoint every epoch plus the best, and
bit-for-bit resumption: the data order of an epoch is a function of (seed, epoch) only, and
the optimiser state travels with the weights. Under torchrun it trains on several
processes (`pinet.train.distributed`) as it would on one, and only rank 0 writes the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader
from tqdm import tqdm

from pinet.card import ModelCard
from pinet.device import autocast
from pinet.inference import LoadedModel, TorchBackend
from pinet.modality import Modality
from pinet.nets import PINet, build_network
from pinet.tda import Recipe
from pinet.train.averaging import averaged_weights
from pinet.train.batch_norm import freeze_batch_norm, recompute_batch_norm, statistics_batches
from pinet.train.config import TrainConfig
from pinet.train.crops import RandomCrops, run_crops
from pinet.train.data import batch_loader, exact_symmetries
from pinet.train.distributed import (
    Cluster,
    local_device,
    process_group,
    synchronise_batch_norms,
)
from pinet.train.epoch_records import EpochRecords
from pinet.train.losses import MeanSquaredError, Objective
from pinet.train.mixture import Component, MixtureBatchSampler, MixtureSamples
from pinet.train.plots import plot_run
from pinet.train.preflight import refuse_inconsistent_options
from pinet.train.rolls import MinimumRolls
from pinet.train.run_card import run_card
from pinet.train.run_data import RunData, open_run_data
from pinet.train.run_state import RunState, has_run, restore, start_from
from pinet.train.sample_transforms import SampleTransform
from pinet.train.tails import TailStretches

# The draw of `--frozen-batch-norm`'s statistics before the first epoch: one no epoch's
# draw (its index) shares.
_FIRST_STATISTICS_DRAW = 2**31 - 1
_PROGRESS_EVERY = 50  # batches between progress-bar loss updates (each one waits for the GPU)


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of `epoch` (0-based)."""
    if config.optimiser != "released":
        return config.lr * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    stage = 0 if epoch < 0.3 * config.epochs else 1 if epoch < 0.6 * config.epochs else 2
    return config.lr / 10**stage


def make_optimiser(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimiser == "released":
        return torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.99, 0.999), eps=0.1)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def train(
    data: str | Path | Sequence[Component],
    modality: Modality,
    out: str | Path,
    config: TrainConfig,
    *,
    objective: Objective | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on a store, or a mixture of stores (`Component`s), into `out`, minimising
    `objective` (default: MSE against the exact PIs); returns the final history entry and
    the best validation MSE. Launched by torchrun, every process runs this, in a process
    group open for the duration (`process_group`)."""
    device = local_device(config.device)
    with process_group(device) as cluster:
        objective = objective or MeanSquaredError()
        return _fit(data, modality, Path(out), config, objective, device, cluster, resume, progress)


def _fit(
    data: str | Path | Sequence[Component],
    modality: Modality,
    out: Path,
    config: TrainConfig,
    objective: Objective,
    device: torch.device,
    cluster: Cluster,
    resume: bool,
    progress: bool,
) -> dict[str, Any]:
    """`train` in one process of `cluster` (maybe the only one) training on `device`."""
    refuse_inconsistent_options(config, cluster)
    progress = progress and cluster.is_main
    run_data = open_run_data(data, modality, config, objective)
    torch.backends.cudnn.benchmark = autotunes_convolutions(device, config)
    state = _start_or_resume(run_data, modality, out, config, device, cluster, resume)
    crops = run_crops(config, state.model.min_input_size, run_data.trained_on.ranges().sizes[1])
    rolls = MinimumRolls.for_run(config.roll_to_minimum, modality)
    tails = TailStretches.for_run(
        config.stretch_tails, modality, max_strength=config.stretch_strength
    )
    relabelling = [t for t in (crops, rolls, tails) if t is not None]
    if cluster.is_main:
        out.mkdir(parents=True, exist_ok=True)
    trained = _wrapped_for(cluster, state.model, device)

    def card_after(epochs: int, metrics: dict[str, float]) -> ModelCard:
        return run_card(
            state.kept,
            run_data.trained_on,
            config,
            objective,
            metrics,
            epochs,
            cluster,
            state.init_checkpoint_id,
        )

    # The network validated, under its first card: a bad name fails now, before any epoch.
    evaluated = LoadedModel(card_after(0, {}), TorchBackend(state.kept, device))
    sampler = MixtureBatchSampler(
        run_data.train_streams,
        run_data.weights,
        config.batch_size,
        config.seed,
        config.epoch_samples,
    )
    train_parts, val_sets = run_data.samples(device if config.preload else None)
    labelled = zip(train_parts, run_data.exact, strict=True)
    train_set = MixtureSamples(
        [objective.labelled(part, exact=e, progress=progress) for part, e in labelled]
    )
    loader = batch_loader(train_set, config.batch_size, device, sampler)
    records = EpochRecords(
        out, config, cluster, state, evaluated, val_sets, run_data.val_labels, card_after, progress
    )

    def recompute_statistics(draw: int) -> None:
        # Every process: synced BatchNorm sums their shards.
        batches = statistics_batches(
            train_parts, run_data.weights, config.bn_samples, config.seed, draw
        )
        recompute_batch_norm(state.kept, (cluster.shard(b, b)[0] for b in batches))

    if config.frozen_batch_norm and not state.history:
        # Later epochs train under those recomputed after the last, or, `freeze_once`, these.
        recompute_statistics(_FIRST_STATISTICS_DRAW)
    for epoch in range(len(state.history), config.epochs):
        started = time.perf_counter()
        sampler.epoch = epoch
        lr = learning_rate(config, epoch)
        for group in state.optimiser.param_groups:
            group["lr"] = lr
        train_mse = _train_epoch(
            trained,
            loader,
            state.optimiser,
            objective,
            epoch,
            config,
            cluster,
            run_data.recipe,
            relabelling,
            state.averaged,
            progress,
        )
        if config.bn_samples and not config.freeze_once:
            recompute_statistics(epoch)
        records.close(epoch, lr, train_mse, started)
    state.model.eval()
    if cluster.is_main:
        plot_run(out, state.history, evaluated, run_data.val_streams[0])
    return {"last": state.history[-1] if state.history else None, "best_val_mse": records.best}


def _start_or_resume(
    run_data: RunData,
    modality: Modality,
    out: Path,
    config: TrainConfig,
    device: torch.device,
    cluster: Cluster,
    resume: bool,
) -> RunState:
    """A new run's state (from `config.init`, if given), or, `resume`, the state the last
    epoch saved in `out`; refuses to start a new run over an old one."""
    torch.manual_seed(config.seed)
    model = _configured_network(config, modality, run_data.channels).to(device)
    init_checkpoint_id = None  # a resumed run restores it with its weights, below
    if config.init is not None and not resume:
        init_checkpoint_id = start_from(model, config.init)
    if cluster.world_size > 1:
        synchronise_batch_norms(model)  # BatchNorm of the global batch, saved as plain
    averaged = averaged_weights(model, config.weight_average)  # a copy: synced likewise
    optimiser = make_optimiser(model, config)
    history: list[dict[str, Any]] = []
    if resume:
        # the weights it started from, as they were then: a bundled --init may be others now
        data_source = run_data.trained_on.data_source()
        history, init_checkpoint_id = restore(out, model, optimiser, config, data_source, averaged)
    elif has_run(out):
        raise ValueError(f"{out} already holds a training run; pass --resume or another --out")
    return RunState(model, averaged, optimiser, history, init_checkpoint_id)


def _wrapped_for(
    cluster: Cluster, model: PINet, device: torch.device
) -> PINet | DistributedDataParallel:
    """`model` as its steps are taken: itself, or under DistributedDataParallel when several
    processes train it."""
    if cluster.world_size == 1:
        return model
    # Buffers are not broadcast: synced BatchNorm keeps every process's statistics equal.
    device_ids = None if device.type == "cpu" else [device]
    return DistributedDataParallel(model, device_ids, broadcast_buffers=False)


def _configured_network(config: TrainConfig, modality: Modality, channels: int) -> PINet:
    """A fresh network of the family and options `config` names, for `channels` inputs."""
    options = {
        "value_bins": config.value_bins,
        "value_range": config.value_range,
        "multiscale_pool": config.multiscale_pool,
        "pooled_maxima": config.pooled_maxima,
        "norm": config.norm,
        "delay_embedding": config.delay_embedding,
        "recurrence_radii": config.recurrence_radii,
        "recurrence_stride": config.recurrence_stride,
        "recurrence_gap": config.recurrence_gap,
        "turning_points": config.turning_points,
        "running_extremes": config.running_extremes,
    }
    if config.rank is not None:
        options["rank"] = config.rank
    return build_network(
        modality,
        channels,
        family=config.family,
        per_channel=config.per_channel,
        head=config.head,
        widths=config.widths,
        **options,
    )


def autotunes_convolutions(device: torch.device, config: TrainConfig) -> bool:
    """Whether cuDNN should time its convolution algorithms for each new input shape: worth
    it on CUDA when every batch of a store has that store's one shape, ruinous with crops,
    which draw a new length for nearly every batch (measured on an H200: 0.35 s a step
    instead of milliseconds, hundreds of tunings an epoch)."""
    return device.type == "cuda" and not config.crop_min_size


def _train_epoch(
    model: PINet | DistributedDataParallel,
    loader: DataLoader,
    optimiser: torch.optim.Optimizer,
    objective: Objective,
    epoch: int,
    config: TrainConfig,
    cluster: Cluster,
    recipe: Recipe,
    relabelling: Sequence[RandomCrops | SampleTransform],
    averaged: AveragedModel | None,
    progress: bool,
) -> float:
    """One pass over `loader`; the mean training loss. Every process of `cluster` loads,
    transforms and prepares the whole batch alike, then steps on its shard of it.
    `recipe`: the stores', whose symmetries `--augment` draws (`exact_symmetries`) and which
    labels what the `relabelling` transforms (crops, rolls, then stretched tails) make of a
    batch before the symmetries are drawn. `averaged`, if any, follows the weights after
    every step."""
    model.train()
    if config.frozen_batch_norm:
        freeze_batch_norm(model)
    device = next(model.parameters()).device
    total, count = torch.zeros((), device=device), 0  # summed on the device: no sync per step
    # Seeded by (seed, epoch) only, like the data order, so that --resume stays bit-exact.
    draws = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    batches = tqdm(
        loader,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        leave=False,
        disable=not progress,
        unit="batch",
    )
    for inputs, targets in batches:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        for transform in relabelling:
            inputs, targets = transform.apply(inputs, targets, recipe, draws, objective)
        if config.augment:
            inputs, targets = exact_symmetries(
                inputs, targets, draws, recipe.spatial_symmetries, recipe.value_reflection
            )
        inputs, targets = objective.prepare(inputs, targets, draws)
        inputs, targets, weight = cluster.shard(inputs, targets)
        with autocast(device):
            loss = objective(model, inputs, targets)
        optimiser.zero_grad(set_to_none=True)
        (loss * weight).backward()
        optimiser.step()
        if averaged is not None:
            averaged.update_parameters(getattr(model, "module", model))  # unwrapped from DDP
        if len(inputs):  # an empty shard's loss is NaN (see `Cluster.shard`)
            total += loss.detach() * len(inputs)
            count += len(inputs)
        if progress and batches.n % _PROGRESS_EVERY == 0:
            batches.set_postfix(loss=f"{total.item() / max(count, 1):.5f}")
    total, count = cluster.summed(torch.stack([total, torch.tensor(float(count), device=device)]))
    return total.item() / max(count.item(), 1)
