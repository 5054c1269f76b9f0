"""Training data: validation by whole groups, and exact symmetries of stored pairs."""

from __future__ import annotations

import numpy as np
import psutil
import pytest
import torch

from pinet.inference import network_inputs
from pinet.store import GroundTruthStore
from pinet.tda import RECIPES, get_recipe
from pinet.train.data import available_memory, exact_symmetries, split_by_group


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
    [
        ("image-raster", (3, 12, 10)),
        ("image-cubical", (3, 9, 11)),
        ("image-cubical", (3, 10, 10)),
        ("image-rips", (2, 8, 8)),
        ("image-rips", (2, 7, 6)),
        ("signal-sublevel", (3, 40)),
        ("signal-takens", (2, 60)),
    ],
)
def test_exact_symmetries_map_true_pairs_to_true_pairs(
    recipe_name: str, shape: tuple[int, ...]
) -> None:
    """With the symmetries the recipe declares (all 8 of the square for "grid", none but
    channel permutations for "none", values reflected where it declares that), every moved
    network input has the moved PIs (to float32 rounding: 1 - v is rounded)."""
    recipe = get_recipe(recipe_name)
    rng = np.random.default_rng(3)
    if recipe.modality == "image":
        raw = rng.integers(0, 256, (16, *shape), dtype=np.uint8)
    else:
        raw = rng.normal(size=(16, *shape)).cumsum(axis=-1)
    inputs = network_inputs(raw, recipe.modality)  # what the training loop moves
    pis = torch.from_numpy(recipe.images_batch(inputs.numpy()))
    moved, moved_pis = exact_symmetries(
        inputs,
        pis,
        torch.Generator().manual_seed(0),
        recipe.spatial_symmetries,
        recipe.value_reflection,
    )
    assert not torch.equal(moved, inputs)  # something did move
    np.testing.assert_allclose(recipe.images_batch(moved.numpy()), moved_pis.numpy(), atol=1e-5)


def test_recipes_declare_no_symmetry_they_lack() -> None:
    """A single flip changes a raster path's PIs (the 180-degree turn does not), a reversed
    window's PIs under signal-takens at stride 2, and reflected values sublevel PIs: so they
    are not declared."""
    declared = {name: get_recipe(name).spatial_symmetries for name in RECIPES}
    assert declared["image-raster"] == "reversal"
    reflected = {name for name in RECIPES if get_recipe(name).value_reflection}
    assert reflected == {"image-rips", "signal-takens"}
    walk = np.random.default_rng(0).normal(size=(1, 1, 250)).cumsum(-1)
    signal = network_inputs(walk, "signal").numpy()
    sublevel = get_recipe("signal-sublevel")
    assert not np.allclose(sublevel.images_batch(signal), sublevel.images_batch(-signal))
    image = np.random.default_rng(0).integers(0, 256, (1, 1, 9, 9), dtype=np.uint8)
    raster = get_recipe("image-raster")
    assert not np.allclose(raster.images_batch(image), raster.images_batch(image[..., ::-1]))
    window = np.random.default_rng(0).normal(size=(1, 1, 250)).cumsum(axis=-1)
    takens = get_recipe("signal-takens", {"stride": 2})
    assert takens.spatial_symmetries == "none"
    assert not np.allclose(takens.images_batch(window), takens.images_batch(window[..., ::-1]))


def test_grid_symmetries_draw_all_eight_symmetries_of_a_square() -> None:
    square = torch.arange(16.0).view(1, 1, 4, 4).expand(256, 1, 4, 4)
    pis = torch.zeros(256, 1, 50, 50)
    moved, _ = exact_symmetries(square, pis, torch.Generator().manual_seed(0), "grid")
    seen = {tuple(image.flatten().tolist()) for image in moved}
    assert len(seen) == 8
    rectangle = torch.arange(12.0).view(1, 1, 3, 4).expand(64, 1, 3, 4)
    moved, _ = exact_symmetries(rectangle, pis[:64], torch.Generator().manual_seed(0), "grid")
    assert moved.shape == rectangle.shape
    assert len({tuple(image.flatten().tolist()) for image in moved}) == 4  # no transpose


def test_available_memory_counts_the_page_cache_as_the_kernel_does() -> None:
    """--preload's check reads what the kernel could hand out, reclaimable cache included:
    free pages alone refused preloads that fitted once reading stores had filled the cache."""
    ours = available_memory(torch.device("cpu"))
    kernel = psutil.virtual_memory().available  # an independent reading of MemAvailable
    assert abs(ours - kernel) <= max(0.05 * kernel, 256e6)
