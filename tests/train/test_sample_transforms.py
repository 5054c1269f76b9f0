"""What every transform of a drawn share of samples shares (`SampleTransform`): the share
drawn follows the setting and the other samples keep their inputs and targets, the draws
repeat with the generator's seed, shares outside (0, 1] are refused, naming the transform,
and a run records its share and refuses image stores."""

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
from pinet.train.sample_transforms import SampleTransform
from pinet.train.tails import TailStretches
from tests.helpers import TINY_WIDTHS
from tests.train.test_crops import batch, signals

EXACT = MeanSquaredError()
RECIPE = get_recipe("signal-sublevel", {})

TRANSFORMS = [MinimumRolls, TailStretches]


def transformed_batch(
    kind: type[SampleTransform], share: float, seed: int, count: int = 6
) -> tuple[torch.Tensor, ...]:
    """A batch of random walks, its targets, and what `kind(share)` makes of them."""
    inputs, targets = batch(signals(count=count), "signal-sublevel")
    generator = torch.Generator().manual_seed(seed)
    changed, labels = kind(share).apply(inputs, targets, RECIPE, generator, EXACT)
    return inputs, targets, changed, labels


@pytest.mark.parametrize("kind", TRANSFORMS)
def test_the_share_of_transformed_samples_follows_the_setting_and_the_rest_stay(
    kind: type[SampleTransform],
) -> None:
    inputs, targets, changed, labels = transformed_batch(kind, share=0.25, seed=1, count=400)
    moved = [not torch.equal(a, b) for a, b in zip(inputs, changed, strict=True)]
    assert 0.18 < np.mean(moved) < 0.32
    kept = torch.tensor([not m for m in moved])
    assert torch.equal(changed[kept], inputs[kept]) and torch.equal(labels[kept], targets[kept])


@pytest.mark.parametrize("kind", TRANSFORMS)
def test_the_draws_repeat_with_the_generator_seed(kind: type[SampleTransform]) -> None:
    first, again, other = (transformed_batch(kind, 0.5, seed)[2] for seed in (7, 7, 8))
    assert torch.equal(first, again) and not torch.equal(first, other)


@pytest.mark.parametrize("kind", TRANSFORMS)
@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_bad_shares_are_refused_naming_the_transform(
    kind: type[SampleTransform], share: float
) -> None:
    with pytest.raises(ValueError, match=f"share of {kind.done} samples"):
        kind(share)


@pytest.mark.parametrize(
    ("option", "refusal"),
    [
        ("roll_to_minimum", "--roll-to-minimum rolls signals"),
        ("stretch_tails", "--stretch-tails stretches signals"),
    ],
)
def test_a_run_records_its_share_and_image_stores_are_refused(
    option: str, refusal: str, signal_store: Path, image_store: Path, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=1, batch_size=8, widths=TINY_WIDTHS, device="cpu", **{option: 0.5})
    train(signal_store, "signal", tmp_path / "run", config, progress=False)
    assert read_card(tmp_path / "run" / "best").training[option] == 0.5
    with pytest.raises(ValueError, match=refusal):
        train(image_store, "image", tmp_path / "image", config)
