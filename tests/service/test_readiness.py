"""Before its models are loaded the service is alive but not ready, and says why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from service.app import create_app
from service.settings import Settings
from tests.helpers import tiny_checkpoint


def test_not_ready_until_models_are_loaded(tmp_path: Path) -> None:
    # No lifespan runs under ASGITransport: the models are never loaded.
    app = create_app(Settings(models_dir=tmp_path))

    async def probe() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return {path: await client.get(path) for path in ("/healthz", "/readyz", "/v1/models")}

    responses = asyncio.run(probe())
    assert responses["/healthz"].status_code == 200
    for path in ("/readyz", "/v1/models"):
        assert responses[path].status_code == 503
        assert "loading" in responses[path].json()["detail"]
        assert responses[path].headers["Retry-After"] == "1"


def test_empty_models_dir_is_never_ready(tmp_path: Path) -> None:
    app = create_app(Settings(models_dir=tmp_path, device="cpu"))
    registry = app.state.registry
    asyncio.run(registry.load())
    assert not registry.ready
    assert str(tmp_path) in registry.problem


def test_onnxruntime_threads_spin_only_when_the_settings_say_so(tmp_path: Path) -> None:
    """Off by default: a spinning session burns a core after every pass of sparse traffic."""
    tiny_checkpoint(tmp_path, "graph", "signal", (3, 250), "signal-sublevel", onnx=True)
    for settings, spinning in ((Settings(), False), (Settings(onnxruntime_spinning=True), True)):
        app = create_app(settings.model_copy(update={"models_dir": tmp_path, "device": "cpu"}))
        registry = app.state.registry
        asyncio.run(registry.load())
        try:
            assert registry.ready, registry.problem
            backend = registry.models["graph"].loaded.backend
            assert (backend.name, backend.spinning) == ("onnxruntime", spinning)
        finally:
            asyncio.run(registry.close())
