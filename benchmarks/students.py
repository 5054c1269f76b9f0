"""Learned PIs against the exact recipe they imitate, on a store's test inputs, in one run:
each model's test MSE over the mean-PI predictor's, its file size, and its time per input at
batch 256 and at batch 1, with the exact recipe timed beside it.

    python benchmarks/students.py --data runs/hapt.zarr signal-hapt runs/student/best ...
    python benchmarks/students.py --data runs/photos-rips.zarr image-photos-rips --exact-inputs 8

A Rips recipe costs seconds per input, and no less per input in a batch (its threads work
inside one diagram), so `--exact-inputs` times it on the first few inputs of the batch.
`--run-inputs 8 64` times each ONNX graph's batch run 8 and 64 inputs at a time, a row each.

Models are checkpoint folders or bundled names, run on the backend their card names (torch,
or onnxruntime for an ONNX export); an int8 graph with a 7-bit twin gets a row for each
graph (`pinet export --seven-bit-graph`). The MSE ratio is the card's test metric when the
checkpoint was exported against a store (`pinet export`; an int8 graph's with exact sums),
else measured here on the store.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pinet
from pinet.checkpoint import read_card
from pinet.inference import LoadedModel, OnnxRuntimeBackend, find_checkpoint
from pinet.store import GroundTruthStore
from pinet.train import evaluate_on_store

BATCH = 256


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls, after one untimed warm-up call."""
    work()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def mse_ratio(model: LoadedModel, store: Path) -> float:
    """Test MSE over the mean-PI predictor's: the card's, else measured on `store`."""
    ratio = model.card.metrics.get("test_mse_vs_mean_pi")
    return ratio if ratio is not None else evaluate_on_store(model, store)["mse_vs_mean_pi"]


def file_megabytes(folder: Path, model: LoadedModel) -> float:
    """Size of what the backend runs: the ONNX graph, or the safetensors weights."""
    return (folder / model.runs_file).stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="store whose test split to use")
    parser.add_argument("models", nargs="+", help="checkpoint folders or bundled model names")
    parser.add_argument("--repeats", type=int, default=5, help="timings per measure (median)")
    parser.add_argument(
        "--exact-inputs",
        type=int,
        default=BATCH,
        help=f"inputs the exact recipe is timed on, 1..{BATCH} (default: the whole batch)",
    )
    parser.add_argument(
        "--run-inputs",
        type=int,
        nargs="+",
        metavar="K",
        help="onnxruntime models: a row per K, each batch run K inputs at a time "
        "(default: the backend's RUN_INPUTS)",
    )
    args = parser.parse_args()
    if args.run_inputs and min(args.run_inputs) < 1:
        parser.error(f"--run-inputs must be >= 1, got {args.run_inputs}")
    if not 1 <= args.exact_inputs <= BATCH:
        parser.error(f"--exact-inputs must be within 1..{BATCH}, got {args.exact_inputs}")
    store = GroundTruthStore.open(args.data)
    test = store.usable_indices("test")
    inputs = store["inputs"][test[np.linspace(0, len(test) - 1, BATCH).astype(int)]]
    recipe = store.recipe
    timed = inputs[: args.exact_inputs]
    exact = median_seconds(lambda: recipe.images_batch(timed), args.repeats) / len(timed)
    exact_one = median_seconds(lambda: recipe.images(inputs[0]), 4 * args.repeats)
    print(
        f"{BATCH} test inputs of {args.data} ({recipe.name}; the exact recipe timed on "
        f"{len(timed)} of them); median of {args.repeats} timings"
    )
    print("| model | backend | test MSE / mean-PI MSE | file (MB) | ms/input, batch 256 "
          "| ms/input, batch 1 | samples/s vs exact |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| exact {recipe.name} | - | - | - | {exact * 1e3:.3f} | {exact_one * 1e3:.3f} | 1 |")
    for name in args.models:
        folder = find_checkpoint(name)
        graphs = (False, True) if read_card(folder).seven_bit_runtime else (None,)
        for seven_bit in graphs:
            model = pinet.load_model(folder, "cpu", seven_bit=seven_bit)
            graph = "" if seven_bit is None else f" ({model.runs_file})"
            one = median_seconds(lambda m=model: pinet.predict(m, inputs[0]), 4 * args.repeats)
            sliced = isinstance(model.backend, OnnxRuntimeBackend) and args.run_inputs
            for run_inputs in args.run_inputs if sliced else [None]:
                label = name + graph
                if run_inputs is not None:
                    model.backend.run_inputs = run_inputs
                    label = f"{label} (runs of {run_inputs})"
                batch = median_seconds(lambda m=model: pinet.predict(m, inputs), args.repeats)
                batch /= BATCH
                print(
                    f"| {label} | {model.backend.name} {model.backend.precision} "
                    f"| {mse_ratio(model, args.data):.3f} | {file_megabytes(folder, model):.2f} "
                    f"| {batch * 1e3:.3f} | {one * 1e3:.3f} | {exact / batch:.2f}x |"
                )


if __name__ == "__main__":
    main()
