"""How well a model predicts a store's PIs: MSE and MAE, per channel, against the predictor
that always answers the mean training PI, and on the authors' CIFAR10 samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pinet.inference import LoadedModel, check_against_card, load_model, predict
from pinet.store import GroundTruthStore
from pinet.tda.reference import REFERENCE_SAMPLES, reference_samples
from pinet.train.batch_norm import recompute_batch_norm, statistics_batches
from pinet.train.config import TrainConfig
from pinet.train.data import Samples, StoreSamples, batch_loader

# What a per-source evaluation keeps of each store's metrics.
SOURCE_METRICS = ("samples", "mse", "mean_pi_mse", "mse_vs_mean_pi")
# The recipe whose PIs the authors' reference samples hold (SPEC 2.3).
REFERENCE_RECIPE = "image-raster"
# Inputs that `batch_norm_from_store` takes statistics from: as many as training uses.
STATISTICS_SAMPLES = TrainConfig.bn_samples
# Where a signal channel's largest |z| (its farthest value from its mean, in standard
# deviations) splits `per_largest_z`. The sublevel recipes' longest bars are born at a
# window's deepest values, and learned PIs place them worse the farther those lie: the
# broad network of the time scored 0.10 of the mean PI's error on hard synthetic windows
# under 3, 0.48 from 4 to 6 and 0.58 above (docs/studies.md, "Value bins where heavy tails
# lie"); the bundled `signal-broad`'s bands on Daphnet are in docs/training.md, "Commands
# used for the bundled models".
LARGEST_Z_BANDS = (3.0, 4.0, 6.0)


def predict_batches(
    model: LoadedModel,
    dataset: Samples,
    batch_size: int = 256,
    see_inputs: Callable[[torch.Tensor], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted (through `model.forward`, like `pinet.predict`) and true PIs,
    `(N, C, 50, 50)` each, for every sample of `dataset`; `see_inputs` is handed each batch
    of network inputs on the way, in order. A torch network must be in eval mode."""
    predicted, expected = [], []
    for inputs, targets in batch_loader(dataset, batch_size, model.device):
        if see_inputs is not None:
            see_inputs(inputs)
        predicted.append(model.forward(inputs))
        expected.append(targets.cpu().numpy())
    return np.concatenate(predicted), np.concatenate(expected)


def evaluate(
    model: LoadedModel,
    dataset: Samples,
    mean_pi: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    by_largest_z: bool = False,
) -> dict[str, Any]:
    """MSE, MAE and per-channel MSE of `model` on `dataset`; with `mean_pi` `(C, 50, 50)`,
    also the MSE of always predicting it (the baseline that says whether the net learned),
    and with both it and the samples' `labels` `(N,)`, those two per label (`per_label`:
    where a model fails, e.g. which activities); with `mean_pi` and `by_largest_z`, for
    signals, those two per band of LARGEST_Z_BANDS of each sample channel's largest |z|,
    read off the z-scored network inputs (`per_largest_z`, whose `samples` count channel
    windows)."""
    largest: list[np.ndarray] = []  # (batch, C) per batch, with by_largest_z

    def see_inputs(inputs: torch.Tensor) -> None:
        largest.append(inputs.abs().amax(dim=-1).cpu().numpy())

    predicted, expected = predict_batches(
        model, dataset, see_inputs=see_inputs if by_largest_z else None
    )
    errors = predicted - expected
    metrics: dict[str, Any] = {
        "samples": len(dataset),
        "mse": float(np.mean(errors**2)),
        "mae": float(np.mean(np.abs(errors))),
        "per_channel_mse": np.mean(errors**2, axis=(0, 2, 3)).tolist(),
    }
    if mean_pi is None:
        return metrics
    baseline_errors = expected - mean_pi
    metrics["mean_pi_mse"] = float(np.mean(baseline_errors**2))
    metrics["mse_vs_mean_pi"] = metrics["mse"] / metrics["mean_pi_mse"]
    if labels is not None:
        metrics["per_label"] = _per_group(labels, errors, baseline_errors, str)
    if by_largest_z:
        bands = np.digitize(np.concatenate(largest), LARGEST_Z_BANDS)
        metrics["per_largest_z"] = _per_group(bands, errors, baseline_errors, _band_name)
    return metrics


