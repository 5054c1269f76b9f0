"""pinet.io: the one decoder of .npy, .csv, PNG and JPEG bytes, and its limits."""

import io

import numpy as np
import pytest
from PIL import Image

from pinet.io import TooLarge, UnsupportedFormat, decode_image, read_npy, signal_from_csv


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, format="PNG")
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "text",
    ["x,y\n1,2\n3,4.5\n", "1;2\n3;4.5\n", "1 2\n3\t4.5\n\n", "\ufeffa b\n1 2\n3 4.5\n"],
)
def test_csv_rows_become_channels_whatever_the_delimiter_or_header(text: str) -> None:
    signal = signal_from_csv(text.encode())
    np.testing.assert_array_equal(signal, [[1.0, 3.0], [2.0, 4.5]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("a,b\n", "header but no rows"),
        ("1,2\n3\n", "row 2 has 1 columns"),
        ("1,2\n3,x\n", "row 2 holds a value that is not a number"),
    ],
)
def test_malformed_csv_says_which_row(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        signal_from_csv(text.encode())


def test_csv_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(TooLarge, match="3 samples, more than the limit of 2"):
        signal_from_csv(b"1\n2\n3\n", max_length=2)


def test_npy_shape_is_vetted_before_the_array_is_read() -> None:
    seen = []

    def refuse(shape: tuple[int, ...]) -> None:
        seen.append(shape)
        raise TooLarge("no")

    truncated = npy_bytes(np.zeros((2, 1000)))[:200]  # header intact, data cut short
    with pytest.raises(TooLarge):
        read_npy(truncated, refuse)
    assert seen == [(2, 1000)]


def test_npy_of_objects_is_refused_without_unpickling() -> None:
    with pytest.raises(ValueError, match="dtype object"):
        read_npy(npy_bytes(np.array([{"a": 1}], dtype=object)))


def test_png_modes_map_to_grey_or_rgb_with_notes() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    pixels, notes = decode_image(png_bytes(rgb))
    assert pixels.shape == (3, 4, 5) and pixels.dtype == np.uint8 and notes == []
    np.testing.assert_array_equal(pixels, rgb.transpose(2, 0, 1))
    rgba = np.dstack([rgb, np.full((4, 5), 7, np.uint8)])
    pixels, notes = decode_image(png_bytes(rgba))
    np.testing.assert_array_equal(pixels, rgb.transpose(2, 0, 1))
    assert notes == ["alpha channel dropped: the model sees the RGB channels only"]
    grey, notes = decode_image(png_bytes(rgb, "L"))
    assert grey.shape == (1, 4, 5) and notes == []


def test_sixteen_bit_grey_is_scaled_to_the_unit_interval() -> None:
    values = np.array([[0, 65535], [32768, 1]], dtype=np.uint16)
    pixels, notes = decode_image(png_bytes(values))
    np.testing.assert_allclose(pixels[0], values / 65535.0)
    assert notes == ["16-bit grey image scaled to [0, 1]"]


def test_image_over_the_pixel_limit_is_refused_from_its_header() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (400, 500), dtype=np.uint8)
    header_only = png_bytes(noise)[:100]  # the pixel data is cut off
    with pytest.raises(TooLarge, match="200000 pixels, more than the limit of 199999"):
        decode_image(header_only, max_pixels=199_999)


@pytest.mark.parametrize("data", [b"GIF89a....", b"\x89PNG\r\n\x1a\n-truncated"])
def test_non_images_and_broken_images_are_told_apart(data: bytes) -> None:
    expected = UnsupportedFormat if data.startswith(b"GIF") else ValueError
    with pytest.raises(expected) as raised:
        decode_image(data)
    assert expected is UnsupportedFormat or not isinstance(raised.value, UnsupportedFormat)
