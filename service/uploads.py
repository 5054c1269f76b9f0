"""Raw request bodies to arrays: JSON signals, .npy, .csv, PNG and JPEG uploads.

Sizes are checked before anything large is allocated: a .npy header's shape and a PNG or
JPEG header's width x height are read first, so a decompression bomb or a header that
claims a huge array is refused without decoding it. Every problem is an InputError whose
message says what to send instead.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError

from service.errors import InputError
from service.schemas import SignalRequest

NPY_MAGIC = b"\x93NUMPY"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# PIL modes turned into 8-bit grey or RGB, with the note the response carries.
_CONVERSIONS: dict[str, tuple[str, str | None]] = {
    "1": ("L", None),
    "L": ("L", None),
    "LA": ("L", "alpha channel dropped: the model sees the grey channel only"),
    "RGB": ("RGB", None),
    "RGBA": ("RGB", "alpha channel dropped: the model sees the RGB channels only"),
    "CMYK": ("RGB", "converted from CMYK to RGB"),
    "YCbCr": ("RGB", None),
}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I"}


def signal_from_json(body: bytes, max_length: int) -> SignalRequest:
    """The JSON request, its signal rows checked for length and raggedness."""
    try:
        request = SignalRequest.model_validate_json(body)
    except ValidationError as error:
        raise InputError(_describe(error)) from None
    rows = request.signal
    if not rows or not rows[0]:
        raise InputError("'signal' is empty; send (C, T): one list of samples per channel")
    _check_length(max(len(row) for row in rows), max_length)
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
        return load_npy(data, lambda shape: _check_length(shape[-1] if shape else 0, max_length))
    if filename.lower().endswith((".csv", ".txt")):
        return signal_from_csv(data, max_length)
    raise InputError(
        f"cannot read {filename or 'the upload'!r} as a signal: send a .npy file (C, T) "
        "or a .csv file with T rows and C columns",
        status_code=415,
    )


def signal_from_csv(data: bytes, max_length: int) -> np.ndarray:
    """`(C, T)` from CSV text of T rows and C columns (comma, semicolon or whitespace
    separated); a first row that is not all numbers is a header."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the CSV file is not UTF-8 text") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError("the CSV file is empty; send T rows of C numbers")
    delimiter = "," if "," in lines[0] else ";" if ";" in lines[0] else None

    def cells(line: str) -> list[str]:
        return line.split(delimiter) if delimiter else line.split()

    if not all(_is_number(cell) for cell in cells(lines[0])):
        lines = lines[1:]  # a header
    if not lines:
        raise InputError("the CSV file has a header but no rows of numbers")
    _check_length(len(lines), max_length)
    columns = len(cells(lines[0]))
    rows = []
    for number, line in enumerate(lines, start=1):
        row = cells(line)
        if len(row) != columns:
            raise InputError(
                f"CSV row {number} has {len(row)} columns but the first row has {columns}"
            )
        try:
            rows.append([float(cell) for cell in row])
        except ValueError:
            raise InputError(f"CSV row {number} holds a value that is not a number") from None
    return np.asarray(rows, dtype=np.float64).T


def image_from_upload(data: bytes, filename: str, max_pixels: int) -> tuple[np.ndarray, list[str]]:
    """`(C, H, W)` from a PNG or JPEG (uint8, grey: C = 1, colour: C = 3) or a .npy file
    `(C, H, W)`, with notes on how the input was adapted."""
    if data.startswith(NPY_MAGIC):

        def limit(shape: tuple[int, ...]) -> None:
            _check_pixels(math.prod(shape[-2:]) if len(shape) >= 2 else 0, max_pixels)

        return load_npy(data, limit=limit), []
    if data.startswith((PNG_MAGIC, JPEG_MAGIC)):
        return decode_image(data, max_pixels)
    raise InputError(
        f"cannot read {filename or 'the upload'!r} as an image: send a PNG, a JPEG or a "
        ".npy file (C, H, W)",
        status_code=415,
    )


def decode_image(data: bytes, max_pixels: int) -> tuple[np.ndarray, list[str]]:
    """Decode a PNG / JPEG after checking its header's size against `max_pixels`."""
    try:
        with warnings.catch_warnings():
            # Our own limit below is the one that applies; PIL's is a last resort.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
            width, height = image.size
            _check_pixels(width * height, max_pixels)
            image.load()
    except Image.DecompressionBombError:
        raise InputError(
            f"image is too large to decode; this server accepts at most {max_pixels} "
            "pixels (PINET_MAX_IMAGE_PIXELS)",
            status_code=413,
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise InputError(f"cannot decode the image (corrupt or truncated?): {error}") from None

    notes = []
    if image.mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette image converted to RGB")
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64) / 65535.0
        notes.append("16-bit grey image scaled to [0, 1]")
        return values[None], notes
    if image.mode not in _CONVERSIONS:
        raise InputError(
            f"image mode {image.mode!r} is not supported; send 8-bit grey, RGB or RGBA",
            status_code=415,
        )
    target, note = _CONVERSIONS[image.mode]
    if note:
        notes.append(note)
    pixels = np.asarray(image.convert(target), dtype=np.uint8)
    return (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)), notes


def load_npy(data: bytes, limit: Callable[[tuple[int, ...]], None]) -> np.ndarray:
    """The array in a .npy file, its header checked by `limit(shape)` before loading;
    never unpickles."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except ValueError as error:
        raise InputError(f"not a valid .npy file: {error}; write it with numpy.save") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputError(
            f".npy array has dtype {dtype}; send a real numeric array (float or integer)"
        )
    limit(shape)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"not a valid .npy file: {error}") from None
    return np.asarray(array)


def _check_length(length: int, max_length: int) -> None:
    if length > max_length:
        raise InputError(
            f"signal has {length} samples; this server accepts at most {max_length} "
            "(PINET_MAX_SIGNAL_LENGTH)",
            status_code=413,
        )


def _check_pixels(pixels: int, max_pixels: int) -> None:
    if pixels > max_pixels:
        raise InputError(
            f"image has {pixels} pixels; this server accepts at most {max_pixels} "
            "(PINET_MAX_IMAGE_PIXELS)",
            status_code=413,
        )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(parts)
