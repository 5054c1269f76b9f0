"""Ground-truth speed: the authors' pipeline against pinet.tda, on the same inputs, in one run.

The authors' pipeline (the tests' oracle, `tests/tda/tda_oracles.py`) is a per-sample,
single-process loop: for each channel, ripser on the sparse path matrix (SPEC 2.1), then
persim's legacy `PersImage` divided by its max (2.2);
image-raster also cuts persistence at 1.5/255 after a row-major flatten (2.3), and
signal-sublevel z-scores first (2.4). Ours is `recipe.images_batch` on a whole batch (numba
threads on all cores), timed after a warm-up call that compiles or loads the JIT cache.
The authors' loop runs on the first `--samples` inputs, ours on `--batch`; both are reported
per sample, and the outputs are compared on the shared subset.

    python benchmarks/ground_truth.py [--samples N] [--repeats R] [--batch B]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinet.tda import get_recipe
from tests.tda.tda_oracles import authors_raster_images, authors_signal_images

REFERENCE = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "pinet_cifar10_samples.npz"
)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


# --- inputs -------------------------------------------------------------------------------


def cifar_like_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 32, 32)` uint8: the 10 released CIFAR10 images, then 32x32 photo crops."""
    with np.load(REFERENCE) as data:
        cifar = np.round(data["images"] * 255).astype(np.uint8)
    try:
        import skimage.data

        photos = [getattr(skimage.data, name)() for name in PHOTOS]
        source = f"{len(cifar)} CIFAR10 + 32x32 crops of skimage photos"
    except ImportError:
        photos = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)]
        source = f"{len(cifar)} CIFAR10 + random uint8 images"
    crops = []
    for i in range(max(n - len(cifar), 0)):
        photo = photos[i % len(photos)]
        y = rng.integers(0, photo.shape[0] - 32)
        x = rng.integers(0, photo.shape[1] - 32)
        crops.append(photo[y : y + 32, x : x + 32, :3].transpose(2, 0, 1))
    images = np.concatenate([cifar, np.array(crops, dtype=np.uint8).reshape(-1, 3, 32, 32)])
    return images[:n], source


def accelerometer_like_windows(n: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """`(n, 3, 250)`: half random walks, half sums of sines plus noise (5 s at 50 Hz)."""
    walks = np.cumsum(rng.standard_normal((n, 3, 250)), axis=-1)
    t = np.arange(250) / 50
    frequency = rng.uniform(0.5, 3.0, (n, 3, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 3, 1))
    sines = (
        np.sin(2 * np.pi * frequency * t + phase)
        + 0.5 * np.sin(4 * np.pi * frequency * t)
        + 0.2 * rng.standard_normal((n, 3, 250))
    )
    windows = np.where(np.arange(n)[:, None, None] % 2 == 0, walks, sines)
    return windows, "random walks and noisy sines"


# --- timing -------------------------------------------------------------------------------


def timed(work: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Median wall time of `repeats` calls, and the last call's result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def compare(
    name: str,
    inputs: np.ndarray,
    authors_one: Callable[[np.ndarray], np.ndarray],
    samples: int,
    repeats: int,
) -> dict:
    """Authors' loop on inputs[:samples] and ours on all inputs, per-sample rates."""
    recipe = get_recipe(name)
    recipe.images_batch(inputs[:4])  # JIT warm-up (compile or load the cache), not timed
    subset = inputs[:samples]
    as_unit = (lambda x: x / 255.0) if inputs.dtype == np.uint8 else (lambda x: x)

    def authors_loop() -> np.ndarray:
        return np.stack([authors_one(as_unit(x)) for x in subset])

    authors_s, authors_out = timed(authors_loop, repeats)
    ours_s, ours_out = timed(lambda: recipe.images_batch(inputs), repeats)
    ours_out = ours_out[:samples]
    authors_rate = samples / authors_s
    ours_rate = len(inputs) / ours_s
    return {
        "authors": authors_rate,
        "ours": ours_rate,
        "ratio": ours_rate / authors_rate,
        "diff": float(np.abs(ours_out - authors_out).max()),
    }


def ours_only(name: str, inputs: np.ndarray, repeats: int) -> float:
    recipe = get_recipe(name)
    recipe.images_batch(inputs[:1])  # warm-up
    return len(inputs) / timed(lambda: recipe.images_batch(inputs), repeats)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="inputs for the authors' loop")
    parser.add_argument("--batch", type=int, default=2000, help="inputs for ours")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measure (median)")
    parser.add_argument("--rips-samples", type=int, default=2, help="32x32x3 images for Rips")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # persim's PersImage
    batch = max(args.batch, args.samples)
    rng = np.random.default_rng(0)

    images, image_source = cifar_like_images(batch, rng)
    windows, window_source = accelerometer_like_windows(batch, rng)
    raster = compare("image-raster", images, authors_raster_images, args.samples, args.repeats)
    signal = compare("signal-sublevel", windows, authors_signal_images, args.samples, args.repeats)
    cubical_n = min(batch, 500)
    cubical = ours_only("image-cubical", images[:cubical_n], args.repeats)
    rips = ours_only("image-rips", images[: args.rips_samples], 1)

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print(f"machine: {cores} cores ({usable} usable), numba threads: {numba.get_num_threads()}")
    print(
        f"authors: single process, per sample, first {args.samples} inputs; "
        f"ours: images_batch on {batch} inputs after a JIT warm-up call; "
        f"median of {args.repeats} timings\n"
    )
    print("| recipe | input | authors (samples/s) | ours (samples/s) | speed-up | max abs diff |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, shape, source, row in (
        ("image-raster", "3x32x32 uint8", image_source, raster),
        ("signal-sublevel", "3x250 float64", window_source, signal),
    ):
        print(
            f"| {name} | {shape}, {source} | {row['authors']:.1f} | {row['ours']:.1f} "
            f"| {row['ratio']:.0f}x | {row['diff']:.1e} |"
        )
    print(
        f"| image-cubical | 3x32x32 uint8, first {cubical_n} of the above | - | {cubical:.1f} "
        f"| - | - |"
    )
    print(
        f"| image-rips | 3x32x32 uint8, {args.rips_samples} image(s), full Rips H1 "
        f"| - | {rips:.3f} | - | - |"
    )
    print(
        f"\nper sample: image-raster {1e3 / raster['authors']:.2f} ms -> "
        f"{1e3 / raster['ours']:.3f} ms; signal-sublevel {1e3 / signal['authors']:.2f} ms -> "
        f"{1e3 / signal['ours']:.3f} ms; image-cubical {1e3 / cubical:.2f} ms; "
        f"image-rips {1 / rips:.1f} s (timed once)"
    )


if __name__ == "__main__":
    main()
