"""Signals with their tails stretched: the map is strictly increasing and moves only its
tails; each drawn channel keeps the order of its values (the pairs of its diagram) while its
tails reach farther, labelled by the recipe on the stretched values; the largest strength a
run sets takes them farther, and is checked and recorded (what every such transform shares:
tests/train/test_sample_transforms.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pinet.checkpoint import read_card
from pinet.train import TrainConfig, train
from pinet.train.tails import STRENGTH_LIMIT, TAILS, TailStretches, stretched_tails
from tests.helpers import TINY_WIDTHS
from tests.train.test_crops import batch, signals
from tests.train.test_sample_transforms import EXACT, RECIPE, transformed_batch


@pytest.mark.parametrize("tail", TAILS)
def test_the_map_is_strictly_increasing_and_moves_only_its_tails(tail: str) -> None:
    z = torch.linspace(-12, 12, 2401, dtype=torch.float64)
    for strength in (0.0, 0.1, STRENGTH_LIMIT):
        mapped = stretched_tails(z, torch.tensor(strength), torch.tensor(TAILS.index(tail)))
        assert torch.all(torch.diff(mapped) > 0)
        assert torch.all(mapped.abs() >= z.abs()) and torch.equal(mapped[z == 0], z[z == 0])
        untouched = {"lower": z > 0, "upper": z < 0, "both": torch.zeros_like(z, dtype=bool)}
        assert torch.equal(mapped[untouched[tail]], z[untouched[tail]])
        if strength:
            moved = (z < -1) if tail == "lower" else (z > 1)
            assert torch.all(mapped[moved].abs() > z[moved].abs())


def test_stretched_channels_keep_their_order_reach_farther_and_are_relabelled() -> None:
    inputs, targets, stretched, labels = transformed_batch(TailStretches, 1.0, seed=0, count=40)
    before, after = inputs.numpy(), stretched.numpy()
    np.testing.assert_array_equal(np.argsort(after, -1), np.argsort(before, -1))
    # both are z-scored network inputs: the stretched ones lie farther from their mean
    assert np.abs(after).max(-1).mean() > np.abs(before).max(-1).mean() + 0.3
    expected = RECIPE.images_batch(after.astype(np.float64))
    np.testing.assert_allclose(labels.numpy(), expected, atol=1e-6)
    assert not torch.allclose(labels, targets)  # the bars are born and die elsewhere


def test_a_larger_strength_takes_the_channels_farther() -> None:
    inputs, targets = batch(signals(count=40), "signal-sublevel")

    def farthest(max_strength: float) -> float:
        generator = torch.Generator().manual_seed(3)
        stretches = TailStretches(1.0, max_strength)
        stretched, _ = stretches.apply(inputs, targets, RECIPE, generator, EXACT)
        return stretched.abs().amax(-1).mean().item()

    assert farthest(0.1) < farthest(0.5) < farthest(STRENGTH_LIMIT)


@pytest.mark.parametrize("max_strength", [0.0, -0.5, STRENGTH_LIMIT + 0.5])
def test_strengths_outside_the_limit_are_refused(max_strength: float) -> None:
    with pytest.raises(ValueError, match="--stretch-strength must be in"):
        TailStretches(0.5, max_strength)


def test_a_run_records_its_strength_and_refuses_one_without_stretches(
    signal_store: Path, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=1, batch_size=8, widths=TINY_WIDTHS, device="cpu")
    stretched = replace(config, stretch_tails=0.5, stretch_strength=0.8)
    train(signal_store, "signal", tmp_path / "run", stretched, progress=False)
    assert read_card(tmp_path / "run" / "best").training["stretch_strength"] == 0.8
    unstretched = replace(config, stretch_strength=0.8)
    with pytest.raises(ValueError, match="--stretch-strength sets how far --stretch-tails"):
        train(signal_store, "signal", tmp_path / "none", unstretched, progress=False)
