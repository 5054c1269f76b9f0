"""An int8 graph's 7-bit twin (`pinet export --int8 --seven-bit-graph`): written beside the
8-bit graph with its own measured metrics, run in its place where asked (and, unasked, on
CPUs whose 8-bit sums saturate), refused when it is not the file its card names, and never
named by a checkpoint that does not hold it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pinet.checkpoint import CheckpointError, read_card
from pinet.device import int8_sums_saturate
from pinet.export import export_onnx, export_weights
from pinet.export.onnx import GRAPH_FILE, REDUCED_RANGE_WEIGHTS, SEVEN_BIT_GRAPH_FILE
from pinet.inference import LoadedModel, OnnxRuntimeBackend, load_model, predict
from pinet.train import evaluate_checkpoint
from pinet.train.evaluate import evaluate_on_store
from tests.export.test_onnx import INT8_TOLERANCE, int8_weight_extremes
from tests.helpers import TrainedRun

WALKS = np.random.default_rng(3).normal(size=(4, 3, 250)).cumsum(axis=-1)


@pytest.fixture(scope="module")
def with_twin(signal_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seven-bit") / "tiny-signal"
    export_onnx(
        signal_run.out / "best",
        out,
        signal_run.store,
        int8=True,
        seven_bit_graph=True,
        sources=[signal_run.store],
    )
    return out


def exact_sums_evaluation(checkpoint: Path, file: str, store: Path) -> dict[str, float]:
    """The test evaluation of one of a checkpoint's graphs, run with exact sums."""
    graph = OnnxRuntimeBackend((checkpoint / file).read_bytes(), "int8", exact_sums=True)
    return evaluate_on_store(LoadedModel(read_card(checkpoint), graph), store, "test")


def test_the_twin_has_7_bit_weights_and_each_graph_its_own_measured_scores(
    signal_run: TrainedRun, with_twin: Path
) -> None:
    card = read_card(with_twin)
    twin = card.seven_bit_runtime
    assert card.runtime is not None and card.runtime.file == GRAPH_FILE
    assert twin is not None and twin.file == SEVEN_BIT_GRAPH_FILE
    assert int8_weight_extremes(with_twin / GRAPH_FILE) == (-127, 127)
    assert int8_weight_extremes(with_twin / SEVEN_BIT_GRAPH_FILE) == (-64, 64)
    main = exact_sums_evaluation(with_twin, GRAPH_FILE, signal_run.store)
    seven = exact_sums_evaluation(with_twin, SEVEN_BIT_GRAPH_FILE, signal_run.store)
    assert main["mse"] != seven["mse"]
    assert card.metrics["test_mse"] == pytest.approx(main["mse"], rel=1e-6)
    assert twin.metrics["test_mse"] == pytest.approx(seven["mse"], rel=1e-6)
    assert twin.metrics["test_mse_vs_mean_pi"] == pytest.approx(seven["mse_vs_mean_pi"], rel=1e-6)
    # The one source measured is the store itself: its test split, as the twin runs it.
    (by_source,) = twin.source_metrics.values()
    assert by_source["mse"] == pytest.approx(seven["mse"], rel=1e-6)
    assert twin.source_metrics.keys() == card.source_metrics.keys()
    export = card.training["export"]
    assert export["quantization"]["seven_bit_graph_weights"] == REDUCED_RANGE_WEIGHTS
    assert export["quantization"]["measured_with"] == "exact sums"
    assert export["seven_bit_max_abs_difference_to_torch"] < INT8_TOLERANCE


def test_the_twin_runs_in_place_of_the_8_bit_graph_where_asked(with_twin: Path) -> None:
    """Asked, the twin runs and the loaded card is its own; unasked, it runs where this
    CPU's 8-bit sums saturate. Both graphs stay within int8's tolerance of the weights."""
    seven, eight = (load_model(with_twin, "cpu", seven_bit=choice) for choice in (True, False))
    twin = read_card(with_twin).seven_bit_runtime
    assert twin is not None
    assert (seven.runs_file, eight.runs_file) == (SEVEN_BIT_GRAPH_FILE, GRAPH_FILE)
    assert seven.card.metrics["test_mse"] == twin.metrics["test_mse"]
    assert eight.card.metrics["test_mse"] == read_card(with_twin).metrics["test_mse"]
    assert seven.card.source_metrics == twin.source_metrics
    assert seven.backend.precision == eight.backend.precision == "int8"
    by_seven, by_eight = predict(seven, WALKS), predict(eight, WALKS)
    assert not np.array_equal(by_seven, by_eight)
    weights = load_model(with_twin, "cpu", backend="torch")
    for pis in (by_seven, by_eight):
        assert np.abs(pis - predict(weights, WALKS)).max() < INT8_TOLERANCE
    unasked = load_model(with_twin, "cpu")
    assert unasked.runs_file == (SEVEN_BIT_GRAPH_FILE if int8_sums_saturate() else GRAPH_FILE)


def test_eval_names_the_graph_it_scored(signal_run: TrainedRun, with_twin: Path) -> None:
    """`pinet eval` scores the graph this CPU runs, and says which: its MSE is that file's
    card metric (both with exact sums: the twin's always, the 8-bit graph's where it runs
    unasked)."""
    result = evaluate_checkpoint(with_twin, signal_run.store, "test", "cpu")
    ran = load_model(with_twin, "cpu")
    assert result["runs_file"] == ran.runs_file
    assert result["mse"] == pytest.approx(ran.card.metrics["test_mse"], rel=1e-3)


def test_a_graph_without_twin_runs_itself_when_seven_bits_are_asked(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    export_onnx(signal_run.out / "best", tmp_path / "int8", signal_run.store, int8=True)
    assert read_card(tmp_path / "int8").seven_bit_runtime is None
    assert load_model(tmp_path / "int8", "cpu", seven_bit=True).runs_file == GRAPH_FILE


def test_a_twin_that_is_not_the_cards_is_refused_where_it_would_run(
    with_twin: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(with_twin, tmp_path / "copy")
    twin = copy / SEVEN_BIT_GRAPH_FILE
    twin.write_bytes(twin.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_model(copy, "cpu", seven_bit=True)
    assert load_model(copy, "cpu", seven_bit=False).runs_file == GRAPH_FILE


def test_a_checkpoint_exported_again_names_no_file_it_does_not_hold(
    signal_run: TrainedRun, with_twin: Path, tmp_path: Path
) -> None:
    """Exported from a checkpoint with a twin, a graph without one and plain weights do not
    inherit the names of the source's graphs."""
    export_onnx(with_twin, tmp_path / "graph", signal_run.store, int8=True)
    assert read_card(tmp_path / "graph").seven_bit_runtime is None
    export_weights(with_twin, tmp_path / "weights", signal_run.store)
    weights = read_card(tmp_path / "weights")
    assert weights.runtime is None and weights.seven_bit_runtime is None
    assert load_model(tmp_path / "weights", "cpu").runs_file == "model.safetensors"


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"seven_bit_graph": True}, "give --int8 too"),
        ({"int8": True, "reduce_range": True, "seven_bit_graph": True}, "makes the one graph"),
    ],
)
def test_a_twin_without_its_8_bit_graph_is_refused_before_anything_is_written(
    signal_run: TrainedRun, tmp_path: Path, options: dict[str, bool], refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        export_onnx(signal_run.out / "best", tmp_path / "out", signal_run.store, **options)
    assert not (tmp_path / "out").exists()
