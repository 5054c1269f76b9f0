"""Request and response bodies, declared once and shared by the routes and the OpenAPI docs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    WithJsonSchema,
)

from pinet.modality import Modality


def _nested_numbers(depth: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "number"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


# PIs travel as float32 arrays until orjson writes them (service/responses.py); the OpenAPI
# schema shows them as the nested lists of numbers the JSON holds.
PIStack = Annotated[np.ndarray, WithJsonSchema(_nested_numbers(3))]
PIBatch = Annotated[np.ndarray, WithJsonSchema(_nested_numbers(4))]
# A persistence diagram: (k, 2) float64 (birth, death) pairs, written by orjson too.
Diagram = Annotated[np.ndarray, WithJsonSchema(_nested_numbers(2))]
# The homology dimension of each pair of a diagram: (k,) integers.
PairDimensions = Annotated[
    np.ndarray, WithJsonSchema({"type": "array", "items": {"type": "integer"}})
]
_ARRAYS = ConfigDict(arbitrary_types_allowed=True)


class ErrorBody(BaseModel):
    """Every error response: a message saying what to change."""

    detail: str


class Status(BaseModel):
    status: Literal["ok", "ready"]


class SignalRequest(BaseModel):
    """A signal as JSON: C channels of T samples each."""

    model_config = ConfigDict(extra="forbid")

    # Strict types: true and "1.5" are no samples, and "yes" is no JSON boolean.
    signal: list[list[StrictFloat]] = Field(
        description="(C, T): one list of samples per channel", examples=[[[0.0, 1.0, 0.5]]]
    )
    model: str | None = Field(
        default=None, description="model name; default: the first signal model"
    )
    compare: StrictBool = Field(
        default=False, description="also compute the exact PI with the model's recipe"
    )


class RecipeInfo(BaseModel):
    name: str
    params: dict[str, JsonValue]


class DataSourceInfo(RecipeInfo):
    """The training data: a source with its options, or 'mixture' with its components."""


class TrainingRangesInfo(BaseModel):
    channels: tuple[int, int] = Field(description="(fewest, most) channels")
    sizes: tuple[int, int] = Field(description="(shortest, longest) length or side")


class ModelInfo(BaseModel):
    """A served model: what it takes, what it imitates and how well it does."""

    name: str
    modality: Modality
    family: str = Field(description="the architecture family of the network (pinet.nets)")
    channels: int = Field(description="channels of the training input")
    per_channel: bool = Field(
        description="one network applied to each channel: inputs of any channel count"
    )
    average_reversed: bool = Field(
        description="predicts each input and its reversal (the same exact PI) and averages"
    )
    average_resampled: bool = Field(
        description="signals: also predicts each window at twice its rate, linearly "
        "interpolated (the same exact PI), and averages"
    )
    input_shape: list[int] = Field(description="the training input: (C, T) or (C, H, W)")
    min_input_size: int = Field(description="smallest accepted length (signals) or side")
    recipe: RecipeInfo
    metrics: dict[str, float] = Field(
        description="the model card's metrics: validation, and test metrics of the file that runs"
    )
    source_metrics: dict[str, dict[str, float]] = Field(
        description="test metrics on each source measured, by store: mse_vs_mean_pi is the "
        "MSE over that source's mean-training-PI MSE (1.0: no better than a constant)"
    )
    training_ranges: TrainingRangesInfo | None = Field(
        description="channel counts and lengths or sides seen in training (null: not "
        "recorded); inputs outside get a note"
    )
    data_source: DataSourceInfo
    device: str
    backend: str = Field(description="what runs the forward pass, e.g. torch")
    precision: str = Field(description="the arithmetic of a forward pass, e.g. float32")
    runs_file: str = Field(
        description="the checkpoint file the forward pass runs: model.safetensors (torch), "
        "model.onnx, or model-7bit.onnx (an int8 graph's 7-bit twin, on CPUs whose 8-bit "
        "sums can saturate); metrics and source_metrics are that file's"
    )
    parameters: int = Field(description="weights of the network: its forward pass's cost")
    default: bool = Field(
        description="answers the requests of its modality that name no model "
        "(PINET_DEFAULT_MODELS, else on CUDA the most accurate, on a CPU the smallest)"
    )


class ModelList(BaseModel):
    models: list[ModelInfo]


class ModelRef(BaseModel):
    name: str
    recipe: RecipeInfo


class Timing(BaseModel):
    pinet_ms: float = Field(description="the forward pass of the batch holding this input")
    batch_size: int = Field(description="how many requests shared that forward pass")
    queue_ms: float = Field(description="time waiting for the forward pass to start")


class ExactPI(BaseModel):
    model_config = _ARRAYS

    pi: PIStack = Field(description="(C, 50, 50) exact PIs")
    diagram_ms: float
    image_ms: float


class PIResponse(BaseModel):
    """The learned PIs of one input, and with compare=true the exact ones beside them."""

    model_config = _ARRAYS

    pi: PIStack = Field(description="(C, 50, 50) PIs in [0, 1]")
    shape: list[int]
    model: ModelRef
    timing: Timing
    notes: list[str] = Field(
        default_factory=list,
        description="how the input was adapted, whether it lies outside the model's "
        "training range, and (sublevel signal models) which channels reach "
        "PINET_FAR_VALUE_Z or more standard deviations from their mean",
    )
    exact: ExactPI | None = None
    speedup: float | None = Field(default=None, description="exact ms / pinet ms")
    mse: float | None = Field(default=None, description="mean squared error, pinet vs exact")


class BatchTiming(BaseModel):
    total_ms: float = Field(description="every forward pass of the batch, waits included")
    per_sample_ms: float = Field(description="total_ms / N")
    forward_passes: int = Field(description="passes of at most PINET_MAX_BATCH_SIZE inputs")


class BatchPIResponse(BaseModel):
    """The learned PIs of a batch of N inputs, in the order sent."""

    model_config = _ARRAYS

    pis: PIBatch = Field(description="(N, C, 50, 50) PIs in [0, 1]")
    shape: list[int]
    model: ModelRef
    timing: BatchTiming
    notes: list[str] = Field(
        default_factory=list,
        description="whether the inputs lie outside the training range, and (sublevel signal "
        "models) which have channels reaching PINET_FAR_VALUE_Z or more standard deviations "
        "from their mean",
    )


class ModelStats(BaseModel):
    requests: int
    rejected: int
    batches: int
    mean_batch_size: float
    batch_sizes: dict[str, int] = Field(description="batch size -> number of forward passes")
    queue_depth: int
    max_queue_depth: int


class StatsResponse(BaseModel):
    models: dict[str, ModelStats]


class RecipeSpec(BaseModel):
    """A recipe of pinet.tda.RECIPES: what it takes and its parameters' defaults."""

    name: str
    modality: Modality
    params: dict[str, JsonValue] = Field(description="every parameter, at its default")
    homology_dimensions: list[int] = Field(
        description="the homology dimensions its diagrams hold, with the default parameters"
    )


