"""What the service tests share: example inputs, their encodings, and the checks every
error answer must pass."""

from __future__ import annotations

import asyncio
import io

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

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


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    labels = {"method": method, "route": route, "status": str(status)}
    return value(samples, "pinet_http_requests_total", **labels)


def requests_counted(server: Server, method: str, route: str) -> dict[str, float]:
    """/metrics' count of requests to `route` by status code."""
    return {
        dict(labels)["status"]: count
        for (name, labels), count in scrape(server.url).items()
        if name == "pinet_http_requests_total"
        and dict(labels).get("method") == method
        and dict(labels).get("route") == route
    }
