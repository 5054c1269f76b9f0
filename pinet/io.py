"""Signals and images from the bytes of the files people have: .npy, .csv, PNG and JPEG.

One decoder for the batch job (a folder of the user's files) and the service (uploads).
Shapes are known before anything large is allocated: a .npy header's shape, a CSV's rows and
columns, a PNG or JPEG header's size and channels are handed to the caller's `check_shape`
first, so a decompression bomb or a header claiming a huge array is refused without decoding
it, and a header that claims more (or less) than the bytes that follow is refused outright.
Problems raise ValueError with a message that says what to send instead, never with the
repr of an internal object; `TooLarge` and `UnsupportedFormat` single out the two cases a
caller answers differently (HTTP 413 and 415 in the service).
"""

from __future__ import annotations

import io
import math
import re
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
# A JPEG codes every 8x8 block of its first component with at least one bit (the DC
# difference's Huffman code; even progressive scans code DC per block), so a JPEG with fewer
# bytes than blocks / 8 lacks image data: truncated, or a header that claims a larger image
# than the file holds (libjpeg then fills the missing rows with grey, silently).
_JPEG_BLOCK = 8
# numpy's header parser reports the repr of AST nodes: "<ast.Call object at 0x7f...>".
_OBJECT_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")

ShapeCheck = Callable[[tuple[int, ...]], None]


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


def read_npy(data: bytes, check_shape: ShapeCheck | None = None) -> np.ndarray:
    """The real-valued array in a .npy file; `check_shape(shape)` vets its header's shape
    before anything is allocated, and the header must describe exactly the bytes that
    follow it. Never unpickles."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except ValueError as error:
        raise ValueError(
            f"not a valid .npy file: {plain(error)}; write it with numpy.save"
        ) from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise ValueError(
            f".npy array has dtype {dtype}; send a real numeric array (float or integer)"
        )
    if check_shape is not None:
        check_shape(shape)
    declared = math.prod(shape) * dtype.itemsize
    held = len(data) - stream.tell()
    if declared != held:
        raise ValueError(
            f"the .npy header declares shape {shape} of {dtype} ({declared} bytes) but the file "
            f"holds {held} bytes of data; write it with numpy.save"
        )
    values = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=stream.tell())
    return values.reshape(shape, order="F" if fortran_order else "C").copy()


def signal_from_csv(data: bytes, check_shape: ShapeCheck | None = None) -> np.ndarray:
    """`(C, T)` float64 from CSV text of T rows and C columns (comma, semicolon or whitespace
    separated); a first row that is not all numbers is a header. `check_shape((C, T))` vets
    the size before any number is parsed."""
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
    columns = len(cells(lines[0]))
    if check_shape is not None:
        check_shape((columns, len(lines)))
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


def decode_image(
    data: bytes, check_shape: ShapeCheck | None = None
) -> tuple[np.ndarray, list[str]]:
    """`(C, H, W)` from a PNG or JPEG: uint8 grey (C = 1) or RGB (C = 3), or float64 in [0, 1]
    for 16-bit grey; with notes on how the image was adapted (alpha dropped, ...).
    `check_shape((C, H, W))` vets the size from the header, before decoding."""
    if not data.startswith((PNG_MAGIC, JPEG_MAGIC)):
        raise UnsupportedFormat("not a PNG or JPEG file")
    try:
        with warnings.catch_warnings():
            # The caller's limits are the ones that apply; PIL's is a last resort.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
            width, height = image.size
            channels = _decoded_channels(image)
            if check_shape is not None:
                check_shape((channels, height, width))
            if image.format == "JPEG":
                _check_jpeg_holds_its_pixels(len(data), width, height)
            image.load()
    except Image.DecompressionBombError:
        raise TooLarge("image is too large to decode") from None
    except (TooLarge, UnsupportedFormat):
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(
            f"cannot decode the image (corrupt or truncated?): {plain(error)}"
        ) from None

    notes = []
    if image.mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette image converted to RGB")
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64) / 65535.0
        notes.append("16-bit grey image scaled to [0, 1]")
        return values[None], notes
    target, note = _CONVERSIONS[image.mode]
    if note:
        notes.append(note)
    pixels = np.asarray(image.convert(target), dtype=np.uint8)
    return (pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1).copy()), notes


def _decoded_channels(image: Image.Image) -> int:
    """Channels `decode_image` returns for an image of this mode: 1 (grey) or 3 (colour)."""
    if image.mode == "P":
        return 3
    if image.mode in _SIXTEEN_BIT_MODES:
        return 1
    if image.mode not in _CONVERSIONS:
        raise UnsupportedFormat(
            f"image mode {image.mode!r} is not supported; send 8-bit grey, RGB or RGBA"
        )
    return 1 if _CONVERSIONS[image.mode][0] == "L" else 3


def _check_jpeg_holds_its_pixels(size: int, width: int, height: int) -> None:
    blocks = math.ceil(width / _JPEG_BLOCK) * math.ceil(height / _JPEG_BLOCK)
    if size < blocks / 8:
        raise ValueError(
            f"the JPEG claims {width}x{height} pixels but holds {size} bytes, too few for them "
            f"(at least {math.ceil(blocks / 8)}): it is truncated or its header is wrong"
        )


def plain(error: BaseException | str) -> str:
    """An error (or its message) without the memory addresses of internal objects."""
    return _OBJECT_ADDRESS.sub(r"<\1>", str(error))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
