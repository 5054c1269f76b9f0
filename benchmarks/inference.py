"""PI-Net inference against the exact recipes it stands in for, on the same inputs, in one run.

PI-Net side: `pinet.predict` on the whole batch, i.e. `LoadedModel.prepare` (the checks
against the model card, then z-score / scale to [0, 1]) and `LoadedModel.forward` (the
model's backend; torch: copy to the device, forward in eval mode under inference_mode,
bfloat16 autocast on CUDA, clamp, copy back to a numpy array), timed after a warm-up call on
the same batch. Exact side: `recipe.images_batch` on the same batch (numba threads on all
cores), timed after a warm-up call that compiles or loads the JIT cache. Both report the
median of `--repeats` timings per sample; the ratio is PI-Net's samples/s over the exact
recipe's, so above 1 means the network is faster. Inputs (`benchmarks/inputs.py`): HAPT
windows and photo crops when installed, synthetic ones of the same shape otherwise.

Without a checkpoint the networks have randomly initialised weights of the released size
(or `--widths`): the cost of a forward does not depend on the weights. The Signal PI-Net is
also set against the exact `signal-takens` recipe (Rips H1 of delay embeddings, same
batch), and the Image PI-Net against the exact `image-cubical` recipe (same batch) and the
exact `image-rips` recipe (`--rips-images` images, timed once, since one 32x32 RGB image
takes seconds).

    python benchmarks/inference.py [--batch N] [--repeats R] [--device cpu|cuda|auto]
        [--checkpoint-signal DIR] [--checkpoint-image DIR] [--widths a,b,c,d]
        [--rips-images K] [--threads N]

On a machine whose cores are busy with other work, use `--threads` below the core count: a
thread that waits for a busy core stalls every parallel kernel (measured: a small Image
PI-Net ran 9x slower with 2 torch threads than with 1 on 2 cores, one of them busy).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inputs import CHANNELS, IMAGE_SIDE, WINDOW, accelerometer_windows, photo_crops
from pinet.card import DataSourceRef, ModelCard, RecipeRef
from pinet.device import resolve_device
from pinet.inference import LoadedModel, TorchBackend, load_model, predict
from pinet.modality import Modality
from pinet.nets import TRUNK_WIDTHS, PINet, Widths, build_network
from pinet.tda import get_recipe
from pinet.train.options import parse_widths

EXACT_RECIPES: dict[Modality, str] = {"signal": "signal-sublevel", "image": "image-raster"}
INPUT_SHAPES: dict[Modality, tuple[int, ...]] = {
    "signal": (CHANNELS, WINDOW),
    "image": (CHANNELS, IMAGE_SIDE, IMAGE_SIDE),
}


# --- models -------------------------------------------------------------------------------


def random_network(modality: Modality, widths: Widths) -> tuple[PINet, ModelCard]:
    """A PI-Net of trunk `widths` with random weights, and a card that fits the benchmark's
    inputs and names the exact recipe it is timed against."""
    network = build_network(modality, CHANNELS, widths=widths)
    card = ModelCard.describing(
        network,
        name=f"random-{modality}",
        input_shape=INPUT_SHAPES[modality],
        recipe=RecipeRef(name=EXACT_RECIPES[modality]),
        data_source=DataSourceRef(name="none"),
    )
    return network, card


def random_model(modality: Modality, widths: Widths, device: torch.device) -> LoadedModel:
    """A `random_network` ready to predict on `device` with the torch backend."""
    network, card = random_network(modality, widths)
    return LoadedModel(card, TorchBackend(network.to(device).eval(), device))


def takes_benchmark_inputs(card: ModelCard) -> bool:
    """Whether the model takes the benchmarks' 3-channel inputs (a per-channel one takes any
    channel count)."""
    return card.per_channel or card.in_channels == CHANNELS


def checkpoint_model(path: str, modality: Modality, device: torch.device) -> LoadedModel:
    """The checkpoint folder or bundled model `path` on `device`; SystemExit unless it is a
    `modality` model that takes the benchmark's inputs."""
    model = load_model(path, str(device))
    card = model.card
    if card.modality != modality:
        raise SystemExit(
            f"{path}: model {card.name!r} is a {card.modality} model; "
            f"--checkpoint-{modality} needs one of modality {modality!r}"
        )
    if not takes_benchmark_inputs(card):
        layout = "x".join(map(str, INPUT_SHAPES[modality]))
        raise SystemExit(
            f"{path}: model {card.name!r} expects {card.in_channels} channels; this benchmark "
            f"times {layout} inputs"
        )
    return model


