"""Every bundled model against the exact recipe it imitates, on the same inputs, in one run.

For each model of `models/` (or `PINET_MODELS_DIR`), loaded as the service loads it (its
card's backend and precision): `pinet.predict` on a batch of real inputs of its modality
against its own recipe's `images_batch` with the card's parameters, each the median of
`--repeats` timings after a warm-up (see `benchmarks/inference.py`, whose timing this
shares). Above 1 in the ratio column, the model is faster than exact topology. An
`image-rips` model's recipe costs seconds per image, and no less per image in a batch, so it
is timed once on the first `--rips-images` images of the batch.

    python benchmarks/bundled_models.py [--batch N] [--repeats R] [--device cpu|cuda|auto]
        [--threads N] [--rips-images K]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inference import Row, device_name, exact_rate, pinet_rate
from benchmarks.inputs import accelerometer_windows, photo_crops
from pinet.device import resolve_device, use_threads
from pinet.inference import bundled_model_names, load_model, models_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="inputs per batch, both sides")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measure (median)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    parser.add_argument("--threads", type=int, help="torch and numba threads (default: all)")
    parser.add_argument("--rips-images", type=int, default=2, help="images for image-rips")
    args = parser.parse_args()
    if min(args.batch, args.repeats) < 1:
        parser.error("--batch and --repeats must be >= 1")
    if not 1 <= args.rips_images <= args.batch:
        parser.error(f"--rips-images must be between 1 and --batch ({args.batch})")
    device = resolve_device(args.device)
    if args.threads is not None:
        use_threads(args.threads)
    rng = np.random.default_rng(0)
    inputs = {
        "signal": accelerometer_windows(args.batch, rng),
        "image": photo_crops(args.batch, rng),
    }
    rows = []
    for name in bundled_model_names():
        model = load_model(name, str(device))
        card, backend = model.card, model.backend
        batch, source = inputs[card.modality]
        shape = "x".join(map(str, batch.shape[1:]))
        timed, repeats, note = batch, args.repeats, ""
        if card.recipe.name == "image-rips":
            timed, repeats = batch[: args.rips_images], 1
            note = f"; exact timed once on {len(timed)}"
        rows.append(
            Row(
                f"`{name}` ({backend.name}, {backend.precision}) vs {card.recipe.name}",
                f"{len(batch)} x {shape}, {source}{note}",
                exact_rate(card.recipe.name, timed, repeats, card.recipe.params),
                pinet_rate(model, batch, args.repeats),
            )
        )
    print(f"device: {device_name(device)}; models: {models_dir()}")
    print(f"threads: torch {torch.get_num_threads()}, numba {numba.get_num_threads()}")
    print(f"batch {args.batch}, median of {args.repeats} timings after a warm-up\n")
    print(
        "| model vs its exact recipe | inputs | exact (samples/s) | PI-Net (samples/s) "
        "| PI-Net / exact | exact (ms/sample) | PI-Net (ms/sample) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(row.markdown())


if __name__ == "__main__":
    main()