def _per_group(
    groups: np.ndarray,
    errors: np.ndarray,
    baseline_errors: np.ndarray,
    name: Callable[[Any], str],
) -> dict[str, dict[str, float | None]]:
    """`_against_mean_pi` of each group of PIs, named by `name(group)`: `groups` holds one
    group per sample `(N,)` or per sample channel `(N, C)`, `errors` and `baseline_errors`
    are `(N, C, 50, 50)`."""
    return {
        name(group): _against_mean_pi(errors[groups == group], baseline_errors[groups == group])
        for group in np.unique(groups)
    }


def _band_name(index: int) -> str:
    """Band `index` of LARGEST_Z_BANDS as `per_largest_z` names it: "<3", "3-4", ">=6"."""
    edges = LARGEST_Z_BANDS
    if index == 0:
        return f"<{edges[0]:g}"
    if index == len(edges):
        return f">={edges[-1]:g}"
    return f"{edges[index - 1]:g}-{edges[index]:g}"


def _against_mean_pi(errors: np.ndarray, baseline_errors: np.ndarray) -> dict[str, float | None]:
    """`SOURCE_METRICS` of some samples from their errors and the mean PI's (no ratio for
    samples whose PIs all equal the mean PI)."""
    mse, mean_pi_mse = float(np.mean(errors**2)), float(np.mean(baseline_errors**2))
    ratio = mse / mean_pi_mse if mean_pi_mse > 0 else None
    return {"samples": len(errors), "mse": mse, "mean_pi_mse": mean_pi_mse, "mse_vs_mean_pi": ratio}


def mean_training_pi(store: GroundTruthStore) -> np.ndarray:
    """The mean PI `(C, 50, 50)` over the store's usable training samples."""
    train = store.usable_indices("train")
    if not len(train):
        raise ValueError(f"{store.path} has no usable training samples to average")
    total = np.zeros(store["pis"].shape[1:], dtype=np.float64)
    for start in range(0, len(train), 1024):
        total += store["pis"][train[start : start + 1024]].sum(axis=0)
    return (total / len(train)).astype(np.float32)


