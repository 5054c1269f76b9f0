"""/metrics on a real server: requests by route template and status, forward passes by
batch size (concurrent requests share passes), queue depth; open to scrapers without the
API key; and one metric registry per app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.responses import Response
from starlette.routing import Route

from service.app import create_app
from service.launcher import Server
from service.metrics import UNMATCHED_ROUTE, RouteTemplates
from service.settings import Settings
from tests.service.helpers import (
    CONCURRENT,
    SIGNAL,
    parse,
    post_signals_now,
    requests,
    scrape,
    value,
)


def test_requests_by_route_template_and_status(server: Server, client: httpx.Client) -> None:
    before = scrape(server.url)
    for _ in range(2):
        assert client.post("/v1/signals/pi", json={"signal": SIGNAL.tolist()}).status_code == 200
    assert client.post("/v1/signals/pi", json={"signal": SIGNAL[:2].tolist()}).status_code == 422
    assert client.get("/v1/signals/pi").status_code == 405
    assert client.post("/v1/signals/pi", content=bytes(2_100_000)).status_code == 413
    assert client.get("/v1/no-such-route").status_code == 404
    after = scrape(server.url)

    def delta(method: str, route: str, status: int) -> float:
        return requests(after, method, route, status) - requests(before, method, route, status)

    assert delta("POST", "/v1/signals/pi", 200) == 2
    assert delta("POST", "/v1/signals/pi", 422) == 1
    assert delta("GET", "/v1/signals/pi", 405) == 1
    assert delta("POST", "/v1/signals/pi", 413) == 1
    assert delta("GET", "<unmatched>", 404) == 1
    latency = "pinet_http_request_duration_seconds_count"
    labels = {"method": "POST", "route": "/v1/signals/pi"}
    assert value(after, latency, **labels) - value(before, latency, **labels) == 4
    routes = {dict(labels).get("route") for _, labels in after}
    assert "/metrics" not in routes and "/v1/no-such-route" not in routes


def test_concurrent_requests_show_batch_sizes_above_one(server: Server) -> None:
    model = {"model": "tiny-signal"}
    before = scrape(server.url)
    responses = post_signals_now(server.url, CONCURRENT)
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    after = scrape(server.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    passes = delta("pinet_batch_size_count", **model)
    alone = delta("pinet_batch_size_bucket", le="1.0", **model)
    assert 1 <= passes < CONCURRENT
    assert passes - alone >= 1  # at least one forward pass held more than one request
    assert delta("pinet_batch_size_sum", **model) == CONCURRENT
    assert delta("pinet_batcher_requests_total", **model) == CONCURRENT
    assert value(after, "pinet_queue_depth", **model) == 0
    assert value(after, "pinet_queue_depth", model="tiny-image") == 0


def test_compare_records_exact_durations(server: Server, client: httpx.Client) -> None:
    name = "pinet_exact_pi_duration_seconds_count"
    labels = {"model": "tiny-signal", "stage": "diagram"}
    before = value(scrape(server.url), name, **labels)
    body = {"signal": SIGNAL.tolist(), "compare": True}
    assert client.post("/v1/signals/pi", json=body).status_code == 200
    assert value(scrape(server.url), name, **labels) == before + 1


def test_metrics_are_open_without_the_api_key(strict_server: Server) -> None:
    before = scrape(strict_server.url)
    assert httpx.get(f"{strict_server.url}/v1/models").status_code == 401
    after = scrape(strict_server.url)
    refused = [requests(s, "GET", "/v1/models", 401) for s in (before, after)]
    assert refused[1] == refused[0] + 1


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    """Two apps in one process: no clash over metric names, and separate counts."""
    first, second = (create_app(Settings(models_dir=tmp_path)) for _ in range(2))

    async def exercise() -> tuple[str, str]:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(first), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(second), base_url="http://b") as b,
        ):
            for _ in range(3):
                await a.get("/healthz")
            return (await a.get("/metrics")).text, (await b.get("/metrics")).text

    one, two = (parse(text) for text in asyncio.run(exercise()))
    assert requests(one, "GET", "/healthz", 200) == 3
    assert requests(two, "GET", "/healthz", 200) == 0


def test_remembered_route_templates_follow_the_route_list() -> None:
    """A path remembered as unmatched is matched once a route for it is added, and a path
    with a parameter is named by its template."""

    async def endpoint(request: object) -> Response:
        return Response()

    routes = [Route("/items/{item}", endpoint, methods=["GET"])]
    templates = RouteTemplates(routes)

    def scope(method: str, path: str) -> dict[str, object]:
        return {"type": "http", "method": method, "path": path, "root_path": ""}

    assert templates.of(scope("GET", "/items/7")) == "/items/{item}"
    assert templates.of(scope("GET", "/later")) == UNMATCHED_ROUTE
    routes.append(Route("/later", endpoint, methods=["GET"]))
    assert templates.of(scope("GET", "/later")) == "/later"
    assert templates.of(scope("POST", "/items/7")) == "/items/{item}"  # a 405 names it too
