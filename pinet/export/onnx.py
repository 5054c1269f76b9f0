"""ONNX export: the network as a graph onnxruntime runs (`pinet.inference.OnnxRuntimeBackend`),
in float32 or as int8 after post-training static quantization calibrated on the training
split, with the test metrics of exactly that graph in the card.

The graph takes any batch size and any length / image size (and, for per-channel models, any
channel count), like the torch network; it is checked against it on the test split before
anything is written (the largest difference goes into the card).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pinet.card import MeasuredRuntime, RuntimeRef
from pinet.checkpoint import save_checkpoint
from pinet.export.measure import exported_metrics, measured_card
from pinet.export.weights import network_to_export
from pinet.inference import LoadedModel, OnnxRuntimeBackend, TorchBackend
from pinet.modality import SPATIAL_DIMS
from pinet.nets import PINet
from pinet.store import GroundTruthStore
from pinet.train.data import StoreSamples
from pinet.train.evaluate import evaluate_by_source, evaluate_on_store, predict_batches

GRAPH_FILE = "model.onnx"
SEVEN_BIT_GRAPH_FILE = "model-7bit.onnx"  # an int8 graph's twin with 7-bit weights
OPSET = 17  # the ONNX opset the graphs are written in: onnxruntime 1.16+ runs it
CALIBRATION_BATCH = 32
# The operators an int8 graph runs in 8 bits: the arithmetic, and the ReLUs, which
# onnxruntime folds into the convolution before them (its output range then starts at 0,
# with twice the steps for what is kept). With the max-pools one node each
# (`pinet.nets.layers.same_max_pool`), nothing between two convolutions is float: the
# signal student's int8 graph went from 0.112 to 0.083 ms per window at batch 256 (one
# thread), test MSE / mean-PI MSE 0.284 -> 0.277.
QUANTIZED_OPERATORS = ["Conv", "Gemm", "MatMul", "Relu", "GlobalAveragePool"]
# The global average pools run in 8 bits too (`pinet.nets.layers.global_average_pool`), and
# activations are uint8, the type onnxruntime's 8-bit kernels read: int8
# activations it converts Q and DQ node pair by pair, which it cannot where two DQs read one
# Q, as in a block pooled by `--multiscale-pool` (its ReLU feeds the max-pool and the
# features), whose convolution then ran in float. Uint8 with its zero point is int8 shifted
# by 128: the same steps. Measured at batch 256, one thread, one interleaved run: a signal
# student with every block pooled 0.075 -> 0.032 ms per window (test MSE / mean-PI MSE
# 0.646 -> 0.642, an early checkpoint); the bundled signal student 0.030 -> 0.026 (0.27735
# both).
# How int8 activation ranges are calibrated: onnxruntime's MinMax over each calibration
# batch, averaged across batches, instead of the extremes of all batches, which let a few
# outlying values (a z-scored window's spikes) stretch the range of the first convolution's
# input and coarsen every other value's step. Test MSE / mean-PI MSE of the int8 graph, plain
# MinMax -> moving average (float32: signal students 0.312 and 0.292, takens model 0.506,
# image student 0.177): signal students 0.331 -> 0.319 and 0.323 -> 0.302, takens model
# 0.511 -> 0.509, image student 0.1794 -> 0.1793 (onnxruntime's Percentile calibration gave
# 0.323, 0.307, 0.508 and 0.1801).
CALIBRATION = "minmax-moving-average"
# The node of a trunk's first convolution in a graph (`onnx_graph`). With recurrence
# densities (`pinet.nets.encodings.RecurrenceDensity`) it stays float in an int8 graph: its
# input holds coordinates (z-scores, up to +-4) beside densities of a few hundredths, and
# one uint8 scale for the whole tensor (activations are quantized per tensor) rounded the
# densities to a few steps.
FIRST_CONVOLUTION = "/trunk/blocks.0/conv/Conv"
DENSITIES = "/trunk/recurrence/"  # the scope of the densities' nodes
# What an int8 graph's card records of its quantization (`quantized`), beside the number
# of calibration samples.
QUANTIZATION = {
    "format": "QDQ, static",
    "weights": "int8, per output channel",
    "activations": "uint8",
    "operators": QUANTIZED_OPERATORS,
    "calibration": CALIBRATION,
}
# `reduce_range` (`pinet export --reduce-range`): weights quantized within -64..64, half
# the steps. On x86 CPUs with AVX2 but no VNNI, onnxruntime's uint8 x int8 kernels add
# pairs of products in 16 bits, which can saturate; with weights of 7 bits they cannot.
# Measured on such a CPU (docs/training.md, "On x86 CPUs without VNNI"; mean ratio to the
# mean PI over each card's stores): the image student 0.0906 in 8 bits, 0.0821 in 7, where
# exact sums (a VNNI CPU's) give 0.0808 and 0.0821; the signal student, whose sums barely
# saturate, 0.396 and 0.399. Better or worse by model and CPU: an option, not the default;
# `--seven-bit-graph` ships it beside the 8-bit graph, for onnxruntime to run in its place on
# CPUs without VNNI (`pinet.inference.OnnxRuntimeBackend.load`).
REDUCED_RANGE_WEIGHTS = "int8 within -64..64 (reduce_range), per output channel"


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    store_path: str | Path,
    *,
    int8: bool = False,
    calibration_samples: int = 512,
    reference: str | Path | None = None,
    average_reversed: bool = False,
    sources: Sequence[str | Path] = (),
    name: str | None = None,
    average_resampled: bool = False,
    reduce_range: bool = False,
    seven_bit_graph: bool = False,
) -> dict[str, Any]:
    """Write `checkpoint` to `out` as a checkpoint whose card names an ONNX graph for
    onnxruntime: float32, or int8 (QDQ, static, calibrated on `calibration_samples` of the
    store's training split; `reduce_range`: weights within -64..64, see
    REDUCED_RANGE_WEIGHTS; `seven_bit_graph`: 8-bit weights, and beside them a twin graph
    with weights within -64..64 for CPUs whose 8-bit sums saturate,
    `ModelCard.seven_bit_runtime`). With `average_reversed`, the graph averages its
    predictions for each input and its reversal (see `pinet.nets.base`), with
    `average_resampled` for each signal and the signal at twice its rate. The card also
    records the test metrics on each store of `sources` (`evaluate_by_source`); `name`
    renames the model in it. An int8 graph is measured with exact sums (see
    `OnnxRuntimeBackend`), whichever CPU exports it. Returns the test evaluation of the
    (main) graph as written."""
    if (reduce_range or seven_bit_graph) and not int8:
        raise ValueError("--reduce-range and --seven-bit-graph are int8 graphs: give --int8 too")
    if reduce_range and seven_bit_graph:
        raise ValueError("--reduce-range makes the one graph 7-bit; --seven-bit-graph adds one")
    cpu = torch.device("cpu")
    # The torch weights stored beside the graph (what runs on CUDA) are float16, as bundled
    # models ship; the graph is built from the same rounded numbers, so the two agree.
    network, card = network_to_export(checkpoint, cpu, average_reversed, name, average_resampled)
    store = GroundTruthStore.open(store_path)
    train = StoreSamples(store, store.usable_indices("train")[:calibration_samples], card.modality)
    test = StoreSamples(store, store.usable_indices("test")[:256], card.modality)
    from_torch, _ = predict_batches(LoadedModel(card, TorchBackend(network, cpu)), test)

    def measured(graph: bytes, precision: str) -> tuple[LoadedModel, dict[str, Any]]:
        """The graph loaded as it is measured, and its test evaluation with its largest
        difference to the torch network on the first test samples."""
        loaded = LoadedModel(card, OnnxRuntimeBackend(graph, precision, exact_sums=int8))
        from_graph, _ = predict_batches(loaded, test)
        difference = float(np.abs(from_graph - from_torch).max())
        evaluation = evaluate_on_store(loaded, store_path, "test", reference)
        return loaded, evaluation | {"max_abs_difference_to_torch": difference}

    float_graph = onnx_graph(network, train.batch(list(range(min(len(train), 8))))[0])
    float_nodes = kept_in_float(float_graph)

    def int8_graph(seven_bits: bool) -> bytes:
        return quantized(float_graph, _batches(train), float_nodes, reduce_range=seven_bits)

    precision = "int8" if int8 else "float32"
    graph = int8_graph(reduce_range) if int8 else float_graph
    loaded, evaluation = measured(graph, precision)
    differences = {"max_abs_difference_to_torch": evaluation["max_abs_difference_to_torch"]}
    seven_bit = None
    if seven_bit_graph:
        twin = int8_graph(True)
        twin_loaded, twin_evaluation = measured(twin, precision)
        seven_bit = (
            MeasuredRuntime(
                **graph_reference(twin, precision, SEVEN_BIT_GRAPH_FILE).model_dump(),
                metrics=exported_metrics(twin_evaluation),
                source_metrics=evaluate_by_source(twin_loaded, sources) if sources else {},
            ),
            twin,
        )
        differences["seven_bit_max_abs_difference_to_torch"] = twin_evaluation[
            "max_abs_difference_to_torch"
        ]
    card = measured_card(
        card,
        evaluation,
        store_path,
        evaluate_by_source(loaded, sources) if sources else None,
        format="onnx",
        precision=precision,
        quantization=QUANTIZATION
        | ({"weights": REDUCED_RANGE_WEIGHTS} if reduce_range else {})
        | ({"seven_bit_graph_weights": REDUCED_RANGE_WEIGHTS} if seven_bit_graph else {})
        | {"calibration_samples": len(train), "measured_with": "exact sums"}
        | ({"float_nodes": float_nodes} if float_nodes else {})
        if int8
        else None,
        **differences,
    )
    save_checkpoint(
        network,
        card,
        out,
        dtype=torch.float16,
        runtime=(graph_reference(graph, precision, GRAPH_FILE), graph),
        seven_bit_runtime=seven_bit,
    )
    return evaluation


def graph_reference(graph: bytes, precision: str, file: str) -> RuntimeRef:
    """How a card names an ONNX `graph` for onnxruntime, stored as `file`, with its sha256."""
    return RuntimeRef(
        backend=OnnxRuntimeBackend.name,
        precision=precision,
        file=file,
        sha256=hashlib.sha256(graph).hexdigest(),
    )


def onnx_graph(network: PINet, example: torch.Tensor) -> bytes:
    """The ONNX graph of `network` in eval mode, with the batch, the spatial axes and (for
    per-channel networks) the channels free."""
    axes = {0: "batch"} | {2 + d: f"spatial{d}" for d in range(SPATIAL_DIMS[network.modality])}
    if network.per_channel:
        axes[1] = "channels"
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The tracer says the shape checks become constants: they are
        # `LoadedModel.prepare`'s job.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            network.eval(),
            (example,),
            buffer,
            dynamo=False,  # the TorchScript exporter: seconds, where dynamo took minutes
            input_names=["inputs"],
            output_names=["pis"],
            dynamic_axes={"inputs": axes, "pis": {k: v for k, v in axes.items() if k < 2}},
            opset_version=OPSET,
        )
    return buffer.getvalue()


def kept_in_float(graph: bytes) -> list[str]:
    """The nodes of an ONNX `graph` (`onnx_graph`) that its int8 graph keeps in float: where
    it holds recurrence densities, every node of theirs that would otherwise be quantized
    (the MatMul of the distances, whose 8-bit steps would round them) and the trunk's first
    convolution (FIRST_CONVOLUTION); else none."""
    import onnx

    densities = [
        node.name
        for node in onnx.load_from_string(graph).graph.node
        if node.name.startswith(DENSITIES) and node.op_type in QUANTIZED_OPERATORS
    ]
    return [FIRST_CONVOLUTION, *densities] if densities else []


def quantized(
    graph: bytes,
    calibration: Iterable[np.ndarray],
    float_nodes: Sequence[str] = (),
    *,
    reduce_range: bool = False,
) -> bytes:
    """`graph` with int8 weights and uint8 activations (QDQ), their ranges calibrated on
    the batches of network inputs of `calibration`; the nodes named in `float_nodes` stay
    float; `reduce_range`: the weights within -64..64 (REDUCED_RANGE_WEIGHTS)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {"inputs": batch}

    with tempfile.TemporaryDirectory(prefix="pinet-onnx-") as scratch:
        source, target = Path(scratch) / "float32.onnx", Path(scratch) / "int8.onnx"
        source.write_bytes(graph)
        quantize_static(
            source,
            target,
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,  # QUANTIZATION's, see QUANTIZED_OPERATORS
            op_types_to_quantize=QUANTIZED_OPERATORS,
            nodes_to_exclude=list(float_nodes),
            extra_options={"CalibMovingAverage": True},  # CALIBRATION
        )
        onnx.checker.check_model(str(target))
        return target.read_bytes()


def _batches(samples: StoreSamples) -> Iterator[np.ndarray]:
    for start in range(0, len(samples), CALIBRATION_BATCH):
        positions = list(range(start, min(start + CALIBRATION_BATCH, len(samples))))
        yield samples.batch(positions)[0].numpy()
