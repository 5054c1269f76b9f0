"""Prometheus metrics of one app, exposed at /metrics.

HTTP requests are counted and timed by route template (`/v1/signals/pi`, never the raw
path, so a scanner's probes cannot create a label each) by the `RequestMetrics` middleware.
The batchers are read at scrape time from their `BatchStats` (the one place that counts
forward passes and refusals) and queue depths, so batching itself knows nothing of
Prometheus. Each app owns its `CollectorRegistry`: several apps in one process (tests,
embedding) never collide over metric names.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.serving.registry import ModelRegistry

METRICS_PATH = "/metrics"  # the scrape itself is not counted: it would only count scrapes
UNMATCHED_ROUTE = "<unmatched>"  # 404s share one label whatever path they asked for
ROUTE_CACHE_SIZE = 1024  # request paths whose route template is remembered
# Forward-pass sizes: powers of two up to PINET_MAX_BATCH_SIZE's useful range (one pass
# of a :batch request is at most max_batch_size inputs too).
BATCH_SIZE_BUCKETS = tuple(float(2**k) for k in range(11))  # 1 ... 1024
# Request latency: milliseconds for a batched forward pass up to a minute for exact PIs of
# large inputs (compare=true).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServiceMetrics:
    """The app's metric registry: HTTP requests, exact-PI and topology durations and, read
    when scraped, each model's batcher."""

    def __init__(self, models: ModelRegistry) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pinet_http_requests",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pinet_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.exact_seconds = Histogram(
            "pinet_exact_pi_duration_seconds",
            "Exact PIs of compare=true requests by model and stage (diagram, image)",
            ["model", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.topology_seconds = Histogram(
            "pinet_topology_duration_seconds",
            "Exact topology of /v1/*/topology requests by recipe and stage (diagram, image)",
            ["recipe", "stage"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(BatcherCollector(models))
        ProcessCollector(registry=self.registry)

    def observe_exact(self, model: str, diagram_ms: float, image_ms: float) -> None:
        """Record how long an exact PI of `model`'s recipe took, by stage."""
        self.exact_seconds.labels(model, "diagram").observe(diagram_ms / 1000.0)
        self.exact_seconds.labels(model, "image").observe(image_ms / 1000.0)

    def observe_topology(self, recipe: str, diagram_ms: float, image_ms: float) -> None:
        """Record how long a topology request's diagrams and images by `recipe` took."""
        self.topology_seconds.labels(recipe, "diagram").observe(diagram_ms / 1000.0)
        self.topology_seconds.labels(recipe, "image").observe(image_ms / 1000.0)

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return generate_latest(self.registry)


class BatcherCollector(Collector):
    """Per model, read at scrape time: forward passes by batch size (a histogram), requests
    and refusals (counters), and the queue depth (a gauge)."""

    def __init__(self, models: ModelRegistry) -> None:
        self._models = models

    def collect(self) -> Iterator[Metric]:
        labels = ["model"]
        sizes = HistogramMetricFamily(
            "pinet_batch_size", "Inputs per forward pass, by model", labels=labels
        )
        requests = CounterMetricFamily(
            "pinet_batcher_requests", "Requests handed to the model's batcher", labels=labels
        )
        rejected = CounterMetricFamily(
            "pinet_batcher_rejected", "Requests refused with 503 (queue full)", labels=labels
        )
        depth = GaugeMetricFamily(
            "pinet_queue_depth", "Requests waiting for a forward pass", labels=labels
        )
        for name, served in sorted(self._models.models.items()):
            stats = served.batcher.stats
            sizes.add_metric(
                [name],
                buckets=cumulative_buckets(stats.batch_sizes, BATCH_SIZE_BUCKETS),
                sum_value=sum(size * count for size, count in stats.batch_sizes.items()),
            )
            requests.add_metric([name], stats.requests)
            rejected.add_metric([name], stats.rejected)
            depth.add_metric([name], served.batcher.depth)
        yield from (sizes, requests, rejected, depth)


def cumulative_buckets(counts: Tally[int], bounds: Sequence[float]) -> list[tuple[str, float]]:
    """Prometheus histogram buckets (upper bound, observations at or below it, +Inf last)
    of a tally value -> number of observations."""
    buckets = [(str(bound), sum(n for v, n in counts.items() if v <= bound)) for bound in bounds]
    return [*buckets, ("+Inf", sum(counts.values()))]


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request by route template. Add it
    last (outermost), so requests answered by other middleware (413, CORS) count too."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's route list itself: routes added later are seen
        self._templates = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._templates.of(scope) if scope["type"] == "http" else None
        if route is None or route == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler

        async def noting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        finally:
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


class RouteTemplates:
    """`route_template`, remembered by method and path: matching a request against every
    route cost about as much as a cheap model's forward pass per request (measured on the
    signal student under load). At most `ROUTE_CACHE_SIZE` paths are remembered, so that a
    scanner's probes cannot grow it without bound; the memory is dropped when the app's
    route list changes length (a route added after the first request)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._routes = routes
        self._known: dict[tuple[str, str, str], str] = {}
        self._route_count = len(routes)

    def of(self, scope: Scope) -> str:
        """The template of the route that serves `scope`, as `route_template` says."""
        if len(self._routes) != self._route_count or len(self._known) >= ROUTE_CACHE_SIZE:
            self._known.clear()
            self._route_count = len(self._routes)
        key = (scope["method"], scope.get("root_path", ""), scope["path"])
        template = self._known.get(key)
        if template is None:
            template = self._known[key] = route_template(self._routes, scope)
        return template


def route_template(routes: list[BaseRoute], scope: Scope) -> str:
    """The path template, prefixes included, of the route that serves `scope` (a full match,
    else one that matches the path but not the method: a 405), or UNMATCHED_ROUTE.

    Matched here rather than read from scope["route"] after the call: that is the route as
    declared, without its router's /v1 prefix, and absent when middleware answered (413).
    """
    partial = None
    for route in iter_route_contexts(routes):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route.path_format or UNMATCHED_ROUTE
        if match is Match.PARTIAL and partial is None:
            partial = route.path_format
    return partial or UNMATCHED_ROUTE


async def get_metrics(request: Request) -> ServiceMetrics:
    """The app's metrics; `async` so that FastAPI calls it on the event loop rather than
    handing it to a worker thread on every request (see service/deps.py)."""
    return request.app.state.metrics


MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