def evaluate_on_store(
    model: LoadedModel,
    store_path: str | Path,
    split: str = "test",
    reference: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of `model` on a store's split, with the mean-training-PI baseline, overall,
    per label of the samples and, for signals, per band of their channels' largest |z|
    (`evaluate`). A model of the `image-raster` recipe is also scored on the authors'
    CIFAR10 samples (`reference`, default: the copy shipped with pinet), against their own
    ground truth."""
    store = GroundTruthStore.open(store_path)
    card = model.card
    if store.recipe.name != card.recipe.name:
        raise ValueError(
            f"{store_path} holds {store.recipe.name} ground truth; "
            f"the model was trained on {card.recipe.name}"
        )
    # The card's checks, as a request meets them: an exported graph, unlike a torch network,
    # runs on inputs its card refuses, and would be scored on what it was never meant to take.
    check_against_card(np.zeros((1, *store["inputs"].shape[1:]), store["inputs"].dtype), card)
    indices = store.usable_indices(split)
    if not len(indices):
        raise ValueError(f"{store_path} has no usable samples in its {split!r} split")
    mean_pi = mean_training_pi(store)
    samples = StoreSamples(store, indices, card.modality)
    labels = store["labels"][:][indices]
    metrics = evaluate(model, samples, mean_pi, labels, by_largest_z=card.modality == "signal")
    if reference is not None and card.recipe.name != REFERENCE_RECIPE:
        raise ValueError(
            f"the reference samples hold {REFERENCE_RECIPE} PIs; model {card.name!r} was "
            f"trained on {card.recipe.name}"
        )
    if card.recipe.name == REFERENCE_RECIPE:
        samples = reference_samples(reference or REFERENCE_SAMPLES)
        errors = predict(model, samples.images) - samples.pis
        metrics["reference"] = {
            "samples": len(samples.images),
            "mse": float(np.mean(errors**2)),
            "mean_pi_mse": float(np.mean((samples.pis - mean_pi) ** 2)),
        }
    return metrics


def evaluate_by_source(
    model: LoadedModel, store_paths: Sequence[str | Path], split: str = "test"
) -> dict[str, dict[str, float]]:
    """For each store (one source), the model's MSE on its split against the MSE of that
    source's own mean training PI (`mse_vs_mean_pi`: 1.0 is no better than a constant),
    keyed by the store's label."""
    by_source = {}
    for path in store_paths:
        metrics = evaluate_on_store(model, path, split)
        label = GroundTruthStore.open(path).label
        if label in by_source:
            raise ValueError(f"two stores are called {label!r}; rename one")
        by_source[label] = {key: metrics[key] for key in SOURCE_METRICS}
    return by_source


def batch_norm_from_store(
    model: LoadedModel, store_path: str | Path, count: int = STATISTICS_SAMPLES, seed: int = 0
) -> int:
    """Replace the BatchNorm statistics of `model` (on the torch backend) by those of `count`
    random training inputs of one store; returns the inputs seen. A diagnostic, never a
    bundled model: a network trained on a mixture whose batches each hold one source (its
    shapes differ) normalises by that source's statistics while it trains, but by the
    mixture's when evaluated; scored with each source's own statistics, it shows how much of
    its error that mismatch makes."""
    if model.backend.name != "torch":
        raise ValueError("BatchNorm statistics can be recomputed on the torch backend only")
    if model.backend.network.trunk.norm != "batch":
        raise ValueError(f"{model.card.name} normalises each sample by itself: it has no BatchNorm")
    store = GroundTruthStore.open(store_path)
    if store.recipe.modality != model.card.modality:
        raise ValueError(
            f"{store_path} holds {store.recipe.modality} inputs; the model takes "
            f"{model.card.modality}"
        )
    inputs = StoreSamples(store, store.usable_indices("train"), model.card.modality)
    batches = statistics_batches([inputs], np.ones(1), count, seed, epoch=0)
    return recompute_batch_norm(model.backend.network, batches)


def evaluate_checkpoint(
    checkpoint: str | Path,
    store_paths: str | Path | Sequence[str | Path],
    split: str = "test",
    device: str = "auto",
    reference: str | Path | None = None,
    batch_norm_store: str | Path | None = None,
) -> dict[str, Any]:
    """`evaluate_on_store` for a saved model (a checkpoint folder or a bundled name) on one
    store; on several, `evaluate_by_source`. With `batch_norm_store`, its torch weights
    normalise by that store's statistics (`batch_norm_from_store`), recorded in the result
    as `batch_norm_from`. The result names the checkpoint file that ran (`runs_file`: an
    int8 graph's 7-bit twin runs in its place on CPUs whose 8-bit sums saturate)."""
    backend = None if batch_norm_store is None else "torch"
    model = load_model(checkpoint, device, backend)
    if isinstance(store_paths, str | Path):
        store_paths = [store_paths]
    how = {"runs_file": model.runs_file}
    if batch_norm_store is not None:
        seen = batch_norm_from_store(model, batch_norm_store)
        how["batch_norm_from"] = {"store": str(batch_norm_store), "samples": seen}
    if len(store_paths) == 1:
        return evaluate_on_store(model, store_paths[0], split, reference) | how
    return evaluate_by_source(model, store_paths, split) | how
