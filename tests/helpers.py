"""What tests across packages share: tiny networks, tiny checkpoints and tiny stores made by
the real code, and the record of a finished training run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from data_prep import job
from data_prep.sources.base import Source
from pinet.card import (
    DataSourceRef,
    MeasuredRuntime,
    ModelCard,
    RecipeRef,
    TrainingRanges,
)
from pinet.checkpoint import save_checkpoint
from pinet.export.onnx import (
    GRAPH_FILE,
    SEVEN_BIT_GRAPH_FILE,
    graph_reference,
    onnx_graph,
    quantized,
)
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
    seven_bit_metrics: dict[str, float] | None = None,
) -> Path:
    """A float16 checkpoint of a seeded, untrained tiny network at `folder`/`name`; with
    `onnx`, a float32 one whose card names its ONNX graph for onnxruntime; with
    `seven_bit_metrics`, whose card names an int8 graph and its 7-bit twin, with those
    metrics (both calibrated on random walks)."""
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
    if not onnx and seven_bit_metrics is None:
        save_checkpoint(network, card, folder / name, dtype=torch.float16)
        return folder / name
    graph = onnx_graph(network, torch.zeros((2, *input_shape)))
    if seven_bit_metrics is None:
        runtime = graph_reference(graph, "float32", GRAPH_FILE)
        save_checkpoint(network, card, folder / name, runtime=(runtime, graph))
        return folder / name
    walks = [torch.randn(8, *input_shape).cumsum(-1).numpy() for _ in range(2)]
    int8, twin = (quantized(graph, walks, reduce_range=seven) for seven in (False, True))
    twin_reference = MeasuredRuntime(
        **graph_reference(twin, "int8", SEVEN_BIT_GRAPH_FILE).model_dump(),
        metrics=seven_bit_metrics,
    )
    save_checkpoint(
        network,
        card,
        folder / name,
        runtime=(graph_reference(int8, "int8", GRAPH_FILE), int8),
        seven_bit_runtime=(twin_reference, twin),
    )
    return folder / name
