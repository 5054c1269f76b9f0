"""Every way a request can be wrong gets a 4xx with a JSON detail saying what to fix."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.service.helpers import IMAGE, SIGNAL, detail, npy, png

SIGNAL_ROUTE, IMAGE_ROUTE = "/v1/signals/pi", "/v1/images/pi"


def test_channel_mismatch_says_expected_and_got(client: httpx.Client) -> None:
    message = detail(client.post(SIGNAL_ROUTE, json={"signal": SIGNAL[:2].tolist()}), 422)
    assert "2 channels" in message and "expects 3" in message


def test_grey_png_for_a_colour_model(client: httpx.Client) -> None:
    grey = client.post(IMAGE_ROUTE, files={"file": ("g.png", png(IMAGE[0]))})
    assert "1 channels" in detail(grey, 422)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_json(client: httpx.Client, bad: float) -> None:
    rows = SIGNAL.tolist()
    rows[1][5] = bad
    content = json.dumps({"signal": rows})  # NaN, Infinity: what Python's json writes
    headers = {"content-type": "application/json"}
    response = client.post(SIGNAL_ROUTE, content=content, headers=headers)
    assert "NaN or infinite" in detail(response, 422)


def test_non_finite_npy(client: httpx.Client) -> None:
    x = SIGNAL.copy()
    x[1, 7] = np.inf
    response = client.post(SIGNAL_ROUTE, files={"file": ("s.npy", npy(x))})
    assert "NaN or infinite" in detail(response, 422)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"signal": [[1, 2], [3]]}', b'{"signal": []}', b'{"signal": [1, 2]}',
     b'{"signal": [[1, 2]], "extra": 1}', b'{"signal": [["a"]]}', b"[]"],
)  # fmt: skip
def test_malformed_json(client: httpx.Client, content: bytes) -> None:
    headers = {"content-type": "application/json"}
    detail(client.post(SIGNAL_ROUTE, content=content, headers=headers), 422)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"signal": [[True, False] * 125] * 3}, ["signal.0.0", "valid number"]),
        ({"signal": [["1.5"] * 250] * 3}, ["signal.0.0", "valid number"]),
        ({"signal": SIGNAL.tolist(), "compare": "yes"}, ["compare", "valid boolean"]),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_coerced(
    client: httpx.Client, body: dict, words: list[str]
) -> None:
    message = detail(client.post(SIGNAL_ROUTE, json=body), 422)
    assert all(word in message for word in words), message


def test_body_too_large(client: httpx.Client) -> None:
    response = client.post(SIGNAL_ROUTE, files={"file": ("s.npy", bytes(2_100_000))})
    assert "PINET_MAX_BODY_BYTES" in detail(response, 413)


def test_body_too_large_when_streamed(client: httpx.Client) -> None:
    chunks = (bytes(100_000) for _ in range(30))  # no Content-Length: chunked
    response = client.post(
        SIGNAL_ROUTE, content=chunks, headers={"content-type": "application/json"}
    )
    assert "PINET_MAX_BODY_BYTES" in detail(response, 413)


def test_signal_too_long(client: httpx.Client) -> None:
    long = np.zeros((1, 6_000))
    response = client.post(SIGNAL_ROUTE, files={"file": ("s.npy", npy(long))})
    assert "PINET_MAX_SIGNAL_LENGTH" in detail(response, 413)
    as_json = client.post(SIGNAL_ROUTE, json={"signal": long.tolist()})
    assert "PINET_MAX_SIGNAL_LENGTH" in detail(as_json, 413)


def test_too_many_pixels_rejected_before_decoding(client: httpx.Client) -> None:
    # 25 million pixels that compress to a few kB: a decompression bomb.
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000
    response = client.post(IMAGE_ROUTE, files={"file": ("bomb.png", buffer.getvalue())})
    assert "PINET_MAX_IMAGE_PIXELS" in detail(response, 413)


def test_npy_header_claiming_a_huge_array(client: httpx.Client) -> None:
    header = npy(np.zeros((3, 8, 8), np.uint8)).replace(b"(3, 8, 8)", b"(3, 9999, 9999)")
    response = client.post(IMAGE_ROUTE, files={"file": ("i.npy", header)})
    assert "PINET_MAX_IMAGE_PIXELS" in detail(response, 413)


@pytest.mark.parametrize(
    ("route", "upload"),
    [
        (IMAGE_ROUTE, ("x.csv", b"1,2,3\n4,5,6\n")),
        (SIGNAL_ROUTE, ("x.png", png(IMAGE[0]))),
        (SIGNAL_ROUTE, ("x.bin", b"\x00\x01\x02")),
    ],
)
def test_unsupported_upload(client: httpx.Client, route: str, upload: tuple[str, bytes]) -> None:
    detail(client.post(route, files={"file": upload}), 415)


@pytest.mark.parametrize("route", [SIGNAL_ROUTE, IMAGE_ROUTE])
def test_unsupported_content_type(client: httpx.Client, route: str) -> None:
    response = client.post(route, content=b"1 2 3", headers={"content-type": "text/plain"})
    assert "multipart/form-data" in detail(response, 415)


def test_a_bare_signal_upload_is_one_channel(client: httpx.Client) -> None:
    """A 1-D .npy signal is read as one channel, as the recipes read it, and the answer says
    so: a per-channel model answers, a three-channel one names the channel count."""
    upload = {"file": ("s.npy", npy(SIGNAL[0]))}
    answered = client.post(SIGNAL_ROUTE, files=upload, data={"model": "tiny-signal-per-channel"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["shape"] == [1, 50, 50]
    assert "the 1-D upload was read as one channel, (1, 250)" in answered.json()["notes"]
    refused = client.post(SIGNAL_ROUTE, files=upload, data={"model": "tiny-signal"})
    assert "1 channels" in detail(refused, 422)


@pytest.mark.parametrize(
    ("route", "x", "words"),
    [
        (SIGNAL_ROUTE, np.stack([SIGNAL, SIGNAL]), ["(C, T)", "(2, 3, 250)", "pi:batch"]),
        (SIGNAL_ROUTE, np.float64(1.0), ["(C, T)", "shape ()"]),
        (IMAGE_ROUTE, IMAGE[None], ["(C, H, W)", "(1, 3, 32, 32)", "/v1/images/pi:batch"]),
        (IMAGE_ROUTE, IMAGE[0, 0], ["(C, H, W)", "shape (32,)"]),
    ],
)
def test_an_upload_of_another_rank_names_its_shape(
    client: httpx.Client, route: str, x: np.ndarray, words: list[str]
) -> None:
    message = detail(client.post(route, files={"file": ("x.npy", npy(x))}), 422)
    assert all(word in message for word in words), message


def test_unknown_model(client: httpx.Client) -> None:
    response = client.post(SIGNAL_ROUTE, json={"signal": SIGNAL.tolist(), "model": "nope"})
    message = detail(response, 404)
    assert "nope" in message and "tiny-signal" in message


def test_model_of_the_other_modality(client: httpx.Client) -> None:
    response = client.post(SIGNAL_ROUTE, json={"signal": SIGNAL.tolist(), "model": "tiny-image"})
    assert "/v1/images/pi" in detail(response, 422)


@pytest.mark.parametrize(
    ("route", "upload", "fields"),
    [
        (IMAGE_ROUTE, ("c.png", png(IMAGE.transpose(1, 2, 0))[:60]), {}),  # truncated
        (IMAGE_ROUTE, ("c.png", b"\x89PNG\r\n\x1a\n" + bytes(50)), {}),  # corrupt
        (IMAGE_ROUTE, ("o.npy", npy(np.array([{}, 1], dtype=object))), {}),  # pickled objects
        (IMAGE_ROUTE, ("f.npy", npy(IMAGE / 100.0)), {}),  # floats outside [0, 1]
        (IMAGE_ROUTE, ("t.npy", npy(IMAGE)[:-10]), {}),  # truncated npy
        (IMAGE_ROUTE, ("s.npy", npy(IMAGE[:, :4, :4])), {}),  # below min_input_size
        (SIGNAL_ROUTE, ("s.csv", b"1,2\n3\n"), {}),  # ragged csv
        (SIGNAL_ROUTE, ("s.csv", b"a,b,c\n"), {}),  # header only
        (SIGNAL_ROUTE, ("s.npy", npy(SIGNAL)), {"compare": "maybe"}),
    ],
)
def test_undecodable_uploads(
    client: httpx.Client, route: str, upload: tuple[str, bytes], fields: dict[str, str]
) -> None:
    detail(client.post(route, files={"file": upload}, data=fields), 422)


def test_missing_file_field(client: httpx.Client) -> None:
    response = client.post(SIGNAL_ROUTE, files={"other": ("s.npy", npy(SIGNAL))})
    assert "'file'" in detail(response, 422)


def test_no_input_gives_a_server_error(client: httpx.Client) -> None:
    """Random bytes under every content type: never a 5xx."""
    rng = np.random.default_rng(1)
    prefixes = [b"", b"\x93NUMPY", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b'{"signal": [[']
    for route in (SIGNAL_ROUTE, IMAGE_ROUTE):
        for prefix in prefixes:
            data = prefix + rng.bytes(int(rng.integers(0, 300)))
            for name in ("x.npy", "x.csv", "x.png"):
                assert client.post(route, files={"file": (name, data)}).status_code < 500
            for kind in ("application/json", "multipart/form-data", "image/png"):
                response = client.post(route, content=data, headers={"content-type": kind})
                assert response.status_code < 500, response.text
    assert client.get("/readyz").status_code == 200
