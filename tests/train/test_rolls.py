"""Signals rolled to their minimum: each drawn sample's channels start at their minimum and are
circular shifts of the originals, labelled by the recipe on the rolled values (what every
such transform shares: tests/train/test_sample_transforms.py)."""

from __future__ import annotations

import numpy as np
import torch

from pinet.train.rolls import MinimumRolls
from tests.train.test_sample_transforms import RECIPE, transformed_batch


def test_rolled_channels_start_at_their_minimum_and_are_labelled_by_the_recipe() -> None:
    inputs, targets, rolled, labels = transformed_batch(MinimumRolls, share=1.0, seed=0)
    assert rolled.shape == inputs.shape
    np.testing.assert_array_equal(rolled[..., 0], rolled.min(-1).values)
    for before, after in zip(inputs.numpy(), rolled.numpy(), strict=True):
        for channel, shifted in zip(before, after, strict=True):
            shift = int(np.argmin(channel))
            np.testing.assert_allclose(shifted, np.roll(channel, -shift), atol=1e-5)
    expected = RECIPE.images_batch(rolled.numpy().astype(np.float64))
    np.testing.assert_allclose(labels.numpy(), expected, atol=1e-6)
    assert not torch.allclose(labels, targets)  # the joined ends are a new step
