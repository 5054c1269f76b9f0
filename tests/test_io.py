"""pinet.io: the one decoder of .npy, .csv, PNG and JPEG bytes, and its limits."""

import io

import numpy as np
import pytest
from PIL import Image

from pinet.io import (
    TooLarge,
    UnsupportedFormat,
    check_image_pixels,
    check_signal_length,
    decode_image,
    read_npy,
    signal_from_csv,
)


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


def test_csv_size_is_vetted_before_its_numbers_are_parsed() -> None:
    seen = []

    def at_most_two_samples(shape: tuple[int, ...]) -> None:
        seen.append(shape)
        check_signal_length(shape[-1], 2)

    with pytest.raises(TooLarge, match="3 samples, more than the limit of 2"):
        signal_from_csv(b"1,0\n2,x\n3,0\n", at_most_two_samples)  # row 2 is never parsed
    assert seen == [(2, 3)]


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
    seen = []

    def at_most_199999_pixels(shape: tuple[int, ...]) -> None:
        seen.append(shape)
        check_image_pixels(shape[1] * shape[2], 199_999)

    with pytest.raises(TooLarge, match="200000 pixels, more than the limit of 199999"):
        decode_image(header_only, at_most_199999_pixels)
    assert seen == [(1, 400, 500)]


def npy_header(shape: tuple[int, ...], descr: str = "'<f8'") -> bytes:
    """A .npy version 1.0 header for `shape` and `descr` (Python source, as the header holds
    it), padded as numpy pads it."""
    text = f"{{'descr': {descr}, 'fortran_order': False, 'shape': {shape!r}, }}".encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


@pytest.mark.parametrize("extra", [-8, 8])
def test_a_npy_header_must_describe_exactly_the_bytes_that_follow(extra: int) -> None:
    data = npy_bytes(np.arange(6.0).reshape(2, 3))
    changed = data[:extra] if extra < 0 else data + b"\0" * extra
    with pytest.raises(ValueError, match=r"declares shape \(2, 3\) of float64 \(48 bytes\)"):
        read_npy(changed)


def test_a_huge_declared_shape_is_refused_without_allocating_it() -> None:
    """A 200-byte file claiming 10^9 x 64 float64 (512 GB): refused from its header."""
    with pytest.raises(ValueError, match=r"\(1000000000, 64\) of float64 \(512000000000 bytes\)"):
        read_npy(npy_header((1_000_000_000, 64)) + b"\0" * 64)
    assert read_npy(npy_bytes(np.eye(3, order="F"))).tolist() == np.eye(3).tolist()


def test_errors_never_show_the_addresses_of_internal_objects() -> None:
    with pytest.raises(ValueError, match=r"not a valid \.npy file") as raised:
        read_npy(npy_header((3,), descr="f()"))  # numpy reports "<ast.Call object at 0x...>"
    assert "0x" not in str(raised.value)


def test_a_jpeg_claiming_more_pixels_than_it_holds_is_refused() -> None:
    """libjpeg fills the rows a JPEG lacks with grey, silently: a 64x64 JPEG whose header says
    2048x2048 would decode as a grey picture 1,000 times its size."""
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.find(b"\xff\xc0")  # baseline frame header: height, then width, at +5
    data[frame + 5 : frame + 9] = (2048).to_bytes(2, "big") * 2
    assert decode_image(buffer.getvalue())[0].shape == (3, 64, 64)
    with pytest.raises(ValueError, match=r"claims 2048x2048 pixels but holds .* too few"):
        decode_image(bytes(data))


@pytest.mark.parametrize("data", [b"GIF89a....", b"\x89PNG\r\n\x1a\n-truncated"])
def test_non_images_and_broken_images_are_told_apart(data: bytes) -> None:
    expected = UnsupportedFormat if data.startswith(b"GIF") else ValueError
    with pytest.raises(expected) as raised:
        decode_image(data)
    assert expected is UnsupportedFormat or not isinstance(raised.value, UnsupportedFormat)
