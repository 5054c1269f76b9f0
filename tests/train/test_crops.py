"""Random crops labelled by the recipe: the labels are the recipe's PIs of the raw crops, a
cropped batch has one shape, the share and sizes follow the settings, draws repeat with the
seed, a run with crops records them in its card, and crops too small or too large are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.checkpoint import read_card
from pinet.inference import network_inputs
from pinet.tda import get_recipe
from pinet.train import TrainConfig, train
from pinet.train.crops import RandomCrops
from pinet.train.losses import MeanSquaredError
from tests.helpers import TINY_WIDTHS

EXACT = MeanSquaredError()  # targets: the exact PIs alone


def batch(raw: np.ndarray, recipe: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs and exact PIs of raw inputs, as a training batch holds them."""
    exact = get_recipe(recipe, {})
    inputs = network_inputs(raw, exact.modality)
    return inputs, torch.from_numpy(exact.images_batch(raw))


def signals(count: int = 6, length: int = 250, seed: int = 0) -> np.ndarray:
    """Raw signals with an offset and a scale per channel, which the network inputs lose."""
    rng = np.random.default_rng(seed)
    walk = rng.normal(size=(count, 3, length)).cumsum(axis=-1)
    return 5.0 + 3.0 * walk


def find_raw_crop(raw: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """The window of `raw` (C, T) whose network input is `crop` (C, L)."""
    length = crop.shape[-1]
    for start in range(raw.shape[-1] - length + 1):
        window = raw[:, start : start + length]
        if np.allclose(network_inputs(window[None], "signal")[0].numpy(), crop, atol=1e-5):
            return window
    raise AssertionError("the crop is no window of its input")


def test_a_cropped_signal_batch_is_labelled_by_the_recipe_on_the_raw_crops() -> None:
    raw = signals()
    inputs, targets = batch(raw, "signal-sublevel")
    recipe = get_recipe("signal-sublevel", {})
    generator = torch.Generator().manual_seed(0)
    cropped, labels = RandomCrops(64, share=1.0).apply(inputs, targets, recipe, generator, EXACT)
    assert cropped.shape[:2] == (6, 3) and 64 <= cropped.shape[2] < 250
    for sample, crop, label in zip(raw, cropped.numpy(), labels.numpy(), strict=True):
        window = find_raw_crop(sample, crop)
        np.testing.assert_allclose(label, recipe.images(window), atol=1e-6)
    assert not torch.allclose(labels, targets)  # a crop's topology is its own


def test_a_cropped_image_batch_is_cut_along_both_axes_and_labelled() -> None:
    raw = np.random.default_rng(1).integers(0, 256, size=(4, 3, 32, 24), dtype=np.uint8)
    inputs, targets = batch(raw, "image-raster")
    recipe = get_recipe("image-raster", {})
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        cropped, labels = RandomCrops(16, share=1.0).apply(
            inputs, targets, recipe, generator, EXACT
        )
        height, width = cropped.shape[2:]
        assert 16 <= height <= 32 and width == min(height, 24)
        expected = recipe.images_batch(cropped.numpy().astype(np.float64))
        np.testing.assert_array_equal(labels.numpy(), expected)


def test_sizes_span_the_range_and_the_share_of_cropped_batches_follows_the_setting() -> None:
    inputs, targets = batch(signals(count=2), "signal-sublevel")
    recipe = get_recipe("signal-sublevel", {})
    generator = torch.Generator().manual_seed(5)
    crops = RandomCrops(100, share=0.25)
    lengths = [
        crops.apply(inputs, targets, recipe, generator, EXACT)[0].shape[2] for _ in range(400)
    ]
    cropped = [length for length in lengths if length < 250]
    assert min(cropped) >= 100 and max(cropped) >= 240 and min(cropped) <= 110
    assert 0.18 < len(cropped) / len(lengths) < 0.32
    short, short_targets = batch(signals(count=2, length=100), "signal-sublevel")
    for _ in range(20):  # a batch of a shorter store of a mixture stays as it is
        assert crops.apply(short, short_targets, recipe, generator, EXACT)[0] is short


def test_the_draws_repeat_with_the_generator_seed() -> None:
    inputs, targets = batch(signals(), "signal-sublevel")
    recipe = get_recipe("signal-sublevel", {})
    crops = RandomCrops(64, share=0.5)

    def draws(seed: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return [crops.apply(inputs, targets, recipe, generator, EXACT)[0] for _ in range(6)]

    first, again, other = draws(7), draws(7), draws(8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    pairs = zip(first, other, strict=True)
    assert any(a.shape != b.shape or not torch.equal(a, b) for a, b in pairs)


@pytest.mark.parametrize(("min_size", "share"), [(0, 0.5), (64, 0.0), (64, 1.5)])
def test_bad_settings_are_refused(min_size: int, share: float) -> None:
    with pytest.raises(ValueError, match="crop"):
        RandomCrops(min_size, share)


def config(**changes: object) -> TrainConfig:
    return TrainConfig(
        **{"epochs": 1, "batch_size": 8, "widths": TINY_WIDTHS, "device": "cpu", **changes}
    )


def test_a_run_with_crops_records_them_and_the_lengths_it_learned(
    signal_store: Path, tmp_path: Path
) -> None:
    train(signal_store, "signal", tmp_path / "run", config(crop_min_size=100), progress=False)
    card = read_card(tmp_path / "run" / "best")
    assert card.training_ranges.sizes == (100, 250)
    assert (card.training["crop_min_size"], card.training["crop_share"]) == (100, 0.5)


def test_crops_beyond_what_the_network_takes_or_the_stores_hold_are_refused(
    signal_store: Path, tmp_path: Path
) -> None:
    for size in (4, 250):
        with pytest.raises(ValueError, match=f"--crop-min-size {size} must be at least the"):
            run = config(crop_min_size=size)
            train(signal_store, "signal", tmp_path / "run", run, progress=False)
