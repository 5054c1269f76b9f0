"""Request bodies to arrays: JSON signals, and .npy, .csv, PNG and JPEG uploads.

The decoding is pinet.io's (shared with the batch job); this module reads the request (JSON
or a multipart form with a file field 'file' and the fields 'model' and 'compare'), applies
the server's cost model (`service.limits`) to each input's shape before decoding it, and
turns every problem into an InputError: 413 for a limit, naming the setting that sets it,
415 for a format the route does not take, 422 for anything else malformed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from pinet.io import (
    NPY_MAGIC,
    TooLarge,
    UnsupportedFormat,
    decode_image,
    read_npy,
    signal_from_csv,
)
from pinet.modality import PLURALS, Modality, input_ndim, layout, with_channel_axis
from pinet.tda.inputs import as_images, as_signals
from pinet.validation import describe_validation_error
from service.errors import InputError
from service.limits import ShapeCheck, check_png_channels, input_limits
from service.schemas import SignalRequest
from service.settings import Settings

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
NO_BATCH_COMPARE = (
    "compare is not offered for batches: exact PIs take up to seconds per input, far longer "
    "than the learned ones; send inputs to compare one at a time to the single route"
)
# What a single-input upload may hold, by modality, as error messages name it.
_UPLOADS: dict[Modality, str] = {
    "signal": "a .npy or .csv signal (or send JSON as application/json)",
    "image": "a PNG, JPEG or .npy image",
}


JsonSignal = TypeVar("JsonSignal", bound=BaseModel)


@dataclass(frozen=True)
class PIRequest:
    """What a PI request asks for: one raw input `(C, ...)` (or a batch `(N, C, ...)`), the
    model by name (None: the default of the modality), whether to compare with the exact
    PIs, and notes on how the input was adapted."""

    x: np.ndarray
    model: str | None = None
    compare: bool = False
    notes: list[str] = field(default_factory=list)


async def read_pi_request(
    request: Request, modality: Modality, settings: Settings, format: str
) -> PIRequest:
    """One input of `modality`, a JSON signal or a multipart upload, within the server's
    limits for an answer in `format`."""
    limits = input_limits(settings, modality, batch=False)
    if modality == "signal" and media_type(request) == "application/json":
        body = signal_from_json(await request.body(), limits)
        asked = PIRequest(np.asarray(body.signal, dtype=np.float64), body.model, body.compare)
    else:
        form = await _read_form(request, _UPLOADS[modality])
        x, notes = _DECODERS[modality](form.data, form.filename, limits)
        x, read_as = _one_input(x, modality)
        asked = PIRequest(x, form.model, form.compare, [*notes, *read_as])
    if format == "png":
        check_png_channels(asked.x.shape[0] if asked.x.ndim > 1 else 1, settings)
    return asked


async def read_batch_request(request: Request, modality: Modality, settings: Settings) -> PIRequest:
    """A batch `(N, C, ...)` of `modality` inputs: one .npy array uploaded as 'file', of 1 to
    `settings.max_batch_items` inputs."""
    what = f"a .npy {modality} batch {layout(modality, batched=True)}"
    form = await _read_form(request, what)
    if form.compare:
        raise InputError(NO_BATCH_COMPARE)
    if not form.data.startswith(NPY_MAGIC):
        raise InputError(
            f"cannot read {form.filename or 'the upload'!r} as a batch: send {what} written "
            "with numpy.save",
            status_code=415,
        )
    x, _ = _DECODERS[modality](
        form.data, form.filename, input_limits(settings, modality, batch=True)
    )
    _check_batch_shape(x, modality)
    return PIRequest(x, form.model)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class _Form:
    data: bytes
    filename: str
    model: str | None
    compare: bool


async def _read_form(request: Request, what: str) -> _Form:
    """The uploaded file's bytes and name, and the 'model' and 'compare' form fields."""
    if media_type(request) != "multipart/form-data":
        raise InputError(
            f"unsupported content type {media_type(request) or 'none'!r}; upload {what} "
            "as multipart/form-data in a file field 'file'",
            status_code=415,
        )
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("file")
        if isinstance(upload, str):
            raise InputError(
                f"form field 'file' arrived as text, not as a file (a part without a filename, "
                f"or with an empty one); upload {what} as a file named in the part"
            )
        if not isinstance(upload, UploadFile):
            raise InputError(f"no file field 'file' in the form; upload {what} as 'file'")
        data = await upload.read()
        filename = upload.filename or ""
        model = form.get("model")
        compare = form.get("compare", "false")
    if not isinstance(model, str | None) or not isinstance(compare, str):
        raise InputError("form fields 'model' and 'compare' must be text, not files")
    if compare.strip().lower() not in _TRUE | _FALSE:
        raise InputError(f"form field 'compare' is {compare!r}; send true or false")
    return _Form(data, filename, model or None, compare.strip().lower() in _TRUE)


