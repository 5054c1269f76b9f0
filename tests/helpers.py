"""What tests across packages share: tiny networks, tiny checkpoints and tiny stores made by
the real code, and the record of a finished training run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from data_prep import job
from data_prep.sources.base import Source
from pinet.card import DataSourceRef, ModelCard, RecipeRef, RuntimeRef, TrainingRanges
from pinet.checkpoint import save_checkpoint
from pinet.export.onnx import onnx_graph
from pinet.nets import build_network
from pinet.tda import get_recipe
from pinet.train import TrainConfig

TINY_WIDTHS = (4, 8, 8, 16)  # filters of the four conv blocks of the test-sized PI-Nets
STORE_SAMPLES = 60  # per store: 42 HAPT windows over 21 training users, 48 photo crops
STORE_CHUNK = 16


@dataclass(frozen=True)
class TrainedRun:
    """A finished training run: its folder, the config it ran with and what `train` returned."""

    out: Path
    store: Path
    config: TrainConfig
    result: dict[str, Any]


def tiny_store(
    out: Path,
    source: Source,
    recipe: str,
    limit: int = STORE_SAMPLES,
    recipe_params: dict[str, Any] | None = None,
) -> Path:
    """A small ground-truth store made by the real job, inline."""
    job.run(
        source,
        get_recipe(recipe, recipe_params),
        out,
        limit=limit,
        chunk_size=STORE_CHUNK,
        workers=1,
        progress=False,
    )
    return out


def tiny_checkpoint(
    folder: Path,
    name: str,
    modality: str,
    input_shape: tuple[int, ...],
    recipe: str,
    *,
    per_channel: bool = False,
    average_reversed: bool = False,
    average_resampled: bool = False,
    metrics: dict[str, float] | None = None,
    onnx: bool = False,
    recipe_params: dict[str, Any] | None = None,
) -> Path:
    """A float16 checkpoint of a seeded, untrained tiny network at `folder`/`name`; with
    `onnx`, a float32 one whose card names its ONNX graph for onnxruntime."""
    torch.manual_seed(0)
    network = build_network(
        modality,
        input_shape[0],
        per_channel=per_channel,
        widths=TINY_WIDTHS,
        average_reversed=average_reversed,
        average_resampled=average_resampled,
    )
    card = ModelCard.describing(
        network,
        name=name,
        input_shape=input_shape,
        recipe=RecipeRef(name=recipe, params=get_recipe(recipe, recipe_params).params),
        data_source=DataSourceRef(name="synthetic"),
        training_ranges=TrainingRanges(
            channels=(input_shape[0], input_shape[0]),
            sizes=(min(input_shape[1:]), max(input_shape[1:])),
        ),
        metrics=metrics or {},
    )
    if not onnx:
        save_checkpoint(network, card, folder / name, dtype=torch.float16)
        return folder / name
    graph = onnx_graph(network, torch.zeros((2, *input_shape)))
    runtime = RuntimeRef(
        backend="onnxruntime",
        precision="float32",
        file="model.onnx",
        sha256=hashlib.sha256(graph).hexdigest(),
    )
    save_checkpoint(network, card, folder / name, runtime=(runtime, graph))
    return folder / name