class RecipeList(BaseModel):
    recipes: list[RecipeSpec]


class SignalTopologyRequest(BaseModel):
    """A signal as JSON, C channels of T samples each, and the recipe to apply to it."""

    model_config = ConfigDict(extra="forbid")

    # Strict numbers, as the PI routes' (`SignalRequest`).
    signal: list[list[StrictFloat]] = Field(
        description="(C, T): one list of samples per channel", examples=[[[0.0, 1.0, 0.5]]]
    )
    recipe: str | None = Field(
        default=None, description="recipe name (GET /v1/recipes); default: signal-sublevel"
    )
    # Any, not JsonValue: the route inlines this schema in its OpenAPI body, which cannot
    # hold JsonValue's $defs; the recipe checks each parameter's type itself.
    params: dict[str, Any] = Field(
        default_factory=dict, description="recipe parameters; the others keep their defaults"
    )


class TopologyTiming(BaseModel):
    diagram_ms: float = Field(description="the persistence diagrams of every channel")
    image_ms: float = Field(description="the persistence images of those diagrams")


class TopologyResponse(BaseModel):
    """The exact topology of one input by one recipe: diagrams and PIs, per channel."""

    model_config = _ARRAYS

    recipe: RecipeInfo = Field(description="the recipe's name and all its parameters")
    homology_dimensions: list[int] = Field(description="the dimensions the diagrams hold")
    diagrams: list[Diagram] = Field(
        description="per channel, the finite (birth, death) pairs, merged over dimensions"
    )
    dimensions: list[PairDimensions] = Field(
        description="per channel, the homology dimension of each pair of `diagrams`, in their order"
    )
    pi: PIStack = Field(
        description="(C, R, R) exact PIs in [0, 1], float32; R = 50 (PI-Net's) "
        "unless the recipe has a `resolution`"
    )
    shape: list[int]
    timing: TopologyTiming
    notes: list[str] = Field(default_factory=list, description="how the input was adapted")
