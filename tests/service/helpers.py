"""What the service tests share: example inputs, their encodings, and the checks every
error answer must pass."""

from __future__ import annotations

import asyncio
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from service.launcher import Server, ServerFailed

RNG = np.random.default_rng(0)
SIGNAL = RNG.normal(size=(3, 250))
IMAGE = RNG.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)
CONCURRENT = 16  # requests sent at once to see them share forward passes


def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def detail(response: httpx.Response, status: int) -> str:
    """The message of a JSON error answer `{"detail": ...}` with `status`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["detail"]
    assert isinstance(message, str) and message
    return message


async def post_signals(url: str, count: int, headers: dict[str, str]) -> list[httpx.Response]:
    """`count` concurrent JSON requests for the PIs of SIGNAL."""
    async with httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) as client:
        body = {"signal": SIGNAL.tolist()}
        return await asyncio.gather(
            *(client.post("/v1/signals/pi", json=body) for _ in range(count))
        )


def post_signals_now(url: str, count: int, headers: dict[str, str] | None = None) -> list:
    """`post_signals`, run to completion from synchronous test code."""
    return asyncio.run(post_signals(url, count, headers or {}))


def ready(server: Server) -> Server:
    """`server` once it answers /readyz; the test fails with its log if it never does."""
    try:
        server.wait_until_ready()
    except ServerFailed as error:
        pytest.fail(str(error))
    return server
