"""Request bodies to arrays: JSON signals, and .npy, .csv, PNG and JPEG uploads.

The decoding is pinet.io's (shared with the batch job); this module reads the request (JSON
or a multipart form with a file field 'file' and the fields 'model' and 'compare'), applies
the server's limits and turns every problem into an InputError: 413 for a limit, naming the
setting that sets it, 415 for a format the route does not take, 422 for anything else
malformed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from pinet.io import (
    NPY_MAGIC,
    TooLarge,
    UnsupportedFormat,
    check_image_pixels,
    check_signal_length,
    decode_image,
    read_npy,
    signal_from_csv,
)
from pinet.modality import Modality, input_ndim, layout
from service.errors import InputError, describe_validation_error
from service.schemas import SignalRequest
from service.settings import Settings

SIGNAL_LIMIT = "PINET_MAX_SIGNAL_LENGTH"
IMAGE_LIMIT = "PINET_MAX_IMAGE_PIXELS"
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


@dataclass(frozen=True)
class PIRequest:
    """What a PI request asks for: one raw input `(C, ...)` (or a batch `(N, C, ...)`), the
    model by name (None: the default of the modality), whether to compare with the exact
    PIs, and notes on how the input was adapted."""

    x: np.ndarray
    model: str | None = None
    compare: bool = False
    notes: list[str] = field(default_factory=list)


async def read_pi_request(request: Request, modality: Modality, settings: Settings) -> PIRequest:
    """One input of `modality`: a JSON signal, or a multipart upload."""
    if modality == "signal" and media_type(request) == "application/json":
        body = signal_from_json(await request.body(), settings.max_signal_length)
        x = np.asarray(body.signal, dtype=np.float64)
        return PIRequest(x, body.model, body.compare)
    form = await _read_form(request, _UPLOADS[modality])
    x, notes = _DECODERS[modality](form.data, form.filename, settings)
    return PIRequest(x, form.model, form.compare, notes)


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
    x, _ = _DECODERS[modality](form.data, form.filename, settings)
    _check_batch_shape(x, modality, settings.max_batch_items)
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
def input_errors(limit_setting: str) -> Iterator[None]:
    """Turn pinet.io's ValueErrors into InputErrors; `limit_setting` names the setting
    behind a TooLarge."""
    try:
        yield
    except TooLarge as error:
        raise InputError(f"{error} (this server's {limit_setting})", status_code=413) from None
    except UnsupportedFormat as error:
        raise InputError(str(error), status_code=415) from None
    except ValueError as error:
        raise InputError(str(error)) from None


def signal_from_json(body: bytes, max_length: int) -> SignalRequest:
    """The JSON request, its signal rows checked for length and raggedness."""
    try:
        request = SignalRequest.model_validate_json(body)
    except ValidationError as error:
        raise InputError(describe_validation_error(list(error.errors()))) from None
    rows = request.signal
    if not rows or not rows[0]:
        raise InputError("'signal' is empty; send (C, T): one list of samples per channel")
    with input_errors(SIGNAL_LIMIT):
        check_signal_length(max(len(row) for row in rows), max_length)
    for channel, row in enumerate(rows):
        if len(row) != len(rows[0]):
            raise InputError(
                f"channel {channel} has {len(row)} samples but channel 0 has {len(rows[0])}; "
                "all channels need the same length"
            )
    return request


def signal_from_upload(
    data: bytes, filename: str, settings: Settings
) -> tuple[np.ndarray, list[str]]:
    """`(C, T)` from a .npy file `(C, T)` (or a batch `(N, C, T)`) or a .csv file of T rows
    and C columns; no notes."""
    max_length = settings.max_signal_length
    if data.startswith(NPY_MAGIC):

        def limit(shape: tuple[int, ...]) -> None:
            check_signal_length(shape[-1] if shape else 0, max_length)

        return load_npy(data, limit, SIGNAL_LIMIT), []
    if filename.lower().endswith((".csv", ".txt")):
        with input_errors(SIGNAL_LIMIT):
            return signal_from_csv(data, max_length), []
    raise InputError(
        f"cannot read {filename or 'the upload'!r} as a signal: send a .npy file (C, T) "
        "or a .csv file with T rows and C columns",
        status_code=415,
    )


def image_from_upload(
    data: bytes, filename: str, settings: Settings
) -> tuple[np.ndarray, list[str]]:
    """`(C, H, W)` from a PNG or JPEG (uint8, grey: C = 1, colour: C = 3) or a .npy file
    `(C, H, W)` (or a batch `(N, C, H, W)`), with notes on how the input was adapted."""
    max_pixels = settings.max_image_pixels
    if data.startswith(NPY_MAGIC):

        def limit(shape: tuple[int, ...]) -> None:
            check_image_pixels(math.prod(shape[-2:]) if len(shape) >= 2 else 0, max_pixels)

        return load_npy(data, limit, IMAGE_LIMIT), []
    with input_errors(IMAGE_LIMIT):
        try:
            return decode_image(data, max_pixels)
        except UnsupportedFormat as error:
            raise InputError(
                f"cannot read {filename or 'the upload'!r} as an image ({error}): send a PNG "
                "or JPEG (8-bit grey, RGB or RGBA) or a .npy file (C, H, W)",
                status_code=415,
            ) from None


_DECODERS: dict[Modality, Callable[[bytes, str, Settings], tuple[np.ndarray, list[str]]]] = {
    "signal": signal_from_upload,
    "image": image_from_upload,
}


def load_npy(
    data: bytes, check_shape: Callable[[tuple[int, ...]], None], limit_setting: str
) -> np.ndarray:
    """The array in a .npy upload, its header's shape vetted by `check_shape` (which raises
    TooLarge over `limit_setting`) before loading; never unpickles."""
    with input_errors(limit_setting):
        return read_npy(data, check_shape)


def _check_batch_shape(x: np.ndarray, modality: Modality, max_items: int) -> None:
    """InputError unless `x` is one batch array `(N, C, ...)` of 1 to `max_items` inputs."""
    if x.ndim != input_ndim(modality, batched=True):
        batched = layout(modality, batched=True)
        raise InputError(f"a {modality} batch is one array {batched}; got shape {x.shape}")
    if x.shape[0] == 0:
        raise InputError(f"the batch is empty (shape {x.shape}); send at least one input")
    if x.shape[0] > max_items:
        raise InputError(
            f"batch has {x.shape[0]} inputs; this server accepts at most {max_items} per "
            "request (PINET_MAX_BATCH_ITEMS)",
            status_code=413,
        )
