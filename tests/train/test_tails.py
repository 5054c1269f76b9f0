"""Signals with their tails stretched: the map is strictly increasing and moves only its
tails; each drawn channel keeps the order of its values (the pairs of its diagram) while its
tails reach farther, labelled by the recipe on the stretched values (what every such
transform shares: tests/train/test_sample_transforms.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinet.train.tails import MAX_STRENGTH, TAILS, TailStretches, stretched_tails
from tests.train.test_sample_transforms import RECIPE, transformed_batch


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
    inputs, targets, stretched, labels = transformed_batch(TailStretches, 1.0, seed=0, count=40)
    before, after = inputs.numpy(), stretched.numpy()
    np.testing.assert_array_equal(np.argsort(after, -1), np.argsort(before, -1))
    # both are z-scored network inputs: the stretched ones lie farther from their mean
    assert np.abs(after).max(-1).mean() > np.abs(before).max(-1).mean() + 0.3
    expected = RECIPE.images_batch(after.astype(np.float64))
    np.testing.assert_allclose(labels.numpy(), expected, atol=1e-6)
    assert not torch.allclose(labels, targets)  # the bars are born and die elsewhere
