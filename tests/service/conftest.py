"""Tiny checkpoints in a models folder, and real uvicorn servers serving them.

Each server is a subprocess on a free port of 127.0.0.1 (`service.launcher`), configured
through PINET_* environment variables exactly as in production, and torn down after the
session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.launcher import Server, launch
from tests.helpers import tiny_checkpoint
from tests.service.helpers import ready

TINY_METRICS = {"val_mse": 0.0123, "val_ssim": 0.5}
# The default and strict servers name their default signal model; the patient server
# leaves it to the CPU's rule (the smallest network: tiny-signal-per-channel).
DEFAULT_MODELS = '{"signal": "tiny-signal"}'


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for name, modality, shape, recipe in (
        ("tiny-signal", "signal", (3, 250), "signal-sublevel"),
        ("tiny-image", "image", (3, 32, 32), "image-raster"),
        # Diagrams of two homology dimensions, H0 and H1 (the bundled models' have H0 only).
        ("tiny-image-cubical", "image", (3, 32, 32), "image-cubical"),
        # Exact topology whose cost no input limit bounds (compare=true has its own cap).
        ("tiny-image-rips", "image", (3, 32, 32), "image-rips"),
    ):
        tiny_checkpoint(folder, name, modality, shape, recipe, metrics=TINY_METRICS)
    tiny_checkpoint(folder, "tiny-signal-onnx", "signal", (3, 250), "signal-sublevel", onnx=True)
    tiny_checkpoint(
        folder,
        "tiny-signal-per-channel",
        "signal",
        (3, 250),
        "signal-sublevel",
        per_channel=True,
        average_reversed=True,
        average_resampled=True,
        metrics=TINY_METRICS,
    )
    return folder


@pytest.fixture(scope="session")
def servers(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """The servers, started side by side (each takes seconds to import and warm up)."""
    logs = tmp_path_factory.mktemp("servers")
    started = {
        # The default server, started as `python -m service`, with small limits to test.
        "default": launch(
            models_dir,
            logs / "default.log",
            via_main=True,
            max_wait_ms=50,
            max_body_bytes=2_000_000,
            max_signal_length=5_000,
            max_image_pixels=100 * 100,
            header_timeout_s=2,
            body_timeout_s=2,
            max_header_bytes=8192,
            default_models=DEFAULT_MODELS,
        ),
        # An API key, one request per forward pass and room for two waiting requests; exact
        # topology of 1,000 values at most, fewer than the photo crop's 3,072.
        "strict": launch(
            models_dir,
            logs / "strict.log",
            via_main=False,
            api_key="s3cret",
            queue_size=2,
            max_batch_size=1,
            max_wait_ms=0,
            max_topology_values=1000,
            default_models=DEFAULT_MODELS,
        ),
        # A lone request waits 3 s for company, beyond a 1 s time budget; CORS for one origin.
        "patient": launch(
            models_dir,
            logs / "patient.log",
            max_wait_ms=3000,
            request_timeout_s=1,
            cors_origins='["https://allowed.example"]',
        ),
    }
    try:
        for server in started.values():
            ready(server)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="session")
def server(servers: dict[str, Server]) -> Server:
    return servers["default"]


@pytest.fixture(scope="session")
def strict_server(servers: dict[str, Server]) -> Server:
    return servers["strict"]


@pytest.fixture(scope="session")
def patient_server(servers: dict[str, Server]) -> Server:
    return servers["patient"]


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client
