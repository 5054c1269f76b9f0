"""The :batch routes on a real server: a whole .npy batch gives the same PIs as one request
per input, in forward passes of at most max_batch_size, and every bad batch gets a 4xx."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from openapi_spec_validator import validate

from pinet.inference import load_model, predict
from service.launcher import Server
from tests.service.helpers import detail, npy, png

RNG = np.random.default_rng(4)
SIGNALS = RNG.normal(size=(40, 3, 250))  # more than max_batch_size (32): two forward passes
IMAGES = RNG.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
SIGNAL_BATCH, IMAGE_BATCH = "/v1/signals/pi:batch", "/v1/images/pi:batch"


@pytest.mark.parametrize(
    ("route", "model", "batch", "passes"),
    [(SIGNAL_BATCH, "tiny-signal", SIGNALS, 2), (IMAGE_BATCH, "tiny-image", IMAGES, 1)],
)
def test_batch_matches_pinet_predict(
    client: httpx.Client, server: Server, route: str, model: str, batch: np.ndarray, passes: int
) -> None:
    response = client.post(route, files={"file": ("b.npy", npy(batch))})
    assert response.status_code == 200, response.text
    body = response.json()
    n = len(batch)
    assert body["shape"] == [n, 3, 50, 50]
    assert body["model"]["name"] == model
    assert body["timing"]["forward_passes"] == passes
    assert body["timing"]["per_sample_ms"] == pytest.approx(body["timing"]["total_ms"] / n)
    expected = predict(load_model(server.models_dir / model, "cpu"), batch)
    np.testing.assert_allclose(np.array(body["pis"]), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("route", "single", "batch"),
    [
        (SIGNAL_BATCH, "/v1/signals/pi", SIGNALS[:3]),
        (IMAGE_BATCH, "/v1/images/pi", IMAGES[:3]),
    ],
)
def test_batch_equals_single_requests(
    client: httpx.Client, route: str, single: str, batch: np.ndarray
) -> None:
    pis = client.post(route, files={"file": ("b.npy", npy(batch))}).json()["pis"]
    for x, pi in zip(batch, pis, strict=True):
        alone = client.post(single, files={"file": ("x.npy", npy(x))})
        assert alone.status_code == 200, alone.text
        np.testing.assert_allclose(pi, alone.json()["pi"], atol=1e-5)


def test_format_npy_returns_the_batch_array(client: httpx.Client) -> None:
    upload = {"file": ("b.npy", npy(IMAGES))}
    response = client.post(IMAGE_BATCH, params={"format": "npy"}, files=upload)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    pis = np.load(io.BytesIO(response.content), allow_pickle=False)
    assert pis.shape == (5, 3, 50, 50) and pis.dtype == np.float32
    as_json = client.post(IMAGE_BATCH, files=upload).json()["pis"]
    np.testing.assert_allclose(pis, as_json, atol=1e-6)


def with_nan(batch: np.ndarray) -> np.ndarray:
    spoiled = batch.copy()
    spoiled[1, 2, 3] = np.nan
    return spoiled


@pytest.mark.parametrize(
    ("route", "upload", "fields", "status", "says"),
    [
        (SIGNAL_BATCH, npy(SIGNALS[:0]), {}, 422, "empty"),
        (SIGNAL_BATCH, npy(np.zeros((1025, 3, 1))), {}, 413, "PINET_MAX_BATCH_ITEMS"),
        (SIGNAL_BATCH, npy(SIGNALS[0]), {}, 422, "(N, C, T)"),
        (IMAGE_BATCH, npy(IMAGES[0]), {}, 422, "(N, C, H, W)"),
        (SIGNAL_BATCH, npy(SIGNALS[:4, :2]), {}, 422, "expects 3"),
        (IMAGE_BATCH, npy(IMAGES[:, :1]), {}, 422, "expects 3"),
        (SIGNAL_BATCH, npy(with_nan(SIGNALS[:4])), {}, 422, "NaN or infinite"),
        (IMAGE_BATCH, npy(with_nan(IMAGES / 255.0)), {}, 422, "NaN or infinite"),
        (IMAGE_BATCH, npy(IMAGES / 100.0), {}, 422, "[0, 1]"),
        (SIGNAL_BATCH, npy(SIGNALS[:2, :, :4]), {}, 422, "at least"),
        (SIGNAL_BATCH, npy(np.zeros((2, 3, 6_000))), {}, 413, "PINET_MAX_SIGNAL_LENGTH"),
        (SIGNAL_BATCH, npy(SIGNALS[:2]), {"compare": "true"}, 422, "compare"),
        (SIGNAL_BATCH, npy(SIGNALS[:2]), {"model": "nope"}, 404, "nope"),
        (IMAGE_BATCH, png(IMAGES[0, 0]), {}, 415, ".npy"),
        (SIGNAL_BATCH, b"1,2,3\n4,5,6\n", {}, 415, ".npy"),
    ],
)
def test_bad_batches_get_4xx_json(
    client: httpx.Client,
    route: str,
    upload: bytes,
    fields: dict[str, str],
    status: int,
    says: str,
) -> None:
    response = client.post(route, files={"file": ("b.npy", upload)}, data=fields)
    assert says in detail(response, status)


def test_png_is_not_a_batch_format(client: httpx.Client) -> None:
    upload = {"file": ("b.npy", npy(SIGNALS[:2]))}
    response = client.post(SIGNAL_BATCH, params={"format": "png"}, files=upload)
    assert "format" in detail(response, 422)


def test_openapi_is_valid_and_documents_the_batch_routes(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    validate(schema)
    for route in (SIGNAL_BATCH, IMAGE_BATCH):
        post = schema["paths"][route]["post"]
        assert "compare is not offered" in post["requestBody"]["description"]
        assert set(post["requestBody"]["content"]) == {"multipart/form-data"}
    operations = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(operations) == len(set(operations))
