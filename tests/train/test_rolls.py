"""Signals rolled to their minimum: each drawn sample's channels start at their minimum and are
circular shifts of the originals, labelled by the recipe on the rolled values; the others
stay as they were; the share and the draws follow the settings; a run records the rolls, and
image stores are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.checkpoint import read_card
from pinet.tda import get_recipe
from pinet.train import TrainConfig, train
from pinet.train.losses import MeanSquaredError
from pinet.train.rolls import MinimumRolls
from tests.helpers import TINY_WIDTHS
from tests.train.test_crops import batch, signals

EXACT = MeanSquaredError()
RECIPE = get_recipe("signal-sublevel", {})


def rolled_batch(share: float, seed: int, count: int = 6) -> tuple[torch.Tensor, ...]:
    """A batch of random walks, its targets, and what `MinimumRolls(share)` makes of them."""
    inputs, targets = batch(signals(count=count), "signal-sublevel")
    generator = torch.Generator().manual_seed(seed)
    rolled, labels = MinimumRolls(share).apply(inputs, targets, RECIPE, generator, EXACT)
    return inputs, targets, rolled, labels


def test_rolled_channels_start_at_their_minimum_and_are_labelled_by_the_recipe() -> None:
    inputs, targets, rolled, labels = rolled_batch(share=1.0, seed=0)
    assert rolled.shape == inputs.shape
    np.testing.assert_array_equal(rolled[..., 0], rolled.min(-1).values)
    for before, after in zip(inputs.numpy(), rolled.numpy(), strict=True):
        for channel, shifted in zip(before, after, strict=True):
            shift = int(np.argmin(channel))
            np.testing.assert_allclose(shifted, np.roll(channel, -shift), atol=1e-5)
    expected = RECIPE.images_batch(rolled.numpy().astype(np.float64))
    np.testing.assert_allclose(labels.numpy(), expected, atol=1e-6)
    assert not torch.allclose(labels, targets)  # the joined ends are a new step


def test_the_share_of_rolled_samples_follows_the_setting_and_the_rest_stay() -> None:
    inputs, targets, rolled, labels = rolled_batch(share=0.25, seed=1, count=400)
    moved = [not torch.equal(a, b) for a, b in zip(inputs, rolled, strict=True)]
    assert 0.18 < np.mean(moved) < 0.32
    kept = torch.tensor([not m for m in moved])
    assert torch.equal(rolled[kept], inputs[kept]) and torch.equal(labels[kept], targets[kept])


def test_the_draws_repeat_with_the_generator_seed() -> None:
    first, again, other = (rolled_batch(0.5, seed)[2] for seed in (7, 7, 8))
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_bad_shares_are_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share of rolled samples"):
        MinimumRolls(share)


def config(**changes: object) -> TrainConfig:
    return TrainConfig(
        **{"epochs": 1, "batch_size": 8, "widths": TINY_WIDTHS, "device": "cpu", **changes}
    )


def test_a_run_records_its_rolls_and_image_stores_are_refused(
    signal_store: Path, image_store: Path, tmp_path: Path
) -> None:
    train(signal_store, "signal", tmp_path / "run", config(roll_to_minimum=0.5), progress=False)
    assert read_card(tmp_path / "run" / "best").training["roll_to_minimum"] == 0.5
    with pytest.raises(ValueError, match="--roll-to-minimum rolls signals"):
        train(image_store, "image", tmp_path / "image", config(roll_to_minimum=0.5))
