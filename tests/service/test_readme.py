"""The documented commands, checked as written.

- The README starts with exactly its two commands (install and serve, install and test).
- The curl examples of docs/api.md (the ```bash block under `## Examples`) run as written
  against `python -m service` serving the bundled models of models/ (the README's first
  command, on a free port instead of 8000).
"""

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

from service.launcher import REPOSITORY, Server, launch

README = REPOSITORY / "README.md"
API_DOCS = REPOSITORY / "docs" / "api.md"
EXAMPLES_HEADING = "## Examples"
DOCUMENTED_PORT = "127.0.0.1:8000"
README_COMMANDS = [
    "bash .ci/install && python -m service",
    "bash .ci/install && python -m pytest",
]
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def bash_lines(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_exactly_the_two_commands() -> None:
    text = README.read_text()
    first = BASH_BLOCK.search(text)
    assert first is not None, "README.md has no ```bash block"
    assert text[: first.start()].strip() == "# pinet", "the commands must come first"
    assert bash_lines(first.group(1)) == README_COMMANDS


def api_examples() -> list[str]:
    """The shell lines of the ```bash block right under docs/api.md's `## Examples`."""
    text = API_DOCS.read_text()
    assert EXAMPLES_HEADING + "\n" in text, f"no {EXAMPLES_HEADING!r} heading in {API_DOCS}"
    section = text[text.index(EXAMPLES_HEADING + "\n") :]
    following = section.find("\n## ", len(EXAMPLES_HEADING))
    section = section if following < 0 else section[:following]
    block = BASH_BLOCK.search(section)
    assert block is not None, f"no bash block under {EXAMPLES_HEADING!r} in {API_DOCS}"
    return bash_lines(block.group(1))


@pytest.fixture(scope="module")
def bundled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("readme") / "server.log"
    server = launch(REPOSITORY / "models", log, via_main=True)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def outputs(bundled_server: Server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run every example in a scratch folder that sees the repository's service/ (the docs
    run them from the repository root); what each printed, by command."""
    scratch = tmp_path_factory.mktemp("readme-run")
    (scratch / "service").symlink_to(REPOSITORY / "service")
    printed: dict[str, object] = {"folder": scratch}
    host = bundled_server.url.removeprefix("http://")
    for command in api_examples():
        result = subprocess.run(
            ["bash", "-c", command.replace(DOCUMENTED_PORT, host)],
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
    assert len(matches) == 1, f"expected one documented command starting with {prefix!r}"
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
    assert compared["model"]["name"] == "signal-broad-student"  # a CPU's default
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
    lines = printed_by(outputs, "curl -s http://127.0.0.1:8000/metrics").splitlines()
    counts = dict(line.rsplit(maxsplit=1) for line in lines)
    # the batch went to a CPU's default signal model, the broad student
    assert float(counts['pinet_batch_size_count{model="signal-broad-student"}']) >= 2


def test_exact_topology_of_the_example_photo(outputs: dict[str, object]) -> None:
    folder = Path(str(outputs["folder"]))
    answer = json.loads((folder / "image-topology.json").read_text())
    assert answer["recipe"]["name"] == "image-cubical"
    assert answer["homology_dimensions"] == [0] and np.shape(answer["pi"]) == (3, 50, 50)
    assert all(death > birth for channel in answer["diagrams"] for birth, death in channel)
