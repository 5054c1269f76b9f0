"""Dynamic batching on a real server: concurrent requests share forward passes, and an
overloaded queue refuses with 503 + Retry-After while the server stays up."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np

from pinet.inference import load_model, predict
from service.errors import QueueFull
from service.launcher import Server
from service.serving.batching import Batcher, BatchLimits, BatchResult, BatchStats
from tests.service.helpers import CONCURRENT, post_signals_now


def test_concurrent_requests_share_forward_passes(server: Server, client: httpx.Client) -> None:
    before = client.get("/v1/stats").json()["models"]["tiny-signal"]
    responses = post_signals_now(server.url, CONCURRENT)
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    sizes = [r.json()["timing"]["batch_size"] for r in responses]
    assert max(sizes) > 1
    first = np.array(responses[0].json()["pi"])
    for response in responses[1:]:  # batch-mates get the same answer as a lone request
        np.testing.assert_allclose(response.json()["pi"], first, atol=1e-5)

    after = client.get("/v1/stats").json()["models"]["tiny-signal"]
    assert after["requests"] - before["requests"] == CONCURRENT
    new_batches = after["batches"] - before["batches"]
    assert 1 <= new_batches < CONCURRENT
    assert after["queue_depth"] == 0


def test_overload_gives_503_with_retry_after(strict_server: Server) -> None:
    responses = post_signals_now(strict_server.url, 64, {"X-API-Key": "s3cret"})
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}
    refused = [r for r in responses if r.status_code == 503]
    assert refused and statuses.count(200) >= 1
    assert all(r.headers["Retry-After"] == "1" for r in refused)
    assert "retry" in refused[0].json()["detail"]
    assert httpx.get(f"{strict_server.url}/readyz").status_code == 200
    stats = httpx.get(f"{strict_server.url}/v1/stats", headers={"X-API-Key": "s3cret"}).json()
    assert stats["models"]["tiny-signal"]["rejected"] == len(refused)


def test_api_key(strict_server: Server) -> None:
    url = strict_server.url
    assert httpx.get(f"{url}/healthz").status_code == 200  # probes stay open
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = httpx.get(f"{url}/v1/models", headers=headers)
        assert response.status_code == 401
        assert "X-API-Key" in response.json()["detail"]
    assert httpx.get(f"{url}/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200


def limits(**changes: float) -> BatchLimits:
    """Batching limits for the tests: small batches, room for 12 waiting requests."""
    defaults = dict(
        max_batch_size=4,
        max_wait_ms=20,
        queue_size=12,
        max_pass_elements=2**20,
        large_input_elements=2**16,
    )
    return BatchLimits(**(defaults | changes))


def test_batcher_groups_inputs_by_shape(server: Server) -> None:
    """Inputs of two lengths, interleaved: batches form per length and every request gets
    its own PIs (a mixed batch could not even be stacked)."""
    model = load_model(server.models_dir / "tiny-signal", "cpu")
    rng = np.random.default_rng(2)
    lengths = [250 if i % 2 else 300 for i in range(12)]
    inputs = [rng.normal(size=(3, n)) for n in lengths]

    async def run() -> tuple[list[BatchResult], list[object]]:
        with ThreadPoolExecutor(1) as lane, ThreadPoolExecutor(1) as large_lane:
            batcher = Batcher(model, lane, large_lane, limits())
            batcher.start()
            results = await asyncio.gather(*(batcher.submit(x) for x in inputs))
            overload = [batcher.submit(x) for x in inputs * 2]
            outcomes = await asyncio.gather(*overload, return_exceptions=True)
            await batcher.stop()
        return results, outcomes

    results, outcomes = asyncio.run(run())
    assert 1 < max(r.batch_size for r in results) <= 4
    for x, result in zip(inputs, results, strict=True):
        np.testing.assert_allclose(result.pi, predict(model, x), atol=1e-5)
    assert sum(isinstance(o, QueueFull) for o in outcomes) == 12


def test_a_pass_holds_at_most_max_pass_elements_values(server: Server) -> None:
    """Eight concurrent (3, 250) inputs with room for two per pass (1,500 values), and a
    client batch of five: no pass is larger, whatever max_batch_size allows."""
    model = load_model(server.models_dir / "tiny-signal", "cpu")
    inputs = np.random.default_rng(3).normal(size=(8, 3, 250))

    async def run() -> tuple[list[BatchResult], BatchStats]:
        with ThreadPoolExecutor(1) as lane, ThreadPoolExecutor(1) as large_lane:
            batcher = Batcher(
                model, lane, large_lane, limits(max_batch_size=8, max_pass_elements=1_500)
            )
            batcher.start()
            results = await asyncio.gather(*(batcher.submit(x) for x in inputs))
            bulk = await batcher.submit_batch(inputs[:5])
            await batcher.stop()
        assert bulk.forward_passes == 3 and bulk.pis.shape == (5, 3, 50, 50)
        return results, batcher.stats

    results, stats = asyncio.run(run())
    assert max(r.batch_size for r in results) == 2
    assert max(stats.batch_sizes) == 2


def test_a_large_input_never_holds_up_small_ones(server: Server) -> None:
    """The large lane is kept busy (a blocked thread); an input over large_input_elements
    waits for it, while small inputs of the same model are answered meanwhile."""
    model = load_model(server.models_dir / "tiny-signal", "cpu")
    rng = np.random.default_rng(4)
    small, large = rng.normal(size=(4, 3, 250)), rng.normal(size=(3, 4_000))
    release = threading.Event()

    async def run() -> None:
        with ThreadPoolExecutor(1) as lane, ThreadPoolExecutor(1) as large_lane:
            batcher = Batcher(model, lane, large_lane, limits(large_input_elements=1_000))
            batcher.start()
            large_lane.submit(release.wait)  # the large lane is busy until released
            try:
                big = asyncio.ensure_future(batcher.submit(large))
                answers = await asyncio.gather(*(batcher.submit(x) for x in small))
                assert not big.done() and len(answers) == 4
            finally:
                release.set()
            alone = await big
            assert alone.batch_size == 1
            np.testing.assert_allclose(alone.pi, predict(model, large), atol=1e-5)
            await batcher.stop()

    asyncio.run(run())
