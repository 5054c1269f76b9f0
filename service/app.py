"""The FastAPI application: `create_app()` builds it (uvicorn factory mode), its lifespan
loads and warms every model of the models directory once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from service.deps import declare_api_key
from service.errors import install_error_handlers
from service.metrics import RequestMetrics, ServiceMetrics
from service.middleware import (
    API_KEY_HEADER,
    ApiKeyGate,
    BodySizeLimit,
    Deadlines,
    JSONCORSMiddleware,
)
from service.routes import health, metrics, models, pi, topology
from service.routes.page import mount_page
from service.schemas import ErrorBody
from service.serving.registry import ModelRegistry
from service.settings import Settings

log = logging.getLogger("service")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service, configured by `settings` (default: PINET_* environment variables)."""
    settings = settings or Settings()
    registry = ModelRegistry(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load in the background: /healthz answers at once, /readyz says when models are in.
        loading = asyncio.create_task(registry.load(), name="load-models")
        yield
        loading.cancel()
        await registry.close()

    app = FastAPI(
        title="pinet",
        summary="Learned persistence images (PI-Net) of signals and images",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.metrics = ServiceMetrics(registry)
    install_error_handlers(app)

    v1 = APIRouter(
        prefix="/v1",
        dependencies=[Depends(declare_api_key)],
        responses={401: {"model": ErrorBody, "description": "missing or wrong X-API-Key"}},
    )
    v1.include_router(models.router)
    v1.include_router(models.stats_router)
    v1.include_router(pi.router)
    v1.include_router(topology.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(v1)
    mount_page(app)

    # Each add_middleware wraps what is there: the last one added sees a request first.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        Deadlines,
        body_timeout_s=settings.body_timeout_s,
        request_timeout_s=settings.request_timeout_s,
        retry_after_s=settings.retry_after_s,
    )
    if settings.api_key is not None:
        app.add_middleware(ApiKeyGate, api_key=settings.api_key)
    if settings.cors_origins:  # outside the key: a browser's preflight carries no key
        app.add_middleware(
            JSONCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", API_KEY_HEADER],
        )
    # Outermost, so requests answered by the middleware above (401, 408, 413, CORS) count.
    app.add_middleware(RequestMetrics, metrics=app.state.metrics, routes=app.routes)
    return app
