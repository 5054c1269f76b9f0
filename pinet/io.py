"""Signals and images from the bytes of the files people have: .npy, .csv, PNG and JPEG.

One decoder for the batch job (a folder of the user's files) and the service (uploads).
Sizes are checked before anything large is allocated: a .npy header's shape and a PNG or
JPEG header's width x height are read first, so a decompression bomb or a header claiming a
huge array is refused without decoding it. Problems raise ValueError with a message that
says what to send instead; `TooLarge` and `UnsupportedFormat` single out the two cases a
caller answers differently (HTTP 413 and 415 in the service).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

NPY_MAGIC = b"\x93NUMPY"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# PIL modes turned into 8-bit grey or RGB, with the note saying how the input was adapted.
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


class TooLarge(ValueError):
    """The input is over a size limit (samples of a signal, pixels of an image)."""


class UnsupportedFormat(ValueError):
    """The bytes are none of the formats this reader takes."""


def check_signal_length(length: int, max_length: int | None) -> None:
    """Raise TooLarge if a signal of `length` samples is over `max_length` (None: no limit)."""
    if max_length is not None and length > max_length:
        raise TooLarge(f"signal has {length} samples, more than the limit of {max_length}")


def check_image_pixels(pixels: int, max_pixels: int | None) -> None:
    """Raise TooLarge if an image of `pixels` pixels is over `max_pixels` (None: no limit)."""
    if max_pixels is not None and pixels > max_pixels:
        raise TooLarge(f"image has {pixels} pixels, more than the limit of {max_pixels}")


def read_npy(
    data: bytes, check_shape: Callable[[tuple[int, ...]], None] | None = None
) -> np.ndarray:
    """The real-valued array in a .npy file; `check_shape(shape)` vets its header's shape
    before the array is loaded. Never unpickles."""
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
        raise ValueError(f"not a valid .npy file: {error}; write it with numpy.save") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise ValueError(
            f".npy array has dtype {dtype}; send a real numeric array (float or integer)"
        )
    if check_shape is not None:
        check_shape(shape)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"not a valid .npy file: {error}") from None
    return np.asarray(array)


def signal_from_csv(data: bytes, max_length: int | None = None) -> np.ndarray:
    """`(C, T)` float64 from CSV text of T rows and C columns (comma, semicolon or whitespace
    separated); a first row that is not all numbers is a header."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the CSV file is not UTF-8 text") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the CSV file is empty; send T rows of C numbers")
    delimiter = "," if "," in lines[0] else ";" if ";" in lines[0] else None

    def cells(line: str) -> list[str]:
        return line.split(delimiter) if delimiter else line.split()

    if not all(_is_number(cell) for cell in cells(lines[0])):
        lines = lines[1:]  # a header
    if not lines:
        raise ValueError("the CSV file has a header but no rows of numbers")
    check_signal_length(len(lines), max_length)
    columns = len(cells(lines[0]))
    rows = []
    for number, line in enumerate(lines, start=1):
        row = cells(line)
        if len(row) != columns:
            raise ValueError(
                f"CSV row {number} has {len(row)} columns but the first row has {columns}"
            )
        try:
            rows.append([float(cell) for cell in row])
        except ValueError:
            raise ValueError(f"CSV row {number} holds a value that is not a number") from None
    return np.asarray(rows, dtype=np.float64).T


def decode_image(data: bytes, max_pixels: int | None = None) -> tuple[np.ndarray, list[str]]:
    """`(C, H, W)` from a PNG or JPEG: uint8 grey (C = 1) or RGB (C = 3), or float64 in [0, 1]
    for 16-bit grey; with notes on how the image was adapted (alpha dropped, ...)."""
    if not data.startswith((PNG_MAGIC, JPEG_MAGIC)):
        raise UnsupportedFormat("not a PNG or JPEG file")
    try:
        with warnings.catch_warnings():
            # Our own limit below is the one that applies; PIL's is a last resort.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
            width, height = image.size
            check_image_pixels(width * height, max_pixels)
            image.load()
    except Image.DecompressionBombError:
        raise TooLarge("image is too large to decode") from None
    except TooLarge:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot decode the image (corrupt or truncated?): {error}") from None

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
        raise UnsupportedFormat(
            f"image mode {image.mode!r} is not supported; send 8-bit grey, RGB or RGBA"
        )
    target, note = _CONVERSIONS[image.mode]
    if note:
        notes.append(note)
    pixels = np.asarray(image.convert(target), dtype=np.uint8)
    return (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1).copy()), notes


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
