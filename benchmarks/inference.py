"""PI-Net inference against the exact recipes it stands in for, on the same inputs, in one run.

PI-Net side: `pinet.predict` on the whole batch, i.e. `network_inputs` (z-score / scale to
[0, 1]), the copy to the device, the forward in eval mode under no_grad (bfloat16 autocast on
CUDA), the clamp and the copy back to a numpy array, timed after a warm-up call on the same
batch. Exact side: `recipe.images_batch` on the same batch (numba threads on all cores),
timed after a warm-up call that compiles or loads the JIT cache. Both report the median of
`--repeats` timings per sample; the ratio is PI-Net's samples/s over the exact recipe's, so
above 1 means the network is faster.

Without a checkpoint the networks have randomly initialised weights of the released size
(or `--widths`): the cost of a forward does not depend on the weights. The Image PI-Net is
also set against the exact `image-cubical` recipe (same batch) and the exact `image-rips`
recipe (`--rips-images` images, timed once, since one 32x32 RGB image takes seconds).

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

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinet.checkpoint import DataSourceRef, ModelCard, RecipeRef
from pinet.cli import parse_widths
from pinet.inference import LoadedModel, load_model, predict
from pinet.models import TRUNK_WIDTHS, Modality, Widths, build_model
from pinet.tda import get_recipe

CHANNELS = 3  # the released inputs: 3 accelerometer axes, RGB
WINDOW = 250  # 5 s at 50 Hz, the Signal PI-Net input of SPEC 5
IMAGE_SIDE = 32  # CIFAR10's side, the Image PI-Net input of SPEC 5
EXACT_RECIPES: dict[Modality, str] = {"signal": "signal-sublevel", "image": "image-raster"}
INPUT_SHAPES: dict[Modality, tuple[int, ...]] = {
    "signal": (CHANNELS, WINDOW),
    "image": (CHANNELS, IMAGE_SIDE, IMAGE_SIDE),
}


# --- inputs -------------------------------------------------------------------------------


def accelerometer_windows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 250)` float64: HAPT accelerometer windows spread over all recordings when the
    data is installed, else half random walks and half noisy sines."""
    try:
        from data_prep.sources.errors import SourceUnavailable
        from data_prep.sources.hapt import HaptWindows

        try:
            windows = [s.input for s in HaptWindows(window=WINDOW, stride=WINDOW).samples()]
        except SourceUnavailable:
            windows = []
    except ImportError:
        windows = []
    if windows:
        picked = np.linspace(0, len(windows) - 1, n).astype(int)  # repeats if n > len
        return np.stack([windows[i] for i in picked]), "HAPT acc windows"
    walks = np.cumsum(rng.standard_normal((n, CHANNELS, WINDOW)), axis=-1)
    t = np.arange(WINDOW) / 50
    frequency = rng.uniform(0.5, 3.0, (n, CHANNELS, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, CHANNELS, 1))
    sines = np.sin(2 * np.pi * frequency * t + phase) + 0.2 * rng.standard_normal(walks.shape)
    windows_array = np.where(np.arange(n)[:, None, None] % 2 == 0, walks, sines)
    return windows_array, "random walks and noisy sines (HAPT not installed)"


