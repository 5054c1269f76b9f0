"""Save and load PI-Net weights as safetensors plus a JSON model card; never pickle.

A checkpoint is a directory holding two files:

    model.safetensors  every tensor of the model's state_dict: parameters and the BatchNorm
                       running statistics, stored as float32 or float16
    card.json          a ModelCard: which architecture (modality, channels, head, widths,
                       per_channel, average_reversed), what it was trained on (recipe,
                       data source, input shape), how well it does (metrics), how it was
                       made (training config, library versions)

Loading rebuilds the architecture from the card and fills it from the safetensors file, so no
code or pickled object is ever read from disk. Both files are written to temporary names and
renamed into place (weights first, card last); both carry the same random checkpoint id, so a
directory left with files from two different saves is detected on load instead of silently
pairing one card with another model's weights.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PositiveInt,
    ValidationError,
    model_validator,
)
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes
from torch import nn

from pinet.models import (
    ARCHITECTURE_FIELDS,
    MODEL_CLASSES,
    TRUNK_WIDTHS,
    HeadActivation,
    ImagePINet,
    Modality,
    SignalPINet,
    architecture,
    build_model,
    minimum_input_size,
)
from pinet.provenance import library_versions

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
# Key in the safetensors header metadata that ties the weights to their card.
CHECKPOINT_ID_KEY = "pinet.checkpoint_id"

StoredDtype = Literal["float32", "float16"]
_STORED_DTYPES: dict[torch.dtype, StoredDtype] = {
    torch.float32: "float32",
    torch.float16: "float16",
}
# One training input without the batch dim, per modality.
_INPUT_LAYOUTS: dict[str, tuple[str, ...]] = {"signal": ("C", "T"), "image": ("C", "H", "W")}
_MAX_LISTED = 8  # tensor names listed per kind of mismatch before "... and N more"


class CheckpointError(ValueError):
    """A checkpoint's files exist but are invalid or do not belong together."""


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


class ModelCard(BaseModel):
    """What a checkpoint's weights are, what they were trained on and how well they do.

    `input_shape` is one training input without the batch dim: (C, T) for signals,
    (C, H, W) for images. `min_input_size` is the smallest length (signals) or side (images)
    the model accepts; it defaults to the architecture's minimum and may only be stricter.
    `dtype` and `checkpoint_id` are set by `save_checkpoint`.
    """

    # NaN / inf metrics (a diverged run) are written as JSON constants rather than lost as null.
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    format_version: Literal[1] = 1
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    modality: Modality
    in_channels: PositiveInt
    head: HeadActivation = "relu"
    widths: Annotated[tuple[PositiveInt, ...], Field(min_length=1)] = TRUNK_WIDTHS
    per_channel: bool = False
    average_reversed: bool = False
    input_shape: tuple[PositiveInt, ...]
    min_input_size: PositiveInt
    recipe: RecipeRef
    data_source: DataSourceRef
    metrics: dict[str, float] = Field(default_factory=dict)
    training: dict[str, JsonValue] = Field(default_factory=dict)
    library_versions: dict[str, str] = Field(default_factory=library_versions)
    created: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    dtype: StoredDtype = "float32"
    checkpoint_id: str | None = None

    def architecture(self) -> dict[str, Any]:
        """The constructor options of the model this card describes (see `build_model`)."""
        return {name: getattr(self, name) for name in ARCHITECTURE_FIELDS}

    @model_validator(mode="before")
    @classmethod
    def _default_min_input_size(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("min_input_size") is None:
            widths = data.get("widths", TRUNK_WIDTHS)
            if isinstance(widths, list | tuple) and widths:
                data = {**data, "min_input_size": minimum_input_size(tuple(widths))}
        return data

    @model_validator(mode="after")
    def _check_consistency(self) -> ModelCard:
        model_class = MODEL_CLASSES[self.modality]
        layout = _INPUT_LAYOUTS[self.modality]
        if len(self.input_shape) != len(layout):
            raise ValueError(
                f"input_shape {self.input_shape} does not fit modality {self.modality!r}: "
                f"expected ({', '.join(layout)})"
            )
        if self.input_shape[0] != self.in_channels:
            raise ValueError(
                f"input_shape {self.input_shape} has {self.input_shape[0]} channels "
                f"but in_channels is {self.in_channels}"
            )
        if self.min_input_size < minimum_input_size(self.widths):
            raise ValueError(
                f"min_input_size {self.min_input_size} is below the {model_class.__name__} "
                f"minimum of {minimum_input_size(self.widths)} for {len(self.widths)} blocks"
            )
        if min(self.input_shape[1:]) < self.min_input_size:
            raise ValueError(
                f"input_shape {self.input_shape} is smaller than min_input_size "
                f"{self.min_input_size}"
            )
        return self


def save_checkpoint(
    model: nn.Module,
    card: ModelCard,
    directory: str | os.PathLike[str],
    dtype: torch.dtype = torch.float32,
) -> ModelCard:
    """Write `model`'s weights and `card` to `directory` (created if needed); return the card
    as written, with `dtype` and a fresh `checkpoint_id` filled in.

    Every state_dict tensor is stored, BatchNorm running statistics included; floating-point
    tensors are cast to `dtype` (float32 or float16), integer ones (BatchNorm's batch counter)
    kept as they are. Everything is checked and serialised before the first byte is written,
    and each file appears under its final name only once complete, so an error or a kill
    never leaves a half-written file. An existing checkpoint in `directory` is replaced.
    """
    if dtype not in _STORED_DTYPES:
        raise ValueError(f"weights can be stored as float32 or float16; got {dtype}")
    _check_model_matches_card(model, card)
    card = card.model_copy(
        update={"dtype": _STORED_DTYPES[dtype], "checkpoint_id": uuid.uuid4().hex}
    )
    weights = safetensors_bytes(
        _tensors_to_store(model, dtype), metadata={CHECKPOINT_ID_KEY: card.checkpoint_id}
    )
    card_json = (card.model_dump_json(indent=2) + "\n").encode()

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _write_files_atomically({directory / WEIGHTS_FILE: weights, directory / CARD_FILE: card_json})
    return card


def read_card(directory: str | os.PathLike[str]) -> ModelCard:
    """The ModelCard of the checkpoint in `directory`, without touching the weights."""
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CARD_FILE} in {directory}; is it a pinet checkpoint?")
    try:
        return ModelCard.model_validate_json(path.read_bytes())
    except ValidationError as error:
        raise CheckpointError(f"{path} is not a valid model card: {error}") from error


