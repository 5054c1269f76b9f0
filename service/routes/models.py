"""What the service serves, and how its batchers are doing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import ReadyRegistryDep
from service.schemas import (
    DataSourceInfo,
    ErrorBody,
    ModelInfo,
    ModelList,
    ModelStats,
    RecipeInfo,
    StatsResponse,
    TrainingRangesInfo,
)
from service.serving.registry import ServedModel

# 503 while the models are still loading (ReadyRegistryDep).
_NOT_READY: dict[int | str, dict[str, Any]] = {503: {"model": ErrorBody}}
router = APIRouter(prefix="/models", tags=["models"], responses=_NOT_READY)
stats_router = APIRouter(prefix="/stats", tags=["models"], responses=_NOT_READY)


def model_info(served: ServedModel, default: bool) -> ModelInfo:
    card = served.card
    ranges = card.training_ranges
    return ModelInfo(
        name=card.name,
        modality=card.modality,
        family=card.family,
        channels=card.in_channels,
        per_channel=card.per_channel,
        average_reversed=bool(card.architecture.get("average_reversed", False)),
        average_resampled=bool(card.architecture.get("average_resampled", False)),
        input_shape=list(card.input_shape),
        min_input_size=card.min_input_size,
        recipe=RecipeInfo(name=served.recipe.name, params=served.recipe.params),
        metrics=card.metrics,
        source_metrics=card.source_metrics,
        training_ranges=None if ranges is None else TrainingRangesInfo(**ranges.model_dump()),
        data_source=DataSourceInfo(name=card.data_source.name, params=card.data_source.params),
        device=str(served.loaded.device),
        backend=served.loaded.backend.name,
        precision=served.loaded.backend.precision,
        runs_file=served.loaded.runs_file,
        parameters=served.parameters,
        default=default,
    )


@router.get("", response_model=ModelList)
def list_models(registry: ReadyRegistryDep) -> ModelList:
    """Every loaded model: its input, the exact recipe it imitates, its validation metrics."""
    defaults = set(registry.defaults.values())
    return ModelList(
        models=[model_info(registry.models[n], n in defaults) for n in sorted(registry.models)]
    )


@stats_router.get("", response_model=StatsResponse)
def batching_stats(registry: ReadyRegistryDep) -> StatsResponse:
    """Per model: requests, refusals (queue full), forward passes by batch size, queue depth."""
    return StatsResponse(
        models={
            name: ModelStats.model_validate(stats.as_dict())
            for name, stats in registry.stats().items()
        }
    )
