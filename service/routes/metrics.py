"""Prometheus metrics for scrapers; like the probes, never behind the API key."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.metrics import METRICS_PATH, MetricsDep

router = APIRouter(tags=["monitoring"])


@router.get(
    METRICS_PATH,
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def prometheus_metrics(metrics: MetricsDep) -> Response:
    """Requests and latency by route template and status, forward passes by batch size,
    queue depth, refusals and exact-PI durations per model, in the Prometheus text format.
    Runs on the event loop, where the batchers it reads live."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
