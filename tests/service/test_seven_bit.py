"""PINET_SEVEN_BIT_GRAPHS over real uvicorn: an int8 model that ships a 7-bit twin of its
graph is served by the twin or by the 8-bit graph as set, and `GET /v1/models` names the file
that runs and lists that file's metrics."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from pinet.export.onnx import GRAPH_FILE, SEVEN_BIT_GRAPH_FILE
from pinet.inference import load_model, predict
from service.launcher import Server, launch
from tests.helpers import tiny_checkpoint
from tests.service.helpers import ready

MODEL = "tiny-signal-int8"
MAIN_METRICS = {"val_mse": 0.0123, "test_mse_vs_mean_pi": 0.25}
SEVEN_BIT_METRICS = {"test_mse_vs_mean_pi": 0.5}
SIGNAL = np.random.default_rng(5).normal(size=(3, 250)).cumsum(axis=-1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[bool, Server]]:
    """Two servers of one int8 model with a twin: one told to run twins, one not."""
    folder = tmp_path_factory.mktemp("seven-bit-models")
    tiny_checkpoint(
        folder,
        MODEL,
        "signal",
        (3, 250),
        "signal-sublevel",
        metrics=MAIN_METRICS,
        seven_bit_metrics=SEVEN_BIT_METRICS,
    )
    logs = tmp_path_factory.mktemp("seven-bit-logs")
    servers = {
        choice: launch(folder, logs / f"{choice}.log", seven_bit_graphs=str(choice).lower())
        for choice in (True, False)
    }
    try:
        yield {choice: ready(server) for choice, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


def listed(server: Server) -> dict[str, object]:
    (model,) = httpx.get(f"{server.url}/v1/models", timeout=30).json()["models"]
    return model


def test_the_model_list_names_the_file_that_runs_and_its_metrics(
    served: dict[bool, Server],
) -> None:
    seven, eight = listed(served[True]), listed(served[False])
    assert (seven["runs_file"], eight["runs_file"]) == (SEVEN_BIT_GRAPH_FILE, GRAPH_FILE)
    assert seven["metrics"] == MAIN_METRICS | SEVEN_BIT_METRICS
    assert eight["metrics"] == MAIN_METRICS
    assert seven["precision"] == eight["precision"] == "int8"


def test_each_server_answers_with_the_graph_it_names(served: dict[bool, Server]) -> None:
    answers = {}
    for choice, server in served.items():
        body = {"signal": SIGNAL.tolist(), "model": MODEL}
        response = httpx.post(f"{server.url}/v1/signals/pi", json=body, timeout=30)
        assert response.status_code == 200, response.text
        answers[choice] = np.asarray(response.json()["pi"])
        local = load_model(server.models_dir / MODEL, "cpu", seven_bit=choice)
        np.testing.assert_allclose(answers[choice], predict(local, SIGNAL), rtol=0, atol=1e-6)
    assert not np.allclose(answers[True], answers[False], rtol=0, atol=1e-6)