@contextmanager
def input_errors() -> Iterator[None]:
    """Turn pinet.io's ValueErrors into InputErrors (413 for a decoder's own size limit,
    415 for a format it does not read, 422 otherwise)."""
    try:
        yield
    except TooLarge as error:
        raise InputError(str(error), status_code=413) from None
    except UnsupportedFormat as error:
        raise InputError(str(error), status_code=415) from None
    except ValueError as error:
        raise InputError(str(error)) from None


def recipe_input_shape(x: np.ndarray, modality: Modality) -> tuple[int, ...]:
    """The shape `(C, T)` / `(C, H, W)` of one raw input as the recipes read it; InputError
    422 for one they refuse (a NaN, a wrong rank or dtype), before any work is queued."""
    with input_errors():
        return _RECIPE_INPUTS[modality](x, batched=False).shape


_RECIPE_INPUTS = {"signal": as_signals, "image": as_images}


def signal_from_json(
    body: bytes, limits: ShapeCheck, schema: type[JsonSignal] = SignalRequest
) -> JsonSignal:
    """The JSON request as `schema` (a body with a `signal` (C, T)), its signal rows checked
    for raggedness and against `limits`."""
    try:
        request = schema.model_validate_json(body)
    except ValidationError as error:
        raise InputError(describe_validation_error(list(error.errors()))) from None
    rows = request.signal
    if not rows or not rows[0]:
        raise InputError("'signal' is empty; send (C, T): one list of samples per channel")
    for channel, row in enumerate(rows):
        if len(row) != len(rows[0]):
            raise InputError(
                f"channel {channel} has {len(row)} samples but channel 0 has {len(rows[0])}; "
                "all channels need the same length"
            )
    limits((len(rows), len(rows[0])))
    return request


def signal_from_upload(
    data: bytes, filename: str, limits: ShapeCheck
) -> tuple[np.ndarray, list[str]]:
    """`(C, T)` from a .npy file `(C, T)` (or a batch `(N, C, T)`) or a .csv file of T rows
    and C columns, its shape vetted by `limits` before it is read; no notes."""
    if data.startswith(NPY_MAGIC):
        with input_errors():
            return read_npy(data, limits), []
    if filename.lower().endswith((".csv", ".txt")):
        with input_errors():
            return signal_from_csv(data, limits), []
    raise InputError(
        f"cannot read {filename or 'the upload'!r} as a signal: send a .npy file (C, T) "
        "or a .csv file with T rows and C columns",
        status_code=415,
    )


def image_from_upload(
    data: bytes, filename: str, limits: ShapeCheck
) -> tuple[np.ndarray, list[str]]:
    """`(C, H, W)` from a PNG or JPEG (uint8, grey: C = 1, colour: C = 3) or a .npy file
    `(C, H, W)` (or a batch `(N, C, H, W)`), its shape vetted by `limits` before it is
    decoded, with notes on how the input was adapted."""
    with input_errors():
        if data.startswith(NPY_MAGIC):
            return read_npy(data, limits), []
        try:
            return decode_image(data, limits)
        except UnsupportedFormat as error:
            raise InputError(
                f"cannot read {filename or 'the upload'!r} as an image ({error}): send a PNG "
                "or JPEG (8-bit grey, RGB or RGBA) or a .npy file (C, H, W)",
                status_code=415,
            ) from None


_DECODERS: dict[Modality, Callable[[bytes, str, ShapeCheck], tuple[np.ndarray, list[str]]]] = {
    "signal": signal_from_upload,
    "image": image_from_upload,
}


def _one_input(x: np.ndarray, modality: Modality) -> tuple[np.ndarray, list[str]]:
    """The upload as one input `(C, ...)`, with a note when it was adapted: an array of one
    dimension fewer is one channel, as the recipes read it (`pinet.tda.inputs`); InputError
    for any other rank, pointing a batch to the batch route."""
    rank = input_ndim(modality)
    if (one_channel := with_channel_axis(x, modality)) is not x:
        return one_channel, [f"the {x.ndim}-D upload was read as one channel, {one_channel.shape}"]
    if x.ndim != rank:
        batch_route = f"; send a batch to /v1/{PLURALS[modality]}/pi:batch" if x.ndim > rank else ""
        raise InputError(
            f"one {modality} is an array {layout(modality)}; got shape {x.shape}{batch_route}"
        )
    return x, []


def _check_batch_shape(x: np.ndarray, modality: Modality) -> None:
    """InputError unless `x` is one non-empty batch array `(N, C, ...)`."""
    if x.ndim != input_ndim(modality, batched=True):
        batched = layout(modality, batched=True)
        raise InputError(f"a {modality} batch is one array {batched}; got shape {x.shape}")
    if x.shape[0] == 0:
        raise InputError(f"the batch is empty (shape {x.shape}); send at least one input")
