"""Weights export: a checkpoint written as bundled models ship, float16 or int8 weights, with
the test metrics of exactly those weights in its card."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from pinet.card import ModelCard
from pinet.checkpoint import as_stored, load_checkpoint, save_checkpoint
from pinet.device import resolve_device
from pinet.export.measure import exported_card, measured_card
from pinet.inference import LoadedModel, TorchBackend, find_checkpoint
from pinet.nets import PINet
from pinet.tda import get_recipe
from pinet.train.evaluate import evaluate_by_source, evaluate_on_store

# What `export_weights` stores, by the name `pinet export --format` gives it.
WEIGHT_FORMATS = {"float16": torch.float16, "int8-weights": torch.int8}


def export_weights(
    checkpoint: str | Path,
    out: str | Path,
    store_path: str | Path,
    reference: str | Path | None = None,
    device: str = "auto",
    average_reversed: bool = False,
    sources: Sequence[str | Path] = (),
    name: str | None = None,
    average_resampled: bool = False,
    dtype: torch.dtype = torch.float16,
) -> dict[str, Any]:
    """Write `checkpoint` to `out` with float16 weights (`dtype` int8: int8 weight matrices,
    a scale per row, the rest float16; half the file, the same compute once loaded), and a
    card whose metrics add the test split of `store_path` (and, for image-raster models, the
    authors' samples at `reference`), measured on those stored weights. With
    `average_reversed`, the exported model averages its predictions for each input and for
    the input reversed (see `pinet.nets.base`); with `average_resampled`, for each signal and
    the signal at twice its rate. The card also records the test metrics on each store of
    `sources` (`evaluate_by_source`). `name` renames the model in its card (a bundled model's
    is its folder's). Returns the full evaluation."""
    resolved = resolve_device(device)
    network, card = network_to_export(
        checkpoint, resolved, average_reversed, name, average_resampled, dtype
    )
    loaded = LoadedModel(card, TorchBackend(network, resolved))
    evaluation = evaluate_on_store(loaded, store_path, "test", reference)
    by_source = evaluate_by_source(loaded, sources) if sources else None
    card = measured_card(card, evaluation, store_path, by_source)
    save_checkpoint(network, card, out, dtype=dtype)
    return evaluation


def network_to_export(
    checkpoint: str | Path,
    device: torch.device,
    average_reversed: bool,
    name: str | None,
    average_resampled: bool = False,
    dtype: torch.dtype = torch.float16,
) -> tuple[PINet, ModelCard]:
    """`checkpoint`'s network as every export writes it, and its card: weights rounded to
    what a checkpoint of `dtype` stores (`round_to_stored`), so that the measured metrics
    are theirs, averaging its predictions over reversed inputs and over signals at twice
    their rate if asked (each refused for a recipe whose PIs that changes), renamed to
    `name` if given."""
    network, card = load_checkpoint(find_checkpoint(checkpoint), device)
    recipe = get_recipe(card.recipe.name, card.recipe.params)
    if average_reversed and recipe.spatial_symmetries == "none":
        raise ValueError(
            f"--average-reversed: {card.recipe.name}'s PIs change when an input is reversed, "
            "so averaging over reversed inputs would blur them"
        )
    if average_resampled and not (recipe.modality == "signal" and recipe.turning_points_only):
        raise ValueError(
            f"--average-resampled: {card.recipe.name}'s PIs depend on more than a signal's "
            "turning points, so a signal at twice its rate may have other PIs"
        )
    network.average_reversed = network.average_reversed or average_reversed
    network.average_resampled = network.average_resampled or average_resampled
    round_to_stored(network, dtype)
    return network, exported_card(card, network.architecture, name)


@torch.no_grad()
def round_to_stored(network: PINet, dtype: torch.dtype) -> None:
    """Round every floating-point weight and buffer of `network`, in place, to what a
    checkpoint of `dtype` (float16 or int8) stores and loads back (`as_stored`)."""
    if dtype not in WEIGHT_FORMATS.values():
        raise ValueError(f"exported weights are float16 or int8, not {dtype}")
    network.load_state_dict(as_stored(network, dtype))
