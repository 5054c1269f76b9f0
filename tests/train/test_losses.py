"""The MSE objective's long-bar weight: which exact PIs it weights, the loss it computes, and
how `pinet train` records it and `pinet distill` refuses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pinet.checkpoint import read_card
from pinet.tda import get_recipe
from pinet.train import MeanSquaredError
from tests.helpers import TrainedRun


def sublevel_pis(windows: np.ndarray) -> torch.Tensor:
    """The exact `signal-sublevel` PIs `(N, C, 50, 50)` of windows `(N, C, T)`."""
    return torch.from_numpy(get_recipe("signal-sublevel").images_batch(windows)).float()


def test_pis_whose_brightest_bar_is_long_get_the_weight_others_and_empty_ones_do_not() -> None:
    """A slow wave with two one-sample drops to z -6 (as Daphnet's channel 0 holds) peaks in
    the top rows; a fast sine's many short bars outshine the same drops at z -5; a constant
    channel's PI is empty."""
    steps = np.arange(250)
    slow, fast = np.sin(steps / 20), np.sin(steps / 7)
    slow[[60, 190]] = fast[[60, 190]] = -5.0
    windows = np.stack([slow, fast, np.zeros(250)])[None]
    targets = sublevel_pis(windows)
    rows = targets.flatten(-2).argmax(dim=-1) // 50
    assert rows[0, 0] < 20 <= rows[0, 1] and targets[0, 2].max() == 0
    assert MeanSquaredError(4.0).weights(targets).tolist() == [[4.0, 1.0, 1.0]]


def test_the_boundary_row_is_the_first_unweighted_one() -> None:
    targets = torch.zeros(1, 2, 50, 50)
    targets[0, 0, 19, 3] = targets[0, 1, 20, 3] = 1.0
    assert MeanSquaredError(3.0).weights(targets).tolist() == [[3.0, 1.0]]
    assert MeanSquaredError(3.0, long_bar_rows=21).weights(targets).tolist() == [[3.0, 3.0]]


def test_the_loss_is_the_weighted_mean_of_each_pis_mse_and_the_plain_mse_at_weight_one() -> None:
    generator = torch.Generator().manual_seed(0)
    targets = torch.rand(4, 3, 50, 50, generator=generator) * 0.5
    targets[..., :20, :] = 0.0  # short bars only ...
    targets[1, 2, 5, 5] = targets[3, 0, 10, 40] = 1.0  # ... but for two long bars' peaks
    predictions = torch.rand(4, 3, 50, 50, generator=generator)
    each = (predictions - targets).square().mean(dim=(-2, -1))
    weights = torch.ones(4, 3)
    weights[1, 2] = weights[3, 0] = 5.0
    expected = (weights * each).sum() / weights.sum()
    assert torch.allclose(MeanSquaredError(5.0).loss(predictions, targets), expected)
    assert not torch.allclose(expected, F.mse_loss(predictions, targets))
    plain = MeanSquaredError().loss(predictions, targets)
    assert torch.equal(plain, F.mse_loss(predictions, targets))


@pytest.mark.parametrize("weight, rows", [(0.5, 20), (float("nan"), 20), (2.0, 0)])
def test_a_weight_below_one_or_no_rows_is_refused(weight: float, rows: int) -> None:
    with pytest.raises(ValueError, match="long bars' weight must be >= 1"):
        MeanSquaredError(weight, rows)


def test_train_records_the_weight_and_distill_refuses_it(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    common = [
        "--data", str(signal_run.store), "--model", "signal", "--epochs", "1",
        "--batch-size", "16", "--widths", "4,8", "--device", "cpu", "--no-progress",
        "--long-bar-weight", "4",
    ]  # fmt: skip
    out = tmp_path / "weighted"
    command = [sys.executable, "-m", "pinet", "train", "--out", str(out), *common]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert read_card(out / "best").training["objective"] == {
        "name": "mse",
        "long_bar_weight": 4.0,
        "long_bar_rows": 20,
    }
    refused = tmp_path / "student"
    command = [
        sys.executable, "-m", "pinet", "distill", "--out", str(refused), *common,
        "--teacher", str(signal_run.out / "best"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "--long-bar-weight" in done.stderr and "pinet distill" in done.stderr
    assert not refused.exists()
