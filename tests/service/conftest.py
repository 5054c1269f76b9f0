"""Two tiny checkpoints in a models folder, and real uvicorn servers serving them.

Each server is a subprocess on a free port of 127.0.0.1, configured through PINET_*
environment variables exactly as in production, and torn down after the module.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import torch

from pinet.checkpoint import DataSourceRef, ModelCard, RecipeRef, save_checkpoint
from pinet.models import build_model
from pinet.tda import get_recipe

TINY_WIDTHS = (4, 8, 8, 16)
REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Server:
    url: str
    models_dir: Path
    log: Path
    process: subprocess.Popen[bytes]


def tiny_checkpoint(
    folder: Path,
    name: str,
    modality: str,
    input_shape: tuple[int, ...],
    recipe: str,
    per_channel: bool = False,
    average_reversed: bool = False,
) -> Path:
    torch.manual_seed(0)
    model = build_model(
        modality, input_shape[0], "relu", TINY_WIDTHS, per_channel, average_reversed
    )
    card = ModelCard(
        name=name,
        modality=modality,
        in_channels=input_shape[0],
        widths=TINY_WIDTHS,
        per_channel=per_channel,
        average_reversed=average_reversed,
        input_shape=input_shape,
        recipe=RecipeRef(name=recipe, params=get_recipe(recipe).params),
        data_source=DataSourceRef(name="synthetic"),
        metrics={"val_mse": 0.0123, "val_ssim": 0.5},
    )
    save_checkpoint(model, card, folder / name, dtype=torch.float16)
    return folder / name


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    tiny_checkpoint(folder, "tiny-signal", "signal", (3, 250), "signal-sublevel")
    tiny_checkpoint(folder, "tiny-image", "image", (3, 32, 32), "image-raster")
    # Sorts after tiny-signal, which stays the default signal model.
    tiny_checkpoint(
        folder,
        "tiny-signal-per-channel",
        "signal",
        (3, 250),
        "signal-sublevel",
        per_channel=True,
        average_reversed=True,
    )
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(models_dir: Path, log: Path, via_main: bool, **settings: object) -> Server:
    """Start a server process configured by PINET_* variables; `wait_until_ready` it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINET_")}
    env |= {"PINET_MODELS_DIR": str(models_dir), "PINET_DEVICE": "cpu"}
    env |= {f"PINET_{key.upper()}": str(value) for key, value in settings.items()}
    if via_main:
        command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
    return Server(f"http://127.0.0.1:{port}", models_dir, log, process)


def wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            pytest.fail(f"server exited with {code}:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not ready after {STARTUP_TIMEOUT_S} s:\n{server.log.read_text()}")


@pytest.fixture(scope="session")
def servers(
    models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """Both servers, started side by side (each takes seconds to import and warm up)."""
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
        ),
        # An API key, one request per forward pass and room for two waiting requests.
        "strict": launch(
            models_dir,
            logs / "strict.log",
            via_main=False,
            api_key="s3cret",
            queue_size=2,
            max_batch_size=1,
            max_wait_ms=0,
        ),
    }
    try:
        for server in started.values():
            wait_until_ready(server)
        yield started
    finally:
        for server in started.values():
            server.process.terminate()
        for server in started.values():
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()


@pytest.fixture(scope="session")
def server(servers: dict[str, Server]) -> Server:
    return servers["default"]


@pytest.fixture(scope="session")
def strict_server(servers: dict[str, Server]) -> Server:
    return servers["strict"]


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client