def load_checkpoint(
    directory: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[SignalPINet | ImagePINet, ModelCard]:
    """Rebuild the model described by `directory`/card.json, fill it with the weights of
    `directory`/model.safetensors (as float32) and return it in eval mode on `device`,
    with its card. Reads only JSON and safetensors: nothing is unpickled.
    """
    directory = Path(directory)
    card = read_card(directory)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_FILE} in {directory}; the checkpoint is incomplete")
    try:
        with safe_open(weights_path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            stored = {key: f.get_tensor(key) for key in f.keys()}
    except SafetensorError as error:
        message = f"{weights_path} is not a readable safetensors file: {error}"
        raise CheckpointError(message) from error

    saved_id = metadata.get(CHECKPOINT_ID_KEY)
    if card.checkpoint_id is not None and saved_id != card.checkpoint_id:
        raise CheckpointError(
            f"{weights_path} and {CARD_FILE} in {directory} come from different saves "
            f"(checkpoint ids {saved_id} and {card.checkpoint_id}), e.g. an interrupted "
            "overwrite; save the checkpoint again"
        )
    model = build_model(card.modality, **card.architecture())
    _check_tensors_match(model, stored, card, weights_path)
    model.load_state_dict(
        {key: t.float() if t.is_floating_point() else t for key, t in stored.items()}
    )
    return model.to(device).eval(), card


def _check_model_matches_card(model: nn.Module, card: ModelCard) -> None:
    """Refuse to save a card that would rebuild a different architecture than `model`."""
    expected = MODEL_CLASSES[card.modality]
    if type(model) is not expected:
        raise ValueError(
            f"card {card.name!r} describes a {expected.__name__} but the model is a "
            f"{type(model).__name__} (unwrap torch.compile / DDP wrappers before saving)"
        )
    assert isinstance(model, SignalPINet | ImagePINet)
    built, described = architecture(model), tuple(card.architecture().values())
    if built != described:
        raise ValueError(
            f"card {card.name!r} says {', '.join(ARCHITECTURE_FIELDS)} = {described} "
            f"but the model has {built}"
        )


def _tensors_to_store(model: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The model's state_dict on the CPU, floating-point tensors cast to `dtype`."""
    tensors = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            cast = tensor.to(dtype)
            if (torch.isfinite(tensor) & ~torch.isfinite(cast)).any():
                raise ValueError(
                    f"tensor {key!r} does not fit in {dtype} (max |x| = "
                    f"{tensor.abs().max().item():.4g}); save it as float32"
                )
            tensor = cast
        tensors[key] = tensor.contiguous()
    return tensors


def _check_tensors_match(
    model: nn.Module, stored: dict[str, torch.Tensor], card: ModelCard, weights_path: Path
) -> None:
    """Raise CheckpointError naming every tensor the card's architecture and the file
    disagree on: missing, unexpected, wrong shape, or not in the card's dtype."""
    expected = model.state_dict()
    problems = []
    missing = [key for key in expected if key not in stored]
    unexpected = [key for key in stored if key not in expected]
    wrong_shape = [
        f"{key} stored {tuple(stored[key].shape)}, expected {tuple(t.shape)}"
        for key, t in expected.items()
        if key in stored and stored[key].shape != t.shape
    ]
    wrong_dtype = [
        f"{key} stored as {t.dtype}"
        for key, t in stored.items()
        if t.is_floating_point() and _STORED_DTYPES.get(t.dtype) != card.dtype
    ]
    for label, names in (
        ("missing tensors", missing),
        ("unexpected tensors", unexpected),
        ("shape mismatches", wrong_shape),
        (f"not stored as {card.dtype} as the card says", wrong_dtype),
    ):
        if names:
            more = f", ... and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
            problems.append(f"  {label}: {', '.join(names[:_MAX_LISTED])}{more}")
    if problems:
        raise CheckpointError(
            f"{weights_path} does not match the architecture its card describes "
            f"({MODEL_CLASSES[card.modality].__name__}, in_channels={card.in_channels}, "
            f"head={card.head!r}, per_channel={card.per_channel}):\n" + "\n".join(problems)
        )


def _write_files_atomically(files: dict[Path, bytes]) -> None:
    """Write each file under a temporary name in its directory, then rename them into place
    in order. A reader sees either an old file or a complete new one, never a partial one."""
    temporary: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            temporary[path] = temp
            with open(temp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for path, temp in temporary.items():
            os.replace(temp, path)
    finally:
        for temp in temporary.values():
            temp.unlink(missing_ok=True)
    _fsync_directory(next(iter(files)).parent)


def _fsync_directory(directory: Path) -> None:
    """Make the renames durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
