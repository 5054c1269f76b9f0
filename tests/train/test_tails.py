"""Signals with their tails stretched: each drawn channel keeps the order of its values (the
pairs of its diagram) while its tails reach farther, labelled by the recipe on the stretched
values; the others stay as they were; the share and the draws follow the settings; a run
records the stretches, and image stores are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.checkpoint import read_card
from pinet.train import train
from pinet.train.tails import MAX_STRENGTH, TAILS, TailStretches, stretched_tails
from tests.train.test_crops import batch, signals
from tests.train.test_rolls import EXACT, RECIPE, config


def stretched_batch(share: float, seed: int, count: int = 6) -> tuple[torch.Tensor, ...]:
    """A batch of random walks, its targets, and what `TailStretches(share)` makes of them."""
    inputs, targets = batch(signals(count=count), "signal-sublevel")
    generator = torch.Generator().manual_seed(seed)
    stretched, labels = TailStretches(share).apply(inputs, targets, RECIPE, generator, EXACT)
    return inputs, targets, stretched, labels


@pytest.mark.parametrize("tail", TAILS)
def test_the_map_is_strictly_increasing_and_moves_only_its_tails(tail: str) -> None:
    z = torch.linspace(-12, 12, 2401, dtype=torch.float64)
    for strength in (0.0, 0.1, MAX_STRENGTH):
        mapped = stretched_tails(z, torch.tensor(strength), torch.tensor(TAILS.index(tail)))
        assert torch.all(torch.diff(mapped) > 0)
        assert torch.all(mapped.abs() >= z.abs()) and torch.equal(mapped[z == 0], z[z == 0])
        untouched = {"lower": z > 0, "upper": z < 0, "both": torch.zeros_like(z, dtype=bool)}
        assert torch.equal(mapped[untouched[tail]], z[untouched[tail]])
        if strength:
            moved = (z < -1) if tail == "lower" else (z > 1)
            assert torch.all(mapped[moved].abs() > z[moved].abs())


def test_stretched_channels_keep_their_order_reach_farther_and_are_relabelled() -> None:
    inputs, targets, stretched, labels = stretched_batch(share=1.0, seed=0, count=40)
    before, after = inputs.numpy(), stretched.numpy()
    np.testing.assert_array_equal(np.argsort(after, -1), np.argsort(before, -1))
    # both are z-scored network inputs: the stretched ones lie farther from their mean
    assert np.abs(after).max(-1).mean() > np.abs(before).max(-1).mean() + 0.3
    expected = RECIPE.images_batch(after.astype(np.float64))
    np.testing.assert_allclose(labels.numpy(), expected, atol=1e-6)
    assert not torch.allclose(labels, targets)  # the bars are born and die elsewhere


def test_the_share_of_stretched_samples_follows_the_setting_and_the_rest_stay() -> None:
    inputs, targets, stretched, labels = stretched_batch(share=0.25, seed=1, count=400)
    moved = [not torch.equal(a, b) for a, b in zip(inputs, stretched, strict=True)]
    assert 0.18 < np.mean(moved) < 0.32
    kept = torch.tensor([not m for m in moved])
    assert torch.equal(stretched[kept], inputs[kept]) and torch.equal(labels[kept], targets[kept])


def test_the_draws_repeat_with_the_generator_seed() -> None:
    first, again, other = (stretched_batch(0.5, seed)[2] for seed in (7, 7, 8))
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_bad_shares_are_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share of stretched samples"):
        TailStretches(share)


def test_a_run_records_its_stretches_and_image_stores_are_refused(
    signal_store: Path, image_store: Path, tmp_path: Path
) -> None:
    train(signal_store, "signal", tmp_path / "run", config(stretch_tails=0.5), progress=False)
    assert read_card(tmp_path / "run" / "best").training["stretch_tails"] == 0.5
    with pytest.raises(ValueError, match="--stretch-tails stretches signals"):
        train(image_store, "image", tmp_path / "image", config(stretch_tails=0.5))