def architecture_summary(card: ModelCard) -> str:
    """The trunk of a card's network, as the benchmarks print it: 'widths 128,256,512,1024
    (released size)'."""
    widths = card.architecture["widths"]
    released = " (released size)" if tuple(widths) == TRUNK_WIDTHS else ""
    return f"widths {','.join(map(str, widths))}{released}"


def describe(model: LoadedModel, from_checkpoint: bool) -> str:
    """One line on a model: its weights, its size and how it runs (backend, precision)."""
    card, backend = model.card, model.backend
    runs = f"{backend.name} backend, {backend.precision}"
    if from_checkpoint:
        trained = f"trained on {card.recipe.name}"
        return f"checkpoint '{card.name}', {architecture_summary(card)}, {trained}; {runs}"
    return f"random weights, {architecture_summary(card)}; {runs}"


# --- timing -------------------------------------------------------------------------------


def synchronise(device: torch.device) -> None:
    """Wait for the work queued on a CUDA device, so that a clock reading covers it."""
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.synchronize(device)


def median_seconds(work: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of `repeats` calls, the device drained before each clock reading."""
    times = []
    for _ in range(repeats):
        synchronise(device)
        start = time.perf_counter()
        work()
        synchronise(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pinet_rate(model: LoadedModel, inputs: np.ndarray, repeats: int) -> float:
    """Samples/s of `predict` on the whole batch, after one untimed warm-up call."""
    predict(model, inputs)
    return len(inputs) / median_seconds(lambda: predict(model, inputs), repeats, model.device)


def exact_rate(
    name: str, inputs: np.ndarray, repeats: int, params: dict[str, Any] | None = None
) -> float:
    """Samples/s of the exact recipe's `images_batch` (`params`: its non-default
    parameters), after an untimed JIT warm-up call."""
    recipe = get_recipe(name, params)
    recipe.images_batch(inputs[:1])
    cpu = torch.device("cpu")
    return len(inputs) / median_seconds(lambda: recipe.images_batch(inputs), repeats, cpu)


# --- report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table: a piece of work timed on both sides, and its inputs."""

    work: str
    inputs: str
    exact: float  # samples/s
    pinet: float  # samples/s

    def markdown(self) -> str:
        return (
            f"| {self.work} | {self.inputs} | {self.exact:,.2f} | {self.pinet:,.1f} "
            f"| {self.pinet / self.exact:,.2f} | {1e3 / self.exact:,.3f} "
            f"| {1e3 / self.pinet:,.3f} |"
        )


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model with its core count: what the timings ran on."""
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next(line.split(":", 1)[1] for line in cpuinfo.splitlines() if "model name" in line)
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU {model.strip()} ({os.cpu_count()} cores, {usable} usable)"


def parse_arguments() -> tuple[argparse.Namespace, torch.device]:
    """The command line, checked (a bad value exits with the parser's message), and the
    device it names."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="inputs per batch, both sides")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measure (median)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    parser.add_argument("--checkpoint-signal", metavar="DIR", help="signal checkpoint or name")
    parser.add_argument("--checkpoint-image", metavar="DIR", help="image checkpoint or name")
    parser.add_argument(
        "--widths",
        type=parse_widths,
        default=TRUNK_WIDTHS,
        help="trunk filters of the random-weight models (ignored for a checkpoint)",
    )
    parser.add_argument("--rips-images", type=int, default=1, help="images for image-rips")
    parser.add_argument(
        "--threads", type=int, help="torch and numba threads (default: theirs, all cores)"
    )
    args = parser.parse_args()
    if min(args.batch, args.repeats) < 1:
        parser.error("--batch and --repeats must be >= 1")
    if args.threads is not None and not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
        parser.error(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}")
    if not 1 <= args.rips_images <= args.batch:
        parser.error(f"--rips-images must be between 1 and --batch ({args.batch})")
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    return args, device


def measured_rows(
    args: argparse.Namespace, models: dict[Modality, LoadedModel]
) -> tuple[list[Row], float]:
    """Every comparison's row, timed side by side on the same seeded inputs, and the exact
    image-rips rate (timed once)."""
    rng = np.random.default_rng(0)
    windows, window_source = accelerometer_windows(args.batch, rng)
    images, image_source = photo_crops(args.batch, rng)
    signal_pinet = pinet_rate(models["signal"], windows, args.repeats)
    signal_exact = exact_rate("signal-sublevel", windows, args.repeats)
    takens_exact = exact_rate("signal-takens", windows, args.repeats)
    image_pinet = pinet_rate(models["image"], images, args.repeats)
    raster_exact = exact_rate("image-raster", images, args.repeats)
    cubical_exact = exact_rate("image-cubical", images, args.repeats)
    few = images[: args.rips_images]
    rips_exact = exact_rate("image-rips", few, repeats=1)
    few_pinet = pinet_rate(models["image"], few, args.repeats)

    n, k = args.batch, args.rips_images
    signal_inputs = f"{n} x {CHANNELS}x{WINDOW} float64, {window_source}"
    image_inputs = f"{n} x {CHANNELS}x{IMAGE_SIDE}x{IMAGE_SIDE} uint8, {image_source}"
    rows = [
        Row("signal-sublevel vs Signal PI-Net", signal_inputs, signal_exact, signal_pinet),
        Row("signal-takens vs Signal PI-Net", "the same windows", takens_exact, signal_pinet),
        Row("image-raster vs Image PI-Net", image_inputs, raster_exact, image_pinet),
        Row("image-cubical vs Image PI-Net", "the same images", cubical_exact, image_pinet),
        Row(
            f"image-rips vs Image PI-Net, batch {k}",
            f"first {k} of the images; rips timed once",
            rips_exact,
            few_pinet,
        ),
        Row(
            f"image-rips vs Image PI-Net, batch {n}",
            f"rips as above; PI-Net on all {n} images",
            rips_exact,
            image_pinet,
        ),
    ]
    return rows, rips_exact


def print_report(
    args: argparse.Namespace,
    device: torch.device,
    descriptions: dict[Modality, str],
    rows: list[Row],
    rips_exact: float,
) -> None:
    """The settings, then the rows as a markdown table."""
    n = args.batch
    print(f"device: {device_name(device)}")
    print(
        f"threads: torch {torch.get_num_threads()} (PI-Net), numba {numba.get_num_threads()} "
        f"(exact recipes); torch {torch.__version__}"
    )
    print(f"signal model: {descriptions['signal']}")
    print(f"image model: {descriptions['image']}")
    print(
        f"batch {n}, median of {args.repeats} timings after a warm-up; PI-Net = pinet.predict "
        "(LoadedModel.prepare, then LoadedModel.forward, copy back included); "
        "exact = recipe.images_batch"
    )
    if not (args.checkpoint_signal and args.checkpoint_image):
        print("random weights: a forward's cost does not depend on the weights (its accuracy does)")
    print()
    print(
        "| exact recipe vs PI-Net | inputs | exact (samples/s) | PI-Net (samples/s) "
        "| PI-Net / exact | exact (ms/sample) | PI-Net (ms/sample) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(row.markdown())
    print(
        f"\nPI-Net / exact above 1: the network is faster. The signal rows share one Signal "
        f"PI-Net timing, the image rows one Image PI-Net timing (batch {n}); a network trained "
        f"on another recipe's targets has the same architecture and cost. "
        f"image-rips: {1 / rips_exact:.1f} s per image, one timing."
    )


def main() -> None:
    args, device = parse_arguments()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    models: dict[Modality, LoadedModel] = {}
    descriptions: dict[Modality, str] = {}
    for modality, path in (("signal", args.checkpoint_signal), ("image", args.checkpoint_image)):
        if path:
            models[modality] = checkpoint_model(path, modality, device)
        else:
            models[modality] = random_model(modality, args.widths, device)
        descriptions[modality] = describe(models[modality], from_checkpoint=bool(path))
    rows, rips_exact = measured_rows(args, models)
    print_report(args, device, descriptions, rows, rips_exact)


if __name__ == "__main__":
    main()
