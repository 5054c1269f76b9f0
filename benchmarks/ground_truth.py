"""Ground-truth speed: the authors' pipeline against pinet.tda, on the same inputs, in one run.

The authors' pipeline (`pinet.tda.reference`, also the tests' oracle) is a per-sample,
single-process loop: for each channel, ripser on the sparse path matrix (SPEC 2.1), then
persim's legacy `PersImage` divided by its max (2.2);
image-raster also cuts persistence at 1.5/255 after a row-major flatten (2.3), and
signal-sublevel z-scores first (2.4). Ours is `recipe.images_batch` on a whole batch (numba
threads on all cores), timed after a warm-up call that compiles or loads the JIT cache.
The authors' loop runs on the first `--samples` inputs, ours on `--batch`; both are reported
per sample, and the outputs are compared on the shared subset. Inputs (`benchmarks/inputs.py`):
the authors' 10 CIFAR10 images then photo crops, and synthetic accelerometer-like windows.
`image-rips` (up to seconds per image) runs on the first `--rips-samples` images (or on
images spread over a data_prep source, `--rips-source`), timed once, and its diagrams, the
costly part, are also computed by ripser (the authors' library) on the same clouds: the
reference its giotto-ph backend must equal and beat.

    python benchmarks/ground_truth.py [--samples N] [--repeats R] [--batch B] [--rips-samples K]
        [--rips-source SOURCE]
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
from typing import TypeVar

import numba
import numpy as np
from ripser import ripser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inputs import cifar_like_images, spread_over, synthetic_windows
from data_prep.sources import SOURCES, get_source
from pinet.tda import get_recipe
from pinet.tda.inputs import as_images
from pinet.tda.recipes.rips import intensity_cloud
from pinet.tda.reference import authors_raster_images, authors_signal_images, finite_pairs

T = TypeVar("T")


def timed(work: Callable[[], T], repeats: int) -> tuple[float, T]:
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
) -> dict[str, float]:
    """Authors' loop on inputs[:samples] and ours on all inputs: samples/s of each, their
    ratio, and the largest difference between the two outputs on the shared subset."""
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


def rips_against_ripser(images: np.ndarray) -> dict[str, float]:
    """`image-rips` on `images` (uint8), timed once: images/s of the whole recipe (diagrams
    through giotto-ph, numba's thread count, then PIs), images/s of ripser (the authors'
    library) computing the same diagrams on the same clouds, and whether every diagram is
    the same multiset of pairs."""
    recipe = get_recipe("image-rips")
    recipe.images_batch(images[:1, :1, :2, :4])  # import giotto-ph (scikit-learn, ~1 s)
    ours_s, (diagrams, _) = timed(lambda: recipe.transform_batch(images), 1)
    clouds = [intensity_cloud(c) for image in as_images(images, batched=True) for c in image]
    ripser_s, theirs = timed(
        lambda: [finite_pairs(ripser(c, maxdim=1)["dgms"][1]) for c in clouds], 1
    )
    ours = [diagram for per_image in diagrams for diagram in per_image]
    same = all(
        np.array_equal(finite_pairs(a), b) for a, b in zip(ours, theirs, strict=True)
    )  # both sorted by (birth, death): equal as multisets
    return {"ours": len(images) / ours_s, "ripser": len(images) / ripser_s, "same": same}


def ours_only(name: str, inputs: np.ndarray, repeats: int) -> float:
    """Samples/s of ours alone, for a recipe the authors never ran (cubical)."""
    recipe = get_recipe(name)
    recipe.images_batch(inputs[:1])  # warm-up
    return len(inputs) / timed(lambda: recipe.images_batch(inputs), repeats)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="inputs for the authors' loop")
    parser.add_argument("--batch", type=int, default=2000, help="inputs for ours")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measure (median)")
    parser.add_argument("--rips-samples", type=int, default=2, help="images for Rips")
    parser.add_argument(
        "--rips-source",
        choices=sorted(name for name, source in SOURCES.items() if source.modality == "image"),
        help="Rips on images spread over this data_prep source (default: the images above)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # persim's PersImage
    batch = max(args.batch, args.samples)
    rng = np.random.default_rng(0)

    images, image_source = cifar_like_images(batch, rng)
    windows, window_source = synthetic_windows(batch, rng)
    raster = compare("image-raster", images, authors_raster_images, args.samples, args.repeats)
    signal = compare("signal-sublevel", windows, authors_signal_images, args.samples, args.repeats)
    cubical_n = min(batch, 500)
    cubical = ours_only("image-cubical", images[:cubical_n], args.repeats)
    rips_images, rips_source = images[: args.rips_samples], "the images above"
    if args.rips_source:
        rips_images = spread_over(get_source(args.rips_source, {}), args.rips_samples)
        if rips_images is None:
            parser.error(f"the {args.rips_source} data is not installed")
        rips_source = args.rips_source
    rips = rips_against_ripser(rips_images)

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
        f"| image-rips | {'x'.join(map(str, rips_images.shape[1:]))} uint8, "
        f"{len(rips_images)} image(s), {rips_source}, Rips H1 "
        f"| - | {rips['ours']:.3f} | - | - |"
    )
    print(
        "| image-rips: ripser's diagrams (reference) vs ours (giotto-ph, certified threshold) "
        f"| the same {len(rips_images)} image(s) | {rips['ripser']:.3f} | {rips['ours']:.3f} "
        f"| {rips['ours'] / rips['ripser']:.2f}x "
        f"| {'identical' if rips['same'] else 'DIFFERENT'} |"
    )
    print(
        f"\nper sample: image-raster {1e3 / raster['authors']:.2f} ms -> "
        f"{1e3 / raster['ours']:.3f} ms; signal-sublevel {1e3 / signal['authors']:.2f} ms -> "
        f"{1e3 / signal['ours']:.3f} ms; image-cubical {1e3 / cubical:.2f} ms; "
        f"image-rips {1 / rips['ours']:.1f} s (timed once)"
    )


if __name__ == "__main__":
    main()
