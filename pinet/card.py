"""The model card: what a checkpoint's weights are, what they were trained on, how well they
do and how they were made, as JSON (card.json). Validated on read; format 1 cards (the
"pinet" family's options at the top level) are read as the format 2 card that says the same.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PositiveInt,
    field_validator,
    model_validator,
)

from pinet.modality import INPUT_AXES, Modality, layout
from pinet.nets import (
    DEFAULT_FAMILY,
    TRUNK_WIDTHS,
    PINet,
    build_network,
    minimum_input_size,
)
from pinet.provenance import library_versions

# A model's name and a checkpoint's file names: one path component, never hidden or "..".
SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

StoredDtype = Literal["float32", "float16", "int8"]
# Format 1 cards kept the "pinet" family's options at the top level, with these defaults.
_V1_ARCHITECTURE = {"head": "relu", "widths": list(TRUNK_WIDTHS), "average_reversed": False}


class RecipeRef(BaseModel):
    """The ground-truth recipe the targets were computed with, e.g. 'signal-sublevel'."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    params: dict[str, JsonValue] = Field(default_factory=dict)


class DataSourceRef(BaseModel):
    """Where the training inputs came from, e.g. 'hapt' with its window length and users."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    params: dict[str, JsonValue] = Field(default_factory=dict)


class TrainingRanges(BaseModel):
    """What the training inputs spanned: channel counts, and lengths (signals) or sides
    (images), each as (smallest, largest). An input outside them is extrapolation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[PositiveInt, PositiveInt]
    sizes: tuple[PositiveInt, PositiveInt]

    def outside(self, shape: tuple[int, ...]) -> str | None:
        """Why one input `(C, *S)` is outside these ranges, or None when it is inside. Only
        sizes count: a whole-input model refuses other channel counts, and a per-channel one
        sees one channel at a time."""
        sides = shape[1:]
        low, high = self.sizes
        if low <= min(sides) and max(sides) <= high:
            return None
        return f"size {'x'.join(map(str, sides))} (trained on {_span(self.sizes)})"


def _span(bounds: tuple[int, int]) -> str:
    return str(bounds[0]) if bounds[0] == bounds[1] else f"{bounds[0]}-{bounds[1]}"


