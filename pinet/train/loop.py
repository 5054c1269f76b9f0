"""Fit a PI-Net to a ground-truth store.

The loop is plain PyTorch: an objective (MSE on persistence images by default), Adam with a
cosine schedule by default (or the released optimiser), validation on whole groups (users,
photos) held out of the training split, a checkpoint every epoch plus the best, and
bit-for-bit resumption: the data order of an epoch is a function of (seed, epoch) only, and
the optimiser state travels with the weights.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pinet.card import DataSourceRef, ModelCard, RecipeRef
from pinet.checkpoint import save_checkpoint
from pinet.device import autocast, resolve_device
from pinet.inference import LoadedModel, TorchBackend
from pinet.modality import Modality
from pinet.nets import PINet, build_network
from pinet.store import GroundTruthStore
from pinet.train.config import TrainConfig
from pinet.train.data import (
    ChunkWindowSampler,
    ResidentSamples,
    Samples,
    StoreSamples,
    batch_loader,
    exact_symmetries,
    split_by_group,
)
from pinet.train.evaluate import evaluate
from pinet.train.losses import MeanSquaredError, Objective
from pinet.train.plots import plot_run
from pinet.train.run_state import has_run, jsonable, restore, save_epoch

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
    store_path: str | Path,
    modality: Modality,
    out: str | Path,
    config: TrainConfig,
    *,
    objective: Objective | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on `store_path` into `out`, minimising `objective` (default: MSE against the
    exact PIs); returns the final history entry and the best validation MSE."""
    objective = objective or MeanSquaredError()
    out = Path(out)
    store = GroundTruthStore.open(store_path)
    if not store.complete:
        raise ValueError(f"{store_path} is not complete; finish it with data_prep first")
    recipe_modality = store.recipe.modality
    if recipe_modality != modality:
        raise ValueError(f"{store_path} holds {recipe_modality} ground truth, not {modality}")
    device = resolve_device(config.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"  # fixed input shapes: pick once
    torch.manual_seed(config.seed)
    model = build_network(
        modality,
        store.channels,
        per_channel=config.per_channel,
        head=config.head,
        widths=config.widths,
    ).to(device)
    optimiser = make_optimiser(model, config)
    history: list[dict[str, Any]] = []
    if resume:
        history = restore(out, model, optimiser, config)
    elif has_run(out):
        raise ValueError(f"{out} already holds a training run; pass --resume or another --out")
    out.mkdir(parents=True, exist_ok=True)

    card = run_card(model, store, config, objective, {}, 0)  # a bad name fails now
    evaluated = LoadedModel(card, TorchBackend(model, device))
    train_idx, val_idx = split_by_group(store, config.val_fraction, config.seed)
    train_stream = StoreSamples(store, train_idx, modality)
    val_stream = StoreSamples(store, val_idx, modality)
    sampler = ChunkWindowSampler(train_stream, config.seed)
    train_set: Samples = train_stream
    val_set: Samples = val_stream
    if config.preload:
        train_set = ResidentSamples(train_stream, device)
        val_set = ResidentSamples(val_stream, device)
    train_set = objective.labelled(train_set)
    loader = batch_loader(train_set, config.batch_size, device, sampler)
    best = min((h["val_mse"] for h in history), default=math.inf)
    for epoch in range(len(history), config.epochs):
        started = time.perf_counter()
        sampler.epoch = epoch
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, epoch)
        train_mse = _train_epoch(model, loader, optimiser, objective, epoch, config, progress)
        model.eval()
        val = evaluate(evaluated, val_set)
        entry = {
            "epoch": epoch + 1,
            "lr": learning_rate(config, epoch),
            "train_mse": train_mse,
            "val_mse": val["mse"],
            "val_mae": val["mae"],
            "seconds": round(time.perf_counter() - started, 2),
        }
        history.append(entry)
        metrics = {"val_mse": val["mse"], "val_mae": val["mae"]}
        card = run_card(model, store, config, objective, metrics, epoch + 1)
        if val["mse"] < best:
            best = val["mse"]
            save_checkpoint(model, card, out / "best")
        save_epoch(out, model, optimiser, card, history, config)
        if progress:
            tqdm.write(json.dumps(entry))
    model.eval()
    plot_run(out, history, evaluated, val_stream)
    return {"last": history[-1] if history else None, "best_val_mse": best}


def _train_epoch(
    model: PINet,
    loader: DataLoader,
    optimiser: torch.optim.Optimizer,
    objective: Objective,
    epoch: int,
    config: TrainConfig,
    progress: bool,
) -> float:
    """One pass over `loader`; the mean training loss."""
    model.train()
    device = next(model.parameters()).device
    total, count = torch.zeros((), device=device), 0  # summed on the device: no sync per step
    # Seeded by (seed, epoch) only, like the data order, so that --resume stays bit-exact.
    symmetries = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
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
        if config.augment:
            inputs, targets = exact_symmetries(inputs, targets, symmetries)
        with autocast(device):
            loss = objective(model, inputs, targets)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total += loss.detach() * len(inputs)
        count += len(inputs)
        if progress and batches.n % _PROGRESS_EVERY == 0:
            batches.set_postfix(loss=f"{total.item() / count:.5f}")
    return total.item() / max(count, 1)


def run_card(
    model: PINet,
    store: GroundTruthStore,
    config: TrainConfig,
    objective: Objective,
    metrics: dict[str, float],
    epochs_done: int,
) -> ModelCard:
    """The card of `model` after `epochs_done` epochs on `store`: what it is, what it was
    trained on and how (config, objective), and its validation metrics."""
    job = store.job
    training = {
        **asdict(config),
        "objective": objective.describe(),
        "epochs_done": epochs_done,
        "store": str(store.path),
    }
    return ModelCard.describing(
        model,
        name=config.name,
        input_shape=tuple(store.attrs["input_shape"]),
        recipe=RecipeRef(**job["recipe"]),
        data_source=DataSourceRef(**job["source"]),
        metrics=metrics,
        training=jsonable(training),
    )