def photo_crops(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 32, 32)` uint8: crops of the bundled skimage / sklearn photos when installed,
    else smooth random images (8x8 noise upsampled, plus a little pixel noise)."""
    try:
        from data_prep.sources.errors import SourceUnavailable
        from data_prep.sources.photos import PHOTO_NAMES, PhotoCrops

        per_photo = -(-n // len(PHOTO_NAMES))
        try:
            source = PhotoCrops(train_per_photo=per_photo, test_per_photo=0)
            crops = [s.input for s in source.samples()]
        except SourceUnavailable:
            crops = []
    except ImportError:
        crops = []
    if crops:
        picked = np.linspace(0, len(crops) - 1, n).astype(int)  # every photo, in order
        return np.stack([crops[i] for i in picked]), "photo crops"
    coarse = rng.uniform(0, 255, (n, CHANNELS, 8, 8))
    smooth = coarse.repeat(IMAGE_SIDE // 8, axis=2).repeat(IMAGE_SIDE // 8, axis=3)
    noisy = smooth + rng.normal(0, 8, smooth.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), "smooth random images (no photos)"


# --- models -------------------------------------------------------------------------------


def released_size_model(modality: Modality, widths: Widths, device: torch.device) -> LoadedModel:
    """A PI-Net with random weights and a card that fits the benchmark's inputs."""
    network = build_model(modality, CHANNELS, widths=widths).to(device).eval()
    card = ModelCard(
        name=f"random-{modality}",
        modality=modality,
        in_channels=CHANNELS,
        widths=widths,
        input_shape=INPUT_SHAPES[modality],
        recipe=RecipeRef(name=EXACT_RECIPES[modality]),
        data_source=DataSourceRef(name="none"),
    )
    return LoadedModel(network, card, device)


def checkpoint_model(path: str, modality: Modality, device: torch.device) -> LoadedModel:
    model = load_model(path, str(device))
    card = model.card
    if card.modality != modality:
        raise SystemExit(
            f"{path}: model {card.name!r} is a {card.modality} model; "
            f"--checkpoint-{modality} needs one of modality {modality!r}"
        )
    if card.in_channels != CHANNELS:
        layout = "x".join(map(str, INPUT_SHAPES[modality]))
        raise SystemExit(
            f"{path}: model {card.name!r} expects {card.in_channels} channels; this benchmark "
            f"times {layout} inputs"
        )
    return model


def describe(model: LoadedModel, from_checkpoint: bool) -> str:
    widths = ",".join(map(str, model.card.widths))
    released = " (released size)" if tuple(model.card.widths) == TRUNK_WIDTHS else ""
    if from_checkpoint:
        card = model.card
        return f"checkpoint '{card.name}', widths {widths}{released}, trained on {card.recipe.name}"
    return f"random weights, widths {widths}{released}"


# --- timing -------------------------------------------------------------------------------


def synchronise(device: torch.device) -> None:
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


def exact_rate(name: str, inputs: np.ndarray, repeats: int) -> float:
    """Samples/s of the exact recipe's `images_batch`, after an untimed JIT warm-up call."""
    recipe = get_recipe(name)
    recipe.images_batch(inputs[:1])
    cpu = torch.device("cpu")
    return len(inputs) / median_seconds(lambda: recipe.images_batch(inputs), repeats, cpu)


# --- report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
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
    if device.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(device)}"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = next(line.split(":", 1)[1] for line in cpuinfo.splitlines() if "model name" in line)
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU {model.strip()} ({os.cpu_count()} cores, {usable} usable)"


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device cuda, but torch {torch.__version__} sees no CUDA device")
    return torch.device(choice)


def main() -> None:
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
    device = pick_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    windows, window_source = accelerometer_windows(args.batch, rng)
    images, image_source = photo_crops(args.batch, rng)
    models: dict[Modality, LoadedModel] = {}
    descriptions: dict[Modality, str] = {}
    for modality, path in (("signal", args.checkpoint_signal), ("image", args.checkpoint_image)):
        if path:
            models[modality] = checkpoint_model(path, modality, device)
        else:
            models[modality] = released_size_model(modality, args.widths, device)
        descriptions[modality] = describe(models[modality], from_checkpoint=bool(path))

    signal_pinet = pinet_rate(models["signal"], windows, args.repeats)
    signal_exact = exact_rate("signal-sublevel", windows, args.repeats)
    image_pinet = pinet_rate(models["image"], images, args.repeats)
    raster_exact = exact_rate("image-raster", images, args.repeats)
    cubical_exact = exact_rate("image-cubical", images, args.repeats)
    few = images[: args.rips_images]
    rips_exact = exact_rate("image-rips", few, repeats=1)
    few_pinet = pinet_rate(models["image"], few, args.repeats)

    n, k = args.batch, args.rips_images
    signal_inputs = f"{n} x 3x{WINDOW} float64, {window_source}"
    image_inputs = f"{n} x 3x{IMAGE_SIDE}x{IMAGE_SIDE} uint8, {image_source}"
    rows = [
        Row("signal-sublevel vs Signal PI-Net", signal_inputs, signal_exact, signal_pinet),
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

    print(f"device: {device_name(device)}")
    print(
        f"threads: torch {torch.get_num_threads()} (PI-Net), numba {numba.get_num_threads()} "
        f"(exact recipes); torch {torch.__version__}"
        + (", bfloat16 autocast" if device.type == "cuda" else ", float32")
    )
    print(f"signal model: {descriptions['signal']}")
    print(f"image model: {descriptions['image']}")
    print(
        f"batch {n}, median of {args.repeats} timings after a warm-up; PI-Net = pinet.predict "
        "(input preparation, forward, copy back); exact = recipe.images_batch"
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
        f"\nPI-Net / exact above 1: the network is faster. The image rows share one Image PI-Net "
        f"timing (batch {n}); a network trained on cubical or rips targets has the same "
        f"architecture and cost. image-rips: {1 / rips_exact:.1f} s per image, one timing."
    )


if __name__ == "__main__":
    main()
