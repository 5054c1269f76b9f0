"""ONNX export: a graph onnxruntime runs, equal to the torch network on fixed inputs of any
size, loaded by default from its card, int8 within a stated tolerance of float32, and
refused when the file is not the one its card names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from pinet.checkpoint import CheckpointError, read_card
from pinet.export import export_onnx
from pinet.export.onnx import (
    GRAPH_FILE,
    REDUCED_RANGE_WEIGHTS,
    kept_in_float,
    onnx_graph,
    quantized,
)
from pinet.inference import (
    RUN_INPUTS,
    OnnxRuntimeBackend,
    default_backend,
    load_model,
    predict,
)
from pinet.nets import build_network
from tests.helpers import TrainedRun

# float32 graph against the float32 network: summation order only.
FLOAT32_TOLERANCE = 1e-5
# float16 weights against float32 ones: PIs in [0, 1] move by about 1e-3 at most.
FLOAT16_TOLERANCE = 5e-3
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
    network = load_model(signal_graph, "cpu", backend="torch")  # the weights beside it
    assert (graph.backend.name, graph.backend.precision) == ("onnxruntime", "float32")
    rng = np.random.default_rng(0)
    # A batch above RUN_INPUTS runs in slices: every input still gets its own PIs.
    for shape in [(3, 250), (5, 3, 250), (2, 3, 64), (1, 3, 1001), (2 * RUN_INPUTS + 3, 3, 80)]:
        x = rng.normal(size=shape).cumsum(axis=-1)
        np.testing.assert_allclose(
            predict(graph, x), predict(network, x), rtol=0, atol=FLOAT32_TOLERANCE
        )
    # Any slice size gives each input its own PIs, one input per run included.
    sliced = predict(graph, x)
    for run_inputs in (1, len(x) + 1):
        graph.backend.run_inputs = run_inputs
        np.testing.assert_allclose(predict(graph, x), sliced, rtol=0, atol=FLOAT32_TOLERANCE)
    # Both are the trained network with its weights rounded to float16, as bundled models
    # ship: a change of a few thousandths at most.
    trained = load_model(signal_run.out / "best", "cpu")
    x = rng.normal(size=(4, 3, 250)).cumsum(axis=-1)
    assert np.abs(predict(graph, x) - predict(trained, x)).max() < FLOAT16_TOLERANCE


def test_a_resampling_graph_averages_each_signal_at_twice_its_rate(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    out = tmp_path / "resampling"
    export_onnx(signal_run.out / "best", out, signal_run.store, average_resampled=True)
    graph = load_model(out, "cpu")
    network = load_model(out, "cpu", backend="torch")
    assert network.backend.network.average_resampled
    x = np.random.default_rng(0).normal(size=(3, 3, 97)).cumsum(axis=-1)  # not the traced length
    np.testing.assert_allclose(
        predict(graph, x), predict(network, x), rtol=0, atol=FLOAT32_TOLERANCE
    )


def test_torch_runs_the_graphs_weights_where_onnxruntime_cannot(
    signal_graph: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = read_card(signal_graph)
    assert default_backend(card, "cpu") == default_backend(card, "auto") == "onnxruntime"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    assert default_backend(card, "cuda") == "torch"
    assert read_card(signal_graph).dtype == "float16"


def test_the_export_renames_the_model_and_refuses_a_bad_name(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    export_onnx(signal_run.out / "best", tmp_path / "student", signal_run.store, name="student")
    assert read_card(tmp_path / "student").name == "student"
    with pytest.raises(ValueError, match="name"):
        export_onnx(signal_run.out / "best", tmp_path / "bad", signal_run.store, name="../x")
    assert not (tmp_path / "bad").exists()


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
    quantization = read_card(out).training["export"]["quantization"]
    assert quantization["calibration_samples"] > 0
    assert quantization["calibration"] == "minmax-moving-average"
    assert (quantization["weights"], quantization["activations"]) == (
        "int8, per output channel",
        "uint8",
    )


def int8_weight_extremes(graph: Path) -> tuple[int, int]:
    """The lowest and highest of an int8 graph file's quantized weights (its int8
    initializers)."""
    weights = [
        onnx.numpy_helper.to_array(tensor)
        for tensor in onnx.load(graph).graph.initializer
        if tensor.data_type == onnx.TensorProto.INT8
    ]
    return min(int(w.min()) for w in weights), max(int(w.max()) for w in weights)


def test_reduced_range_weights_lie_within_seven_bits_and_the_card_says_so(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """Each filter's largest weight takes the extreme step: +-127 as int8 graphs are
    written by default, +-64 with `reduce_range` (REDUCED_RANGE_WEIGHTS), whose graph stays
    within the int8 tolerance of the network."""
    full, reduced = tmp_path / "full", tmp_path / "reduced"
    export_onnx(signal_run.out / "best", full, signal_run.store, int8=True)
    evaluation = export_onnx(
        signal_run.out / "best", reduced, signal_run.store, int8=True, reduce_range=True
    )
    assert int8_weight_extremes(full / GRAPH_FILE) == (-127, 127)
    assert int8_weight_extremes(reduced / GRAPH_FILE) == (-64, 64)
    assert evaluation["max_abs_difference_to_torch"] < INT8_TOLERANCE
    weights = {
        folder.name: read_card(folder).training["export"]["quantization"]["weights"]
        for folder in (full, reduced)
    }
    assert weights == {"full": "int8, per output channel", "reduced": REDUCED_RANGE_WEIGHTS}


def test_reduce_range_without_int8_is_refused_before_anything_is_written(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="--reduce-range and --seven-bit-graph are int8"):
        export_onnx(
            signal_run.out / "best", tmp_path / "float", signal_run.store, reduce_range=True
        )
    assert not (tmp_path / "float").exists()


@pytest.mark.parametrize("option", ["--reduce-range", "--seven-bit-graph"])
def test_the_cli_refuses_int8_graph_options_for_weights(
    signal_run: TrainedRun, tmp_path: Path, option: str
) -> None:
    command = [
        sys.executable, "-m", "pinet", "export", "--checkpoint", str(signal_run.out / "best"),
        "--out", str(tmp_path / "half"), "--data", str(signal_run.store), option,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert option in done.stderr and "--format onnx" in done.stderr
    assert not (tmp_path / "half").exists()


def test_a_graph_that_is_not_the_cards_is_refused(signal_graph: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in signal_graph.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    graph = copy / "model.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_model(copy, "cpu")


def test_an_image_graph_pools_like_keras_on_odd_and_even_sides() -> None:
    """Each max-pool is one MaxPool node, padding as Keras' 'same' does at any side."""
    torch.manual_seed(2)
    network = build_network("image", 3, family="lowrank", per_channel=True, widths=(4, 8, 8))
    graph = onnx_graph(network.eval(), torch.rand(1, 3, 32, 32))
    operators = {node.op_type for node in onnx.load_from_string(graph).graph.node}
    assert "MaxPool" in operators and "Pad" not in operators
    backend = OnnxRuntimeBackend(graph, "float32")
    for shape in [(2, 3, 32, 32), (1, 3, 33, 40), (1, 3, 17, 9)]:
        x = torch.rand(shape)
        with torch.no_grad():
            expected = network(x).numpy()
        np.testing.assert_allclose(backend.forward(x), expected, rtol=0, atol=FLOAT32_TOLERANCE)


