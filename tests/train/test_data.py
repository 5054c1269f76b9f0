"""Training data: validation by whole groups, and exact symmetries of stored pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinet.store import GroundTruthStore
from pinet.tda import get_recipe
from pinet.train.data import exact_symmetries, split_by_group


@pytest.fixture(scope="module", params=["signal", "image"])
def store(request: pytest.FixtureRequest) -> GroundTruthStore:
    return GroundTruthStore.open(request.getfixturevalue(f"{request.param}_store"))


@pytest.mark.parametrize("val_fraction", [0.0, 0.15, 0.5, 1.0])
def test_validation_holds_out_whole_groups(store: GroundTruthStore, val_fraction: float) -> None:
    train_idx, val_idx = split_by_group(store, val_fraction, seed=3)
    groups = store["groups"][:]
    train_groups, val_groups = set(groups[train_idx]), set(groups[val_idx])
    assert train_groups and val_groups, "each side needs at least one group"
    assert not train_groups & val_groups
    usable_train = store.usable_indices("train")
    assert sorted([*train_idx, *val_idx]) == usable_train.tolist()
    assert set(store["split"][:][val_idx]) == {"train"}


def test_validation_split_depends_only_on_the_seed(store: GroundTruthStore) -> None:
    first = split_by_group(store, 0.3, seed=7)
    again = split_by_group(store, 0.3, seed=7)
    for indices, expected in zip(first, again, strict=True):
        assert np.array_equal(indices, expected)
    held_out = {frozenset(store["groups"][:][split_by_group(store, 0.3, s)[1]]) for s in range(5)}
    assert len(held_out) > 1, "the seed does not change which groups are held out"


@pytest.mark.parametrize(
    ("recipe_name", "shape"),
    [("image-raster", (3, 12, 10)), ("image-cubical", (3, 9, 11)), ("signal-sublevel", (3, 40))],
)
def test_exact_symmetries_map_true_pairs_to_true_pairs(
    recipe_name: str, shape: tuple[int, ...]
) -> None:
    recipe = get_recipe(recipe_name)
    rng = np.random.default_rng(3)
    if recipe_name.startswith("image"):
        raw = rng.integers(0, 256, (16, *shape), dtype=np.uint8)
    else:
        raw = rng.normal(size=(16, *shape)).cumsum(axis=-1)
    pis = torch.from_numpy(recipe.images_batch(raw))
    moved, moved_pis = exact_symmetries(
        torch.from_numpy(raw), pis, torch.Generator().manual_seed(0)
    )
    assert not torch.equal(moved, torch.from_numpy(raw))  # something did move
    np.testing.assert_allclose(recipe.images_batch(moved.numpy()), moved_pis.numpy(), atol=1e-6)
