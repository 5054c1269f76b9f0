"""The README's service commands, run as written against `python -m service` serving the
bundled models of models/ (the README's first command, on a free port instead of 8000)."""

from __future__ import annotations

import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.service.conftest import REPO, Server, launch, wait_until_ready

README_PORT = "127.0.0.1:8000"
SECTION = "## The service"


def readme_service_commands() -> list[str]:
    """The shell lines of the first ```bash block of the README's service section."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION) :]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"no bash block under {SECTION!r}"
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bundled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("readme") / "server.log"
    server = launch(REPO / "models", log, via_main=True)
    try:
        wait_until_ready(server)
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def outputs(bundled_server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run every command in a scratch folder that sees the repository's service/ (the
    README runs them from the repository root); what each printed, by command."""
    scratch = tmp_path_factory.mktemp("readme-run")
    (scratch / "service").symlink_to(REPO / "service")
    printed: dict[str, object] = {"folder": scratch}
    host = bundled_server.url.removeprefix("http://")
    for command in readme_service_commands():
        result = subprocess.run(
            ["bash", "-c", command.replace(README_PORT, host)],
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        printed[command] = result.stdout
    return printed


def printed_by(outputs: dict[str, object], prefix: str) -> str:
    matches = [out for command, out in outputs.items() if command.startswith(prefix)]
    assert len(matches) == 1, f"expected one README command starting with {prefix!r}"
    return str(matches[0])


def test_readiness_and_the_bundled_models(outputs: dict[str, object]) -> None:
    assert json.loads(printed_by(outputs, "curl -s http://127.0.0.1:8000/readyz")) == {
        "status": "ready"
    }
    models = json.loads(printed_by(outputs, "curl -s http://127.0.0.1:8000/v1/models"))
    assert {model["modality"] for model in models["models"]} == {"signal", "image"}


def test_signal_comparison_and_json_request(outputs: dict[str, object]) -> None:
    folder = Path(str(outputs["folder"]))
    compared = json.loads((folder / "signal-pi.json").read_text())
    assert np.shape(compared["pi"]) == np.shape(compared["exact"]["pi"]) == (3, 50, 50)
    assert 0.0 <= compared["mse"] < 0.05 and compared["speedup"] > 0
    from_json = json.loads((folder / "json-pi.json").read_text())
    assert from_json["shape"] == [3, 50, 50]


def test_image_as_npy_and_png(outputs: dict[str, object]) -> None:
    folder = Path(str(outputs["folder"]))
    pis = np.load(folder / "image-pi.npy", allow_pickle=False)
    assert pis.shape == (3, 50, 50) and np.isfinite(pis).all()
    picture = Image.open(io.BytesIO((folder / "image-pi.png").read_bytes()))
    assert picture.format == "PNG" and picture.height > 100


def test_batch_of_signals_and_the_metric_it_leaves(outputs: dict[str, object]) -> None:
    folder = Path(str(outputs["folder"]))
    assert np.load(folder / "signals-pi.npy", allow_pickle=False).shape == (64, 3, 50, 50)
    counts = printed_by(outputs, "curl -s http://127.0.0.1:8000/metrics").split()
    assert counts[0].startswith("pinet_batch_size_count") and float(counts[-1]) >= 2
