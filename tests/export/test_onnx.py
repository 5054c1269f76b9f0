"""ONNX export: a graph onnxruntime runs, equal to the torch network on fixed inputs of any
size, loaded by default from its card, int8 within a stated tolerance of float32, and
refused when the file is not the one its card names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pinet.checkpoint import CheckpointError, read_card
from pinet.export import export_onnx
from pinet.inference import load_model, predict
from tests.helpers import TrainedRun

# float32 graph against the float32 network: summation order only.
FLOAT32_TOLERANCE = 1e-5
# int8 weights and activations: PIs in [0, 1] move by a few hundredths at most on these
# tiny test networks, calibrated on a few dozen windows (measured: 0.07).
INT8_TOLERANCE = 0.1


@pytest.fixture(scope="module")
def signal_graph(signal_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny-signal"
    export_onnx(signal_run.out / "best", out, signal_run.store)
    return out


def test_the_graph_is_the_network_on_inputs_of_any_size(
    signal_run: TrainedRun, signal_graph: Path
) -> None:
    graph = load_model(signal_graph, "cpu")  # the card names onnxruntime: the default
    network = load_model(signal_run.out / "best", "cpu")
    assert (graph.backend.name, graph.backend.precision) == ("onnxruntime", "float32")
    rng = np.random.default_rng(0)
    for shape in [(3, 250), (5, 3, 250), (2, 3, 64), (1, 3, 1001)]:
        x = rng.normal(size=shape).cumsum(axis=-1)
        np.testing.assert_allclose(
            predict(graph, x), predict(network, x), rtol=0, atol=FLOAT32_TOLERANCE
        )


def test_the_card_records_the_graph_and_what_it_scores(
    signal_run: TrainedRun, signal_graph: Path
) -> None:
    card = read_card(signal_graph)
    assert card.runtime is not None and card.runtime.file == "model.onnx"
    assert card.training["export"]["format"] == "onnx"
    assert card.training["export"]["max_abs_difference_to_torch"] < FLOAT32_TOLERANCE
    assert card.metrics["test_mse"] > 0
    assert load_model(signal_graph, "cpu", backend="torch").backend.name == "torch"


def test_int8_stays_within_its_tolerance(signal_run: TrainedRun, tmp_path: Path) -> None:
    out = tmp_path / "int8"
    evaluation = export_onnx(signal_run.out / "best", out, signal_run.store, int8=True)
    quantized, network = load_model(out, "cpu"), load_model(signal_run.out / "best", "cpu")
    assert quantized.backend.precision == "int8"
    assert evaluation["max_abs_difference_to_torch"] < INT8_TOLERANCE
    x = np.random.default_rng(1).normal(size=(4, 3, 250)).cumsum(axis=-1)
    difference = np.abs(predict(quantized, x) - predict(network, x)).max()
    assert 0 < difference < INT8_TOLERANCE  # really quantized, and close
    assert read_card(out).training["export"]["calibration_samples"] > 0


def test_a_graph_that_is_not_the_cards_is_refused(signal_graph: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in signal_graph.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    graph = copy / "model.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_model(copy, "cpu")
