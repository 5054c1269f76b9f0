"""The synthetic sources: determinism per (seed, index), every family in its form, groups that
keep to one split, options from strings, and the real batch job on them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kurtosis

from data_prep import job
from data_prep.sources import get_source
from data_prep.sources.base import Sample
from data_prep.sources.synthetic import (
    IMAGE_FAMILIES,
    SIGNAL_FAMILIES,
    SyntheticImages,
    SyntheticSignals,
)
from data_prep.sources.synthetic.common import SyntheticSource
from data_prep.sources.synthetic.signals import MIN_REPEATS, footfalls, periodic, sawtooth
from pinet.store import GroundTruthStore
from pinet.tda import get_recipe

# Enough samples that every family appears (13 and 8 families) and both splits are used.
COUNT = 200


def assert_same(first: list[Sample], second: list[Sample]) -> None:
    """Same ids, inputs (values and dtypes), labels, groups and splits, in the same order."""
    assert [s.id for s in first] == [s.id for s in second]
    assert [(s.label, s.group, s.split) for s in first] == [
        (s.label, s.group, s.split) for s in second
    ]
    for a, b in zip(first, second, strict=True):
        assert a.input.dtype == b.input.dtype and np.array_equal(a.input, b.input), a.id


@pytest.mark.parametrize("source_class", [SyntheticSignals, SyntheticImages])
def test_samples_depend_on_seed_and_index_only(source_class: type[SyntheticSource]) -> None:
    samples = list(source_class(seed=5, count=COUNT).samples())
    assert_same(samples, list(source_class(seed=5, count=COUNT).samples()))
    assert_same(samples[:30], list(source_class(seed=5, count=30).samples()))
    assert_same(samples[150:151], [source_class(seed=5, count=COUNT).sample(150)])
    other = list(source_class(seed=6, count=COUNT).samples())
    assert not any(np.array_equal(a.input, b.input) for a, b in zip(samples, other, strict=True))


@pytest.mark.parametrize(
    ("source", "shape"),
    [
        (SyntheticSignals(count=COUNT), (3, 250)),
        (SyntheticSignals(count=COUNT, length=64, channels=1), (1, 64)),
        (SyntheticSignals(count=COUNT, length=1200, channels=6), (6, 1200)),
    ],
)
def test_signals_cover_every_family_in_their_shape(
    source: SyntheticSignals, shape: tuple[int, ...]
) -> None:
    samples = list(source.samples())
    assert {s.id.split("/")[1] for s in samples} == set(SIGNAL_FAMILIES)
    families = list(SIGNAL_FAMILIES)
    for sample in samples:
        _, family, index = sample.id.split("/")
        assert sample.id.startswith("synthetic-signals/") and len(index) == 6
        assert sample.label == families.index(family) and sample.group.startswith(f"{family}/")
        assert sample.input.shape == shape and sample.input.dtype == np.float64
        assert np.all(np.isfinite(sample.input))
        assert np.all(np.ptp(sample.input, axis=1) > 0), f"{sample.id} has a constant channel"


@pytest.mark.parametrize("length", [64, 400])
def test_periodic_signals_repeat_one_pattern_up_to_their_noise(length: int) -> None:
    """Shifted by its period, a periodic draw differs from itself by its noise alone (at
    most half its spread, NOISE_RATIO); at a shift that is not a whole period a random
    pattern differs by more than its spread. So the best shift within length / MIN_REPEATS
    leaves under 0.7 of the spread in every draw."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = periodic(rng, 2, length)
        assert x.shape == (2, length)
        differences = [
            np.std(x[:, shift:] - x[:, :-shift]) for shift in range(1, length // MIN_REPEATS + 1)
        ]
        assert min(differences) < 0.7 * np.std(x - x.mean(axis=1, keepdims=True))


def test_footfalls_are_heavy_tailed_swings_that_recur() -> None:
    """Footfalls put most of a window's energy into impacts far above the sway: heavy tails
    (the median channel's excess kurtosis above 3, Daphnet's gait channels have 5.5-21), and
    the largest swings recur rather than standing alone: a window's ten largest samples are
    spread over at least a quarter of it in most draws."""
    rng = np.random.default_rng(1)
    draws = [footfalls(rng, 3, 250) for _ in range(100)]
    assert np.median([kurtosis(x, axis=1) for x in draws]) > 3
    spans = [np.ptp(np.argsort(np.abs(x - np.median(x)), axis=None)[-10:] % 250) for x in draws]
    assert np.mean(np.array(spans) >= 250 / 4) > 0.8


def test_sawtooth_ramps_gently_and_resets_across_its_range() -> None:
    """A sawtooth channel climbs in small steps (its median step under a tenth of its
    range) and resets abruptly: one step spans at least 70% of its range (a ramp's top to
    its reset, side by side), and steps of 40% recur at least MIN_REPEATS - 1 times. Nearly
    every channel does all three; footfalls 0.63 of the time, no other family half as often."""
    rng = np.random.default_rng(2)
    channels = np.concatenate([sawtooth(rng, 3, 250) for _ in range(100)])
    steps = np.abs(np.diff(channels, axis=1)) / np.ptp(channels, axis=1, keepdims=True)
    gentle = np.median(steps, axis=1) < 0.1
    spanning = steps.max(axis=1) >= 0.7
    recurring = (steps >= 0.4).sum(axis=1) >= MIN_REPEATS - 1
    assert np.mean(gentle & spanning & recurring) > 0.95


@pytest.mark.parametrize(
    ("source", "shape"),
    [
        (SyntheticImages(count=COUNT), (3, 32, 32)),
        (SyntheticImages(count=COUNT, size=28, channels=1), (1, 28, 28)),
        (SyntheticImages(count=COUNT, size=64, channels=4), (4, 64, 64)),
    ],
)
def test_images_cover_every_family_and_use_the_range(
    source: SyntheticImages, shape: tuple[int, ...]
) -> None:
    samples = list(source.samples())
    assert {s.id.split("/")[1] for s in samples} == set(IMAGE_FAMILIES)
    families = list(IMAGE_FAMILIES)
    for sample in samples:
        family = sample.id.split("/")[1]
        assert sample.label == families.index(family)
        assert sample.input.shape == shape and sample.input.dtype == np.uint8
        # to_uint8 puts the darkest pixel at <= 64 and the brightest at >= 192.
        assert sample.input.min() <= 64 and sample.input.max() >= 192, sample.id
    means = [s.input.mean() for s in samples]
    assert 64 < np.mean(means) < 192 and np.std(means) > 10


@pytest.mark.parametrize(
    "source", [SyntheticSignals(count=2000, length=64), SyntheticImages(count=2000, size=16)]
)
def test_groups_keep_to_one_split_and_both_splits_are_used(source: SyntheticSource) -> None:
    splits_of_group: dict[str, set[str]] = defaultdict(set)
    for sample in source.samples():
        splits_of_group[sample.group].add(sample.split)
    assert all(len(splits) == 1 for splits in splits_of_group.values())
    test_groups = sum(splits == {"test"} for splits in splits_of_group.values())
    assert len(splits_of_group) > 100
    assert 0.1 < test_groups / len(splits_of_group) < 0.3  # test_fraction 0.2


def test_get_source_parses_options_and_names_bad_families() -> None:
    source = get_source("synthetic-signals", {"seed": "3", "count": "10", "families": "ar,chirp"})
    assert source == SyntheticSignals(seed=3, count=10, families="ar,chirp")
    assert {s.id.split("/")[1] for s in source.samples()} <= {"ar", "chirp"}
    assert {s.label for s in source.samples()} <= {1, 3}  # indices in SIGNAL_FAMILIES
    everything = get_source("synthetic-images", {"count": "20", "test_fraction": "1"})
    assert {s.split for s in everything.samples()} == {"test"}
    assert get_source("synthetic-images", {"size": "24"}).params == {
        "seed": 0,
        "count": 5000,
        "families": ",".join(IMAGE_FAMILIES),
        "test_fraction": 0.2,
        "size": 24,
        "channels": 3,
    }
    with pytest.raises(ValueError, match=r"unknown family 'wave' in 'ar,wave'.*random-walk, ar"):
        get_source("synthetic-signals", {"families": "ar,wave"})
    with pytest.raises(ValueError, match="families in 'ar,ar'"):
        SyntheticSignals(families="ar,ar")
    with pytest.raises(ValueError, match="length must be >= 16"):
        SyntheticSignals(length=8)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        SyntheticImages(test_fraction=1.5)


@pytest.mark.parametrize(
    ("source", "recipe"),
    [
        (SyntheticSignals(seed=2, count=COUNT, length=100), "signal-sublevel"),
        (SyntheticImages(seed=2, count=COUNT, channels=1), "image-raster"),
    ],
)
def test_the_batch_job_records_the_source_and_computes_pis(
    tmp_path: Path, source: SyntheticSource, recipe: str
) -> None:
    out = tmp_path / "synthetic.zarr"
    summary = job.run(
        source, get_recipe(recipe), out, limit=40, chunk_size=16, workers=1, progress=False
    )
    assert summary.done == 40 and summary.failed == 0
    store = GroundTruthStore.open(out)
    assert store.complete
    assert store.job["source"] == {"name": source.name, "params": source.params}
    pis = store["pis"][:]
    assert pis.shape[:2] == (40, source.channels) and np.any(pis.reshape(40, -1).max(axis=1) > 0)
    assert set(store["split"][:]) == {"train", "test"}


def test_objects_lie_on_a_flat_background() -> None:
    """One exact value covers much of each image, as black does around clothes or digits,
    and the object is never missing."""
    source = SyntheticImages(count=100, families="objects", size=28, channels=1)
    shares = [
        np.unique(sample.input, return_counts=True)[1].max() / sample.input.size
        for sample in source.samples()
    ]
    assert 0.4 < min(shares) and max(shares) < 1.0
    assert np.median(shares) > 0.6