def test_int8_runs_between_convolutions_in_8_bits(signal_run: TrainedRun, tmp_path: Path) -> None:
    """No conv block's ReLU or max-pool of an int8 graph falls back to float: onnxruntime
    folds each such ReLU into its convolution, and no Pad node copies a float tensor."""
    export_onnx(signal_run.out / "best", tmp_path / "float", signal_run.store)
    export_onnx(signal_run.out / "best", tmp_path / "int8", signal_run.store, int8=True)
    float32, int8 = (
        [node.op_type for node in onnx.load(tmp_path / name / "model.onnx").graph.node]
        for name in ("float", "int8")
    )
    blocks = len(signal_run.config.widths)
    assert float32.count("Conv") == blocks and "Pad" not in float32
    assert int8.count("Relu") == float32.count("Relu") - blocks
    assert "Pad" not in int8 and int8.count("MaxPool") == blocks - 1


def optimized_int8_operators(network: torch.nn.Module, tmp_path: Path) -> list[str]:
    """The operators onnxruntime runs for `network`'s int8 graph (as `export_onnx` quantizes
    it), calibrated on random walks of 64 samples after its BatchNorm statistics were
    gathered from them, as a trained network's are."""
    calibration = [torch.randn(8, 1, 64).cumsum(-1).numpy() for _ in range(2)]
    network.train()
    with torch.no_grad():
        for batch in calibration:
            network(torch.from_numpy(batch))
    graph = onnx_graph(network.eval(), torch.from_numpy(calibration[0]))
    graph = quantized(graph, calibration, kept_in_float(graph))
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    return [node.op_type for node in onnx.load(tmp_path / "optimized.onnx").graph.node]


@pytest.mark.parametrize(
    "multiscale_pool, pooled_maxima", [(False, False), (True, False), (True, True)]
)
def test_every_convolution_of_an_int8_graph_runs_in_8_bits(
    multiscale_pool: bool, pooled_maxima: bool, tmp_path: Path
) -> None:
    """onnxruntime runs each convolution of an int8 graph as a QLinearConv, also where a
    block's ReLU feeds both its max-pool and the features (`--multiscale-pool`, and its
    maximum beside: `--pooled-maxima`), and averages each pooled block's output in 8 bits
    too."""
    torch.manual_seed(3)
    widths = (4, 8, 8)
    network = build_network(
        "signal",
        1,
        per_channel=True,
        widths=widths,
        multiscale_pool=multiscale_pool,
        pooled_maxima=pooled_maxima,
    )
    operators = optimized_int8_operators(network, tmp_path)
    assert operators.count("QLinearConv") == len(widths) and "Conv" not in operators
    pooled_blocks = len(widths) if multiscale_pool else 1
    assert operators.count("QLinearGlobalAveragePool") == pooled_blocks


@pytest.mark.parametrize("gap", [0, 3])
def test_recurrence_densities_and_their_first_convolution_stay_float(
    tmp_path: Path, gap: int
) -> None:
    """One uint8 scale for coordinates and densities would round the densities away: the
    first convolution reads them in float, and the distances are never 8-bit, nor are the
    pairs a gap leaves out."""
    torch.manual_seed(3)
    widths = (4, 8, 8)
    network = build_network(
        "signal",
        1,
        per_channel=True,
        widths=widths,
        delay_embedding=(3, 2),
        recurrence_radii=(0.5, 2.0),
        recurrence_gap=gap,
    )
    plain = build_network("signal", 1, per_channel=True, widths=widths)
    assert kept_in_float(onnx_graph(plain.eval(), torch.randn(2, 1, 64))) == []
    operators = optimized_int8_operators(network, tmp_path)
    assert operators.count("Conv") == 1 and operators.count("QLinearConv") == len(widths) - 1
    densities = operators[: operators.index("Conv")]  # nothing quantized before it
    assert "QuantizeLinear" not in densities and {"FusedMatMul", "Clip"} <= set(densities)
