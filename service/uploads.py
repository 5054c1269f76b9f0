"""Request bodies to arrays: JSON signals, and .npy, .csv, PNG and JPEG uploads.

The decoding is pinet.io's (shared with the batch job); this module applies the server's
limits and turns every problem into an InputError: 413 for a limit, naming the setting that
sets it, 415 for a format the route does not take, 422 for anything else malformed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from pydantic import ValidationError

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
from service.errors import InputError
from service.schemas import SignalRequest

SIGNAL_LIMIT = "PINET_MAX_SIGNAL_LENGTH"
IMAGE_LIMIT = "PINET_MAX_IMAGE_PIXELS"


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
        raise InputError(_describe(error)) from None
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


def signal_from_upload(data: bytes, filename: str, max_length: int) -> np.ndarray:
    """`(C, T)` from a .npy file `(C, T)` or a .csv file of T rows and C columns."""
    if data.startswith(NPY_MAGIC):
        return load_npy(
            data,
            lambda shape: check_signal_length(shape[-1] if shape else 0, max_length),
            SIGNAL_LIMIT,
        )
    if filename.lower().endswith((".csv", ".txt")):
        with input_errors(SIGNAL_LIMIT):
            return signal_from_csv(data, max_length)
    raise InputError(
        f"cannot read {filename or 'the upload'!r} as a signal: send a .npy file (C, T) "
        "or a .csv file with T rows and C columns",
        status_code=415,
    )


def image_from_upload(data: bytes, filename: str, max_pixels: int) -> tuple[np.ndarray, list[str]]:
    """`(C, H, W)` from a PNG or JPEG (uint8, grey: C = 1, colour: C = 3) or a .npy file
    `(C, H, W)`, with notes on how the input was adapted."""
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


def load_npy(
    data: bytes, check_shape: Callable[[tuple[int, ...]], None], limit_setting: str
) -> np.ndarray:
    """The array in a .npy upload, its header's shape vetted by `check_shape` (which raises
    TooLarge over `limit_setting`) before loading; never unpickles."""
    with input_errors(limit_setting):
        return read_npy(data, check_shape)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)
