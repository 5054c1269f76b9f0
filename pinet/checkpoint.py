"""Save and load PI-Net weights as safetensors plus a JSON model card; never pickle.

A checkpoint is a directory holding two files, and maybe a third:

    model.safetensors  every tensor of the model's state_dict: parameters and the BatchNorm
                       running statistics, stored as float32 or float16; or as int8 weights,
                       where every weight matrix (a convolution's or the head's) is int8
                       with a float32 scale per output row beside it (`ROW_SCALES_SUFFIX`)
                       and every other tensor float16: about half a float16 file
    card.json          a ModelCard (`pinet.card`): which network (family, modality,
                       channels, the family's architecture options), what it was trained on
                       (recipe, data source, input shape), how well it does (metrics), how
                       it was made (training config, library versions)
    model.onnx, ...    a runtime file the card names (`RuntimeRef`), e.g. the ONNX graph
                       onnxruntime runs, with its sha256 in the card; an int8 graph may
                       have a 7-bit twin beside it (`ModelCard.seven_bit_runtime`)

Loading rebuilds the network from the card (`pinet.nets.build_network`) and fills it from the
safetensors file, so no code or pickled object is ever read from disk. Both files are
written to temporary names and renamed into place (weights first, card last); both carry the
same random checkpoint id, so a directory left with files from two different saves is
detected on load instead of silently pairing one card with another model's weights.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from pinet.atomic import write_atomically
from pinet.card import MeasuredRuntime, ModelCard, RuntimeRef, StoredDtype, network_fields
from pinet.nets import PINet
from pinet.validation import describe_validation_error

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "card.json"
# Key in the safetensors header metadata that ties the weights to their card.
CHECKPOINT_ID_KEY = "pinet.checkpoint_id"

_STORED_DTYPES: dict[torch.dtype, StoredDtype] = {
    torch.float32: "float32",
    torch.float16: "float16",
    torch.int8: "int8",
}
# In an int8 checkpoint, the key of a matrix's per-row scales is the matrix's key + this.
ROW_SCALES_SUFFIX = ".row_scales"
INT8_LEVELS = 127  # symmetric: a row's largest |weight| becomes +-127
_FLOATS_BESIDE_INT8 = torch.float16  # the dtype of an int8 checkpoint's other float tensors
_MAX_LISTED = 8  # tensor names listed per kind of mismatch before "... and N more"


class CheckpointError(ValueError):
    """A checkpoint's files exist but are invalid or do not belong together."""


def save_checkpoint(
    model: PINet,
    card: ModelCard,
    directory: str | os.PathLike[str],
    dtype: torch.dtype = torch.float32,
    runtime: tuple[RuntimeRef, bytes] | None = None,
    seven_bit_runtime: tuple[MeasuredRuntime, bytes] | None = None,
) -> ModelCard:
    """Write `model`'s weights and `card` to `directory` (created if needed); return the card
    as written, with `dtype` and a fresh `checkpoint_id` filled in, and with `runtime` and
    `seven_bit_runtime` (each a reference and the bytes of its file) stored beside them when
    given: the card names those runtime files and no other (a card copied from an exported
    checkpoint's does not keep naming its files).

    Every state_dict tensor is stored, BatchNorm running statistics included; floating-point
    tensors are cast to `dtype` (float32 or float16; int8: weight matrices quantized per row
    by `quantize_rows`, the rest float16), integer ones (BatchNorm's batch counter) kept as they
    are. Everything is checked and serialised before the first byte is written,
    and each file appears under its final name only once complete, so an error or a kill
    never leaves a half-written file. An existing checkpoint in `directory` is replaced.
    """
    stored_dtype = _stored_dtype(dtype)
    check_model_matches_card(model, card)
    card = card.model_copy(
        update={
            "dtype": stored_dtype,
            "checkpoint_id": uuid.uuid4().hex,
            "runtime": None,
            "seven_bit_runtime": None,
        }
    )
    weights = safetensors_bytes(
        _tensors_to_store(model, dtype), metadata={CHECKPOINT_ID_KEY: card.checkpoint_id}
    )
    directory = Path(directory)
    files = {directory / WEIGHTS_FILE: weights}
    if seven_bit_runtime is not None and runtime is None:
        raise ValueError("a 7-bit runtime stands in for a main runtime: give that one too")
    for field, given in (("runtime", runtime), ("seven_bit_runtime", seven_bit_runtime)):
        if given is None:
            continue
        reference, data = given
        if hashlib.sha256(data).hexdigest() != reference.sha256:
            raise ValueError(f"{reference.file} does not have the sha256 its reference says")
        if directory / reference.file in files:
            raise ValueError(f"two files of the checkpoint are named {reference.file}")
        files[directory / reference.file] = data
        card = card.model_copy(update={field: reference})
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(files | {directory / CARD_FILE: card_bytes(card)})  # the card last
    return card


