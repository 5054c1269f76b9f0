"""Training on a mixture of stores: weights, one shape per batch, the plain order for one
store, the card's record of the mixture and its ranges, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_prep import job
from data_prep.sources.synthetic import SyntheticSignals
from pinet.checkpoint import read_card
from pinet.tda import get_recipe
from pinet.train import TrainConfig, train
from pinet.train.data import ChunkWindowSampler, StoreSamples, batch_loader
from pinet.train.mixture import Component, MixtureBatchSampler, MixtureSamples, open_stores
from tests.helpers import TINY_WIDTHS, tiny_store


@pytest.fixture(scope="module")
def short_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic signals of 3 channels x 100 samples: a second length beside HAPT's 250."""
    out = tmp_path_factory.mktemp("mixture") / "synthetic-100.zarr"
    return tiny_store(out, SyntheticSignals(length=100, count=80), "signal-sublevel", limit=80)


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic signals of 5 channels: another channel count."""
    out = tmp_path_factory.mktemp("mixture") / "synthetic-5ch.zarr"
    return tiny_store(out, SyntheticSignals(channels=5, count=40), "signal-sublevel", limit=40)


def streams(*paths: Path) -> list[StoreSamples]:
    stores = open_stores([Component(p) for p in paths], "signal")
    return [StoreSamples(s, s.usable_indices("train"), "signal") for s in stores]


@pytest.mark.parametrize(
    ("text", "path", "weight"),
    [
        ("runs/a.zarr", "runs/a.zarr", None),
        ("runs/a.zarr:3", "runs/a.zarr", 3.0),
        ("runs/a.zarr:0.25", "runs/a.zarr", 0.25),
        ("c:/x:y.zarr", "c:/x:y.zarr", None),  # a colon that is not a weight
    ],
)
def test_a_component_is_a_store_and_an_optional_weight(text: str, path: str, weight) -> None:
    assert Component.parse(text) == Component(Path(path), weight)


@pytest.mark.parametrize("text", ["a.zarr:0", "a.zarr:-1", "a.zarr:nan", "a.zarr:inf"])
def test_a_weight_must_be_positive_and_finite(text: str) -> None:
    with pytest.raises(ValueError, match="positive number"):
        Component.parse(text)


def test_batches_follow_the_weights(signal_store: Path, short_store: Path) -> None:
    parts = streams(signal_store, short_store)
    weights = np.array([0.8, 0.2])
    sampler = MixtureBatchSampler(parts, weights, batch_size=2, seed=0)
    counts = np.zeros(2)
    for epoch in range(20):
        sampler.epoch = epoch
        for batch in sampler:
            counts[int(batch[0] >= len(parts[0]))] += 1
    share = counts[0] / counts.sum()
    # 20 epochs x ~47 batches: the binomial std of the share is ~0.013
    assert abs(share - 0.8) < 0.05, share
    assert sum(len(b) for b in sampler) == len(parts[0]) + len(parts[1])


def test_an_epoch_can_be_fixed_in_samples(signal_store: Path, short_store: Path) -> None:
    """`epoch_samples` sets the budget whatever the stores hold: fewer samples than they
    hold, or more (a part is drawn again in a further shuffled pass)."""
    parts = streams(signal_store, short_store)
    held = len(parts[0]) + len(parts[1])
    for asked in (held // 3, 3 * held + 1):
        sampler = MixtureBatchSampler(parts, np.array([0.5, 0.5]), 4, seed=0, epoch_samples=asked)
        batches = list(sampler)
        assert sum(len(b) for b in batches) == asked
        assert len(sampler) == len(batches) == -(-asked // 4)
        assert all(len(b) == 4 for b in batches[:-1])
    # more than part 0 holds: it is drawn in whole shuffled passes, so every position is
    # drawn and no position more than once above any other
    drawn = np.concatenate([b for b in batches if b[0] < len(parts[0])])
    counts = np.bincount(drawn, minlength=len(parts[0]))
    assert counts.min() >= 1 and counts.max() - counts.min() <= 1


def test_a_negative_epoch_is_refused(signal_store: Path, tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, epoch_samples=-5, widths=TINY_WIDTHS, device="cpu")
    with pytest.raises(ValueError, match="--epoch-samples must be 0 or more, not -5"):
        train(signal_store, "signal", tmp_path / "run", config, progress=False)
    assert not (tmp_path / "run").exists()


def test_each_batch_has_one_shape_and_both_shapes_occur(
    signal_store: Path, short_store: Path
) -> None:
    parts = streams(signal_store, short_store)
    sampler = MixtureBatchSampler(parts, np.array([0.5, 0.5]), batch_size=4, seed=1)
    loader = batch_loader(MixtureSamples(parts), 4, parts[0].device, sampler)
    shapes = {tuple(inputs.shape[1:]) for inputs, _ in loader}
    assert shapes == {(3, 250), (3, 100)}


def test_a_batch_across_stores_is_refused(signal_store: Path, short_store: Path) -> None:
    parts = streams(signal_store, short_store)
    with pytest.raises(ValueError, match="one store"):
        MixtureSamples(parts).__getitems__([0, len(parts[0])])


def test_one_store_gives_the_plain_shuffled_batches(signal_store: Path) -> None:
    (part,) = streams(signal_store)
    sampler = MixtureBatchSampler([part], np.array([1.0]), batch_size=5, seed=4)
    plain = ChunkWindowSampler(part, seed=4)
    for epoch in (0, 3):
        sampler.epoch = plain.epoch = epoch
        order = list(plain)
        assert list(sampler) == [order[i : i + 5] for i in range(0, len(order), 5)]


def test_the_batches_of_an_epoch_depend_only_on_seed_and_epoch(
    signal_store: Path, short_store: Path
) -> None:
    def epoch_batches(seed: int, epoch: int) -> list[list[int]]:
        sampler = MixtureBatchSampler(
            streams(signal_store, short_store), np.array([1, 3]) / 4, 3, seed
        )
        sampler.epoch = epoch
        return list(sampler)

    assert epoch_batches(2, 5) == epoch_batches(2, 5)
    assert epoch_batches(2, 5) != epoch_batches(2, 6)


def test_a_mixture_trains_and_its_card_records_it(
    signal_store: Path, short_store: Path, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=1, batch_size=8, widths=TINY_WIDTHS, device="cpu", name="mix")
    components = [Component(signal_store, 3.0), Component(short_store, 1.0)]
    train(components, "signal", tmp_path / "run", config, progress=False)
    card = read_card(tmp_path / "run" / "best")
    assert card.data_source.name == "mixture"
    described = card.data_source.params["components"]
    assert [c["weight"] for c in described] == [0.75, 0.25]
    assert [c["source"]["name"] for c in described] == ["hapt", "synthetic-signals"]
    assert [c["input_shape"] for c in described] == [[3, 250], [3, 100]]
    assert card.training_ranges.sizes == (100, 250)
    assert card.training_ranges.channels == (3, 3)
    entry = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    by_store = entry["val_mse_by_store"]
    assert set(by_store) == {"hapt", "synthetic-100"}
    assert min(by_store.values()) <= entry["val_mse"] <= max(by_store.values())


def test_resuming_on_other_data_is_refused(
    signal_store: Path, short_store: Path, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=1, batch_size=8, widths=TINY_WIDTHS, device="cpu")
    train(signal_store, "signal", tmp_path / "run", config, progress=False)
    both = [Component(signal_store), Component(short_store)]
    with pytest.raises(ValueError, match="other data"):
        train(both, "signal", tmp_path / "run", config, resume=True, progress=False)


def test_different_channel_counts_need_a_per_channel_model(
    signal_store: Path, wide_store: Path, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=1, batch_size=8, widths=TINY_WIDTHS, device="cpu")
    both = [Component(signal_store), Component(wide_store)]
    with pytest.raises(ValueError, match="--per-channel"):
        train(both, "signal", tmp_path / "a", config, progress=False)
    per_channel = TrainConfig(**{**config.__dict__, "per_channel": True})
    train(both, "signal", tmp_path / "b", per_channel, progress=False)
    assert read_card(tmp_path / "b" / "best").training_ranges.channels == (3, 5)


def test_stores_of_different_recipe_parameters_are_refused(
    signal_store: Path, tmp_path: Path
) -> None:
    other = tmp_path / "wider-spread.zarr"
    job.run(
        SyntheticSignals(count=20),
        get_recipe("signal-sublevel", {"spread": 0.5}),
        other,
        workers=1,
        progress=False,
    )
    with pytest.raises(ValueError, match="one model, one recipe"):
        open_stores([Component(signal_store), Component(other)], "signal")


def test_stores_of_one_name_are_refused(signal_store: Path, tmp_path: Path) -> None:
    twin = tmp_path / signal_store.name
    twin.symlink_to(signal_store)
    with pytest.raises(ValueError, match="two stores are called 'hapt'"):
        open_stores([Component(signal_store), Component(twin)], "signal")
