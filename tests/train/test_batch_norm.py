"""Precise BatchNorm statistics: recomputed over random training samples before each
validation, they change what a run validates and saves, never what it trains."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from pinet.train import train
from pinet.train.batch_norm import STATISTICS_BATCH, recompute_batch_norm, statistics_batches
from tests.helpers import TrainedRun
from tests.train.helpers import history, last_checkpoint


class _Numbered:
    """Samples whose inputs `(channels, length)` hold their own position: what a draw took
    can be read back from its batches."""

    device = torch.device("cpu")

    def __init__(self, count: int, channels: int, length: int) -> None:
        self.count, self.shape = count, (channels, length)

    def __len__(self) -> int:
        return self.count

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = torch.tensor(positions, dtype=torch.float32).view(-1, 1, 1).expand(-1, *self.shape)
        return inputs, torch.zeros(len(positions))


def test_recomputed_statistics_are_those_of_all_the_samples() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4, momentum=0.3)).eval()
    samples = torch.randn(1024, 1, 50) * 3 + 1
    parameters = {k: v.clone() for k, v in model.named_parameters()}

    seen = recompute_batch_norm(model, samples.split(128))

    with torch.no_grad():
        features = model[0](samples).transpose(0, 1).reshape(4, -1)
    norm = model[1]
    assert seen == 1024
    torch.testing.assert_close(norm.running_mean, features.mean(dim=1), rtol=0, atol=1e-5)
    # The mean of eight batches' unbiased variances: the variance of all, up to how far
    # the batch means spread (3% here).
    torch.testing.assert_close(norm.running_var, features.var(dim=1), rtol=0.03, atol=0)
    assert norm.momentum == 0.3 and not model.training
    assert all(v.equal(parameters[k]) for k, v in model.named_parameters())


def test_no_samples_is_refused_with_the_momentum_kept() -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match="no samples"):
        recompute_batch_norm(model, [])
    assert model[1].momentum == 0.1 and model.training


def test_each_part_gives_its_share_once_in_batches_of_its_own() -> None:
    parts = [_Numbered(1000, 3, 20), _Numbered(3000, 1, 40)]
    weights = np.array([0.25, 0.75])

    batches = list(statistics_batches(parts, weights, 800, seed=0, epoch=2))

    drawn: dict[tuple[int, ...], list[float]] = {}
    for batch in batches:
        assert len(batch) <= STATISTICS_BATCH
        drawn.setdefault(tuple(batch.shape[1:]), []).extend(batch[:, 0, 0].tolist())
    first, second = drawn[(3, 20)], drawn[(1, 40)]
    assert len(first) + len(second) == 800
    assert 150 <= len(first) <= 250  # multinomial share of 0.25: 200 +- 3.5 sigma
    assert len(set(first)) == len(first) and len(set(second)) == len(second)
    assert max(first) < 1000 and max(second) < 3000
    assert first != sorted(first)  # batches are shuffled, not in store order
    again = list(statistics_batches(parts, weights, 800, seed=0, epoch=2))
    assert all(a.equal(b) for a, b in zip(batches, again, strict=True))
    other = list(statistics_batches(parts, weights, 800, seed=0, epoch=3))
    assert sorted(first) != sorted(other[0][:, 0, 0].tolist() + other[1][:, 0, 0].tolist())


def test_precise_statistics_change_what_a_run_saves_not_what_it_trains(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    assert signal_run.config.bn_samples > 0  # the default
    plain = replace(signal_run.config, bn_samples=0)
    train(signal_run.store, "signal", tmp_path / "plain", plain, progress=False)

    precise = load_file(last_checkpoint(signal_run.out) / "model.safetensors")
    running = load_file(last_checkpoint(tmp_path / "plain") / "model.safetensors")
    statistics = {name for name in precise if "running_" in name}
    assert statistics
    for name, tensor in precise.items():
        if name in statistics:
            assert not tensor.equal(running[name]), name
        elif not name.endswith("num_batches_tracked"):
            assert tensor.equal(running[name]), name
    trained = [entry["train_mse"] for entry in history(signal_run.out)]
    assert trained == [entry["train_mse"] for entry in history(tmp_path / "plain")]
    card = json.loads((last_checkpoint(signal_run.out) / "card.json").read_text())
    assert card["training"]["bn_samples"] == signal_run.config.bn_samples


def test_a_run_begun_before_precise_statistics_resumes_without_them(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    shutil.copytree(signal_run.out, old)
    state_file = last_checkpoint(old) / "state.json"
    state = json.loads(state_file.read_text())
    del state["config"]["bn_samples"]
    state_file.write_text(json.dumps(state))

    with pytest.raises(ValueError, match=r"different configuration \(bn_samples\)"):
        train(signal_run.store, "signal", old, signal_run.config, resume=True, progress=False)
    as_it_ran = replace(signal_run.config, bn_samples=0)
    train(signal_run.store, "signal", old, as_it_ran, resume=True, progress=False)


def test_frozen_statistics_make_a_samples_loss_independent_of_its_batch(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """At learning rate 0, `--frozen-batch-norm` normalises every sample by the same
    statistics, so an epoch's mean loss is the same at any batch size; batch statistics make
    it depend on the batch."""

    def first_epoch_loss(batch_size: int, frozen: bool) -> float:
        config = replace(
            signal_run.config,
            epochs=1,
            lr=0.0,
            batch_size=batch_size,
            init=str(signal_run.out / "best"),
            frozen_batch_norm=frozen,
        )
        out = tmp_path / f"{batch_size}-{frozen}"
        train(signal_run.store, "signal", out, config, progress=False)
        return history(out)[0]["train_mse"]

    frozen = [first_epoch_loss(size, frozen=True) for size in (8, 32)]
    assert frozen[0] == pytest.approx(frozen[1], rel=1e-5)
    batch = [first_epoch_loss(size, frozen=False) for size in (8, 32)]
    assert batch[0] != pytest.approx(batch[1], rel=1e-4)


def test_statistics_frozen_once_are_those_every_epoch_trained_with(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """`--freeze-once`: after one epoch or two, a run saves the statistics computed before
    the first, those its weights trained under, while the weights move; without it, each
    epoch saves statistics recomputed after it, which differ from those it trained with."""

    def saved(epochs: int, once: bool) -> tuple[dict, dict]:
        config = replace(
            signal_run.config,
            epochs=epochs,
            init=str(signal_run.out / "best"),
            frozen_batch_norm=True,
            freeze_once=once,
        )
        out = tmp_path / f"{epochs}-{once}"
        train(signal_run.store, "signal", out, config, progress=False)
        tensors = load_file(last_checkpoint(out) / "model.safetensors")
        statistics = {k: v for k, v in tensors.items() if "running" in k}
        return statistics, {k: v for k, v in tensors.items() if k not in statistics}

    (once_1, weights_1), (once_2, weights_2) = saved(1, once=True), saved(2, once=True)
    assert once_1 and all(once_1[k].equal(once_2[k]) for k in once_1)
    assert any(not weights_1[k].equal(weights_2[k]) for k in weights_1)
    (every_1, _), (every_2, _) = saved(1, once=False), saved(2, once=False)
    assert any(not every_1[k].equal(every_2[k]) for k in every_1)


def test_freezing_once_needs_frozen_statistics(signal_run: TrainedRun, tmp_path: Path) -> None:
    config = replace(signal_run.config, freeze_once=True)
    with pytest.raises(ValueError, match="--freeze-once keeps the statistics"):
        train(signal_run.store, "signal", tmp_path / "run", config, progress=False)


def test_frozen_statistics_need_statistics(signal_run: TrainedRun, tmp_path: Path) -> None:
    config = replace(signal_run.config, bn_samples=0, frozen_batch_norm=True)
    with pytest.raises(ValueError, match="--frozen-batch-norm needs statistics"):
        train(signal_run.store, "signal", tmp_path / "run", config, progress=False)