def runtime_file(directory: str | os.PathLike[str], runtime: RuntimeRef) -> bytes:
    """The bytes of a runtime file a card names, checked against the card's sha256."""
    path = Path(directory) / runtime.file
    if not path.is_file():
        raise FileNotFoundError(f"no {runtime.file} in {directory}; the checkpoint is incomplete")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != runtime.sha256:
        raise CheckpointError(
            f"{path} is not the file its card names (sha256 differs), e.g. an interrupted "
            "overwrite; export the checkpoint again"
        )
    return data


def card_bytes(card: ModelCard) -> bytes:
    """The card as its card.json holds it."""
    return (card.model_dump_json(indent=2) + "\n").encode()


def read_card(directory: str | os.PathLike[str]) -> ModelCard:
    """The ModelCard of the checkpoint in `directory`, without touching the weights."""
    path = Path(directory) / CARD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CARD_FILE} in {directory}; is it a pinet checkpoint?")
    try:
        return ModelCard.model_validate_json(path.read_bytes())
    except ValidationError as error:
        detail = describe_validation_error(error.errors())
        raise CheckpointError(f"{path} is not a valid model card: {detail}") from error


def load_checkpoint(
    directory: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[PINet, ModelCard]:
    """Rebuild the network described by `directory`/card.json, fill it with the weights of
    `directory`/model.safetensors (as float32; int8 matrices times their row scales) and
    return it in eval mode on `device`, with its card. Reads only JSON and safetensors:
    nothing is unpickled.
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
    try:
        # Shapes only, on the meta device: the card's architecture is checked against the
        # file before any memory is spent on it (a card claiming 10^9 filters fails here).
        with torch.device("meta"):
            skeleton = card.build_network()
        check_model_matches_card(skeleton, card)
    except ValueError as error:
        raise CheckpointError(f"{directory / CARD_FILE}: {error}") from error
    tensors, wrong_dtype = _decoded(stored, card.dtype)
    _check_tensors_match(skeleton, tensors, wrong_dtype, card, weights_path)
    model = card.build_network()
    model.load_state_dict(tensors)
    return model.to(device).eval(), card


def check_model_matches_card(model: PINet, card: ModelCard) -> None:
    """ValueError unless `card` describes `model`: the same family, modality, channels and
    architecture, and a minimum input size no smaller than the network's."""
    if not isinstance(model, PINet):
        raise ValueError(
            f"card {card.name!r} describes a PINet but the model is a {type(model).__name__} "
            "(unwrap torch.compile / DDP wrappers before saving)"
        )
    differences = [
        f"{name} {getattr(card, name)!r} (the model has {value!r})"
        for name, value in network_fields(model).items()
        if getattr(card, name) != value
    ]
    if differences:
        raise ValueError(f"card {card.name!r} says " + ", ".join(differences))
    if card.min_input_size < model.min_input_size:
        raise ValueError(
            f"card {card.name!r} has min_input_size {card.min_input_size}, below the "
            f"minimum of {model.min_input_size} of its {type(model).__name__}"
        )


def quantize_rows(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`matrix` `(rows, ...)` as int8 values and one float32 scale per row (its largest
    |value| / 127; 1 for an all-zero row), so that values x scale approximate it: symmetric
    per-output-channel weight quantization, exact for a row's largest entry."""
    flat = matrix.detach().float().reshape(matrix.shape[0], -1)
    largest = flat.abs().amax(dim=1)
    scales = torch.where(largest > 0, largest / INT8_LEVELS, torch.ones_like(largest))
    values = torch.round(flat / scales[:, None]).clamp_(-INT8_LEVELS, INT8_LEVELS)
    return values.to(torch.int8).reshape(matrix.shape), scales


def dequantize_rows(values: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """The float32 matrix that int8 `values` and their per-row `scales` stand for."""
    return values.float() * scales.float().reshape(-1, *([1] * (values.ndim - 1)))


def as_stored(model: PINet, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """`model`'s state_dict as a checkpoint saved with `dtype` gives it back on load (on the
    CPU, floating-point tensors float32): what an export measures, so that a card's metrics
    are those of the weights it ships with. ValueError for a tensor `dtype` cannot hold."""
    return _decoded(_tensors_to_store(model, dtype), _stored_dtype(dtype))[0]


def _stored_dtype(dtype: torch.dtype) -> StoredDtype:
    """The card's name for weights stored as `dtype`; ValueError for one never stored."""
    if dtype not in _STORED_DTYPES:
        raise ValueError(f"weights can be stored as float32, float16 or int8; got {dtype}")
    return _STORED_DTYPES[dtype]


def _tensors_to_store(model: PINet, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The model's state_dict on the CPU, floating-point tensors cast to `dtype` (int8: each
    weight matrix, a parameter of two or more dimensions, quantized per row, its scales
    under its key + ROW_SCALES_SUFFIX; every other floating-point tensor float16)."""
    matrices = {key for key, p in model.named_parameters() if p.ndim >= 2}
    tensors = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype == torch.int8 and key in matrices:
            tensor, tensors[key + ROW_SCALES_SUFFIX] = quantize_rows(tensor)
        elif tensor.is_floating_point():
            cast = tensor.to(_FLOATS_BESIDE_INT8 if dtype == torch.int8 else dtype)
            if (torch.isfinite(tensor) & ~torch.isfinite(cast)).any():
                raise ValueError(
                    f"tensor {key!r} does not fit in {cast.dtype} (max |x| = "
                    f"{tensor.abs().max().item():.4g}); save it as float32"
                )
            tensor = cast
        tensors[key] = tensor.contiguous()
    return tensors


def _decoded(
    stored: dict[str, torch.Tensor], dtype: StoredDtype
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state_dict tensors that `stored` (a file's tensors, saved as `dtype`) holds,
    floating-point ones as float32, and each stored tensor that is not in the form `dtype`
    says (an int8 matrix without its scales, scales without their matrix or of another
    length, a float tensor in another dtype)."""
    int8 = dtype == "int8"
    float_dtype = _STORED_DTYPES[_FLOATS_BESIDE_INT8] if int8 else dtype
    tensors, wrong = {}, []
    for key, tensor in stored.items():
        if int8 and key.endswith(ROW_SCALES_SUFFIX):
            matrix = stored.get(key.removesuffix(ROW_SCALES_SUFFIX))
            if matrix is None or matrix.dtype != torch.int8:
                wrong.append(f"{key} scales no int8 matrix")
            elif tensor.dtype != torch.float32 or tensor.shape != matrix.shape[:1]:
                wrong.append(f"{key} is not {matrix.shape[0]} float32 scales")
        elif int8 and tensor.dtype == torch.int8:
            scales = stored.get(key + ROW_SCALES_SUFFIX)
            if scales is None or scales.shape != tensor.shape[:1] or tensor.ndim < 2:
                wrong.append(f"{key} stored as int8 without a scale per row")
            else:
                tensors[key] = dequantize_rows(tensor, scales)
        elif tensor.is_floating_point():
            if _STORED_DTYPES.get(tensor.dtype) != float_dtype:
                wrong.append(f"{key} stored as {tensor.dtype}")
            tensors[key] = tensor.float()
        else:
            tensors[key] = tensor
    return tensors, wrong


def _check_tensors_match(
    model: PINet,
    tensors: dict[str, torch.Tensor],
    wrong_dtype: list[str],
    card: ModelCard,
    weights_path: Path,
) -> None:
    """Raise CheckpointError naming every tensor the card's architecture and the file
    disagree on: missing, unexpected, wrong shape, or (`wrong_dtype`, from `_decoded`) not
    in the card's dtype."""
    expected = model.state_dict()
    problems = []
    missing = [key for key in expected if key not in tensors]
    unexpected = [key for key in tensors if key not in expected]
    wrong_shape = [
        f"{key} stored {tuple(tensors[key].shape)}, expected {tuple(t.shape)}"
        for key, t in expected.items()
        if key in tensors and tensors[key].shape != t.shape
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
            f"({type(model).__name__}, in_channels={card.in_channels}, "
            f"per_channel={card.per_channel}, {card.architecture}):\n" + "\n".join(problems)
        )
