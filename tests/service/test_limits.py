"""The cost model over real servers: every request has a bounded cost, refused up front
with 413 and the setting's name when it would exceed one, before anything large is
allocated; and the server's memory does not grow with what it refused."""

from __future__ import annotations

import io

import httpx
import numpy as np
import psutil
import pytest
from PIL import Image

from service.launcher import Server
from tests.service.helpers import SIGNAL, detail, npy

ROUTES = ["/v1/signals/pi", "/v1/images/pi", "/v1/signals/pi:batch", "/v1/images/pi:batch"]
KEY = {"X-API-Key": "s3cret"}  # the strict server's, which keeps the default limits


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A .npy header for `shape`, with no data after it: what a 200-byte attack sends."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


def server_rss(server: Server) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


@pytest.mark.parametrize("route", ROUTES)
def test_a_huge_declared_npy_shape_is_refused_on_every_route(
    strict_server: Server, route: str
) -> None:
    """A 200-byte file declaring (10^9, 64) float64 (512 GB): 413 from the header, and the
    same keep-alive connection goes on serving."""
    before = server_rss(strict_server)
    with httpx.Client(base_url=strict_server.url, headers=KEY, timeout=30) as client:
        answer = client.post(route, files={"file": ("x.npy", npy_header((10**9, 64)))})
        assert "PINET_" in detail(answer, 413)
        assert client.get("/v1/models").status_code == 200  # same connection, still served
    assert server_rss(strict_server) - before < 50 * 2**20


def test_a_header_that_disagrees_with_its_data_is_refused(strict_server: Server) -> None:
    lying = npy_header((3, 250)) + bytes(8)  # declares 6,000 bytes, holds 8
    answer = httpx.post(
        f"{strict_server.url}/v1/signals/pi", files={"file": ("x.npy", lying)}, headers=KEY
    )
    assert "declares shape (3, 250) of float64 (6000 bytes)" in detail(answer, 422)


def test_a_small_png_of_many_pixels_is_refused_without_decoding(strict_server: Server) -> None:
    """A 4 KB all-black 2048x2048 PNG, at the pixel limit: 4 million values, over the input
    limit; refused from its header, the server's memory unchanged (it took 3.4 s and 2.4 GB
    with the bundled image model before the cost model)."""
    buffer = io.BytesIO()
    Image.new("L", (2048, 2048)).save(buffer, format="PNG")
    before = server_rss(strict_server)
    answer = httpx.post(
        f"{strict_server.url}/v1/images/pi",
        files={"file": ("black.png", buffer.getvalue())},
        headers=KEY,
        timeout=30,
    )
    assert "PINET_MAX_INPUT_ELEMENTS" in detail(answer, 413)
    assert server_rss(strict_server) - before < 50 * 2**20


def test_a_per_channel_model_takes_at_most_max_channels(strict_server: Server) -> None:
    """A 2 MB (32768, 64) int8 signal gave a 1 GB JSON answer in 23 s before."""
    many = np.zeros((32768, 64), np.int8)
    answer = httpx.post(
        f"{strict_server.url}/v1/signals/pi",
        files={"file": ("s.npy", npy(many))},
        data={"model": "tiny-signal-per-channel"},
        headers=KEY,
    )
    assert "32,768 channels" in detail(answer, 413)
    assert "PINET_MAX_CHANNELS" in answer.json()["detail"]


def test_png_answers_draw_a_bounded_number_of_channels(strict_server: Server) -> None:
    nine = np.random.default_rng(0).normal(size=(9, 250))
    upload = {"file": ("s.npy", npy(nine))}
    url = f"{strict_server.url}/v1/signals/pi"
    fields = {"model": "tiny-signal-per-channel"}
    as_png = httpx.post(url, files=upload, data=fields, params={"format": "png"}, headers=KEY)
    assert "PINET_MAX_PNG_CHANNELS" in detail(as_png, 413)
    as_npy = httpx.post(url, files=upload, data=fields, params={"format": "npy"}, headers=KEY)
    assert as_npy.status_code == 200, as_npy.text


def test_a_batch_answer_holds_at_most_max_response_pis(strict_server: Server) -> None:
    batch = np.zeros((512, 7, 64))  # 3,584 PIs
    answer = httpx.post(
        f"{strict_server.url}/v1/signals/pi:batch",
        files={"file": ("b.npy", npy(batch))},
        data={"model": "tiny-signal-per-channel"},
        headers=KEY,
    )
    assert "PINET_MAX_RESPONSE_PIS" in detail(answer, 413)


def test_a_json_signal_is_held_to_the_same_limits(server: Server) -> None:
    """The default server allows 5,000 samples; channels x samples count too."""
    long = {"signal": np.zeros((1, 5_001)).tolist()}
    assert "PINET_MAX_SIGNAL_LENGTH" in detail(
        httpx.post(f"{server.url}/v1/signals/pi", json=long), 413
    )
    many = {"signal": np.zeros((65, 100)).tolist(), "model": "tiny-signal-per-channel"}
    assert "PINET_MAX_CHANNELS" in detail(httpx.post(f"{server.url}/v1/signals/pi", json=many), 413)
    fine = {"signal": SIGNAL.tolist()}
    assert httpx.post(f"{server.url}/v1/signals/pi", json=fine).status_code == 200