class RuntimeRef(BaseModel):
    """A compiled form of the model that another backend runs (`pinet.inference.BACKENDS`),
    e.g. an ONNX graph for onnxruntime, stored in the checkpoint beside the weights; `sha256`
    ties the file to the card."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = Field(min_length=1)
    precision: str = Field(min_length=1)
    file: str = Field(pattern=SAFE_NAME)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class MeasuredRuntime(RuntimeRef):
    """A runtime file a checkpoint holds beside its card's main one, with the test metrics
    of exactly that file (the card's own `metrics` and `source_metrics` are the main one's)."""

    metrics: dict[str, float]
    source_metrics: dict[str, dict[str, float]] = Field(default_factory=dict)


class ModelCard(BaseModel):
    """What a checkpoint's weights are, what they were trained on and how well they do.

    The input contract, which a model can be served by without building it: `modality`,
    `in_channels` (any count is accepted when `per_channel`), `input_shape` (one training
    input without the batch dim: (C, T) or (C, H, W)) and `min_input_size` (the smallest
    length or side accepted: the network's minimum, or stricter). The network itself:
    `family` and its `architecture` options. `dtype` and `checkpoint_id` are set by
    `save_checkpoint`. Build one for a network with `ModelCard.describing`.
    """

    # NaN / inf metrics (a diverged run) are written as JSON constants rather than lost as null.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    format_version: Literal[2] = 2
    name: str = Field(pattern=SAFE_NAME)
    modality: Modality
    family: str = DEFAULT_FAMILY
    in_channels: PositiveInt
    per_channel: bool = False
    architecture: dict[str, JsonValue] = Field(default_factory=dict)
    input_shape: tuple[PositiveInt, ...]
    min_input_size: PositiveInt
    recipe: RecipeRef
    data_source: DataSourceRef
    # None on cards written before ranges were recorded: then nothing is known to be outside.
    training_ranges: TrainingRanges | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    # Test metrics on each source measured (`pinet.train.evaluate_by_source`), by store label.
    source_metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    training: dict[str, JsonValue] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=library_versions)
    created: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    dtype: StoredDtype = "float32"
    checkpoint_id: str | None = None
    # The backend that runs this checkpoint by default, when not the torch network itself.
    runtime: RuntimeRef | None = None
    # The int8 graph with 7-bit weights, which onnxruntime runs in place of `runtime` on x86
    # CPUs without VNNI (`pinet.device.int8_sums_saturate`), where the 8-bit graph's sums
    # can saturate (`pinet export --int8 --seven-bit-graph`).
    seven_bit_runtime: MeasuredRuntime | None = None

    @classmethod
    def describing(cls, network: PINet, **fields: Any) -> ModelCard:
        """The card of `network`: its family, modality, channels, architecture and minimum
        input size, with `fields` for the rest (name, input_shape, recipe, data_source, ...)."""
        return cls(**network_fields(network), min_input_size=network.min_input_size, **fields)

    @model_validator(mode="before")
    @classmethod
    def _upgrade_format_1(cls, data: Any) -> Any:
        """A format 1 card (the "pinet" family's options at the top level, min_input_size
        optional) read as the format 2 card that says the same."""
        if not isinstance(data, dict) or data.get("format_version") != 1:
            return data
        data = dict(data)
        architecture = {key: data.pop(key, default) for key, default in _V1_ARCHITECTURE.items()}
        if data.get("min_input_size") is None:
            data["min_input_size"] = minimum_input_size(tuple(architecture["widths"]))
        return data | {"format_version": 2, "family": DEFAULT_FAMILY, "architecture": architecture}

    @field_validator("architecture", mode="before")
    @classmethod
    def _as_json_values(cls, value: Any) -> Any:
        """Tuples (as a network reports its widths) become lists, as JSON stores them."""
        return json.loads(json.dumps(value)) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _check_consistency(self) -> ModelCard:
        axes = INPUT_AXES[self.modality]
        if len(self.input_shape) != len(axes):
            raise ValueError(
                f"input_shape {self.input_shape} does not fit modality {self.modality!r}: "
                f"expected {layout(self.modality)}"
            )
        if self.input_shape[0] != self.in_channels:
            raise ValueError(
                f"input_shape {self.input_shape} has {self.input_shape[0]} channels "
                f"but in_channels is {self.in_channels}"
            )
        if min(self.input_shape[1:]) < self.min_input_size:
            raise ValueError(
                f"input_shape {self.input_shape} is smaller than min_input_size "
                f"{self.min_input_size}"
            )
        return self

    def running(self, runtime: MeasuredRuntime) -> ModelCard:
        """This card as it describes `runtime` run in place of its main runtime: that file
        as its one runtime, with its metrics and, where measured, its metrics by source."""
        measured = runtime.model_dump(include=set(RuntimeRef.model_fields))
        return self.model_copy(
            update={
                "runtime": RuntimeRef(**measured),
                "seven_bit_runtime": None,
                "metrics": self.metrics | runtime.metrics,
                "source_metrics": runtime.source_metrics or self.source_metrics,
            }
        )

    def build_network(self) -> PINet:
        """A freshly initialised network of the architecture this card describes."""
        return build_network(
            self.modality,
            self.in_channels,
            family=self.family,
            per_channel=self.per_channel,
            **self.architecture,
        )


def network_fields(network: PINet) -> dict[str, Any]:
    """What a card records of a network's architecture, as the card holds it (JSON values)."""
    return {
        "family": network.family,
        "modality": network.modality,
        "in_channels": network.in_channels,
        "per_channel": network.per_channel,
        "architecture": json.loads(json.dumps(network.architecture)),
    }
