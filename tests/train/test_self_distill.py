"""Self-distillation on distorted views: the MMD tells feature sets apart, the objective is
the formula its docstring states, and a run records it and learns reversal invariance."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_prep.sources.hapt import HaptWindows
from pinet.checkpoint import load_checkpoint, read_card
from pinet.nets import build_network, reversed_spatially
from pinet.train import MeanSquaredError, TrainConfig, train
from pinet.train.self_distill import SelfDistillation, maximum_mean_discrepancy
from tests.helpers import TrainedRun, tiny_store
from tests.train.helpers import history


def test_the_mmd_is_zero_for_one_set_and_grows_as_two_sets_part() -> None:
    features = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    other = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    assert maximum_mean_discrepancy(features, features).abs() < 1e-6
    distances = [float(maximum_mean_discrepancy(features, other + shift)) for shift in (0, 1, 3)]
    assert 0 <= distances[0] < distances[1] < distances[2]


@pytest.mark.parametrize("per_channel", [False, True])
def test_the_objective_is_both_views_task_their_difference_and_the_features_mmd(
    per_channel: bool,
) -> None:
    torch.manual_seed(0)
    network = build_network("signal", 3, per_channel=per_channel, widths=(4, 8)).eval()
    inputs = torch.randn(6, 3, 40)
    targets = torch.rand(6, 3, 50, 50) / 10
    objective = SelfDistillation(MeanSquaredError(), weight=0.5)
    first, second = network(inputs), network(reversed_spatially(inputs))
    folded = 3 if per_channel else 1
    trunk_inputs = torch.cat([inputs, reversed_spatially(inputs)])
    features = network.trunk(trunk_inputs.reshape(12 * folded, 3 // folded, 40))
    expected = (
        (F.mse_loss(first, targets) + F.mse_loss(second, targets)) / 2
        + F.mse_loss(first, second)
        + 0.5 * maximum_mean_discrepancy(features[: 6 * folded], features[6 * folded :])
    )
    loss = objective(network, inputs, targets).detach()
    assert float(loss) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_a_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="self-distillation weight"):
        SelfDistillation(MeanSquaredError(), weight=-1.0)


def test_a_self_distilled_run_records_its_objective_and_answers_both_views_more_alike(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    """Same data, seed and steps: the self-distilled network's predictions for a window and
    for it reversed differ less than the plain network's."""
    config = replace(signal_run.config, epochs=2, augment=False)
    plain, distilled = tmp_path / "plain", tmp_path / "self"
    train(signal_run.store, "signal", plain, config, progress=False)
    train(
        signal_run.store,
        "signal",
        distilled,
        config,
        objective=SelfDistillation(MeanSquaredError(), weight=1.0),
        progress=False,
    )
    assert read_card(distilled / "best").training["objective"] == {
        "name": "self-distillation",
        "views": "as given and reversed spatially",
        "weight": 1.0,
        "base": {"name": "mse"},
    }
    inputs = torch.randn(32, 3, 250, generator=torch.Generator().manual_seed(0))

    def view_gap(run: Path) -> float:
        network, _ = load_checkpoint(run / "best")
        network.eval()
        with torch.no_grad():
            return float(F.mse_loss(network(inputs), network(reversed_spatially(inputs))))

    assert view_gap(distilled) < view_gap(plain)
    assert all(entry["train_mse"] > 0 for entry in history(distilled))


def test_the_cli_wraps_distillation_in_self_distillation(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    out = tmp_path / "student"
    command = [
        sys.executable, "-m", "pinet", "distill", "--data", str(signal_run.store),
        "--model", "signal", "--out", str(out), "--epochs", "1", "--batch-size", "16",
        "--widths", "8,16", "--device", "cpu", "--no-progress",
        "--teacher", str(signal_run.out / "best"), "--alpha", "0.25", "--self-distill", "2",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    objective = read_card(out / "best").training["objective"]
    assert objective["name"] == "self-distillation" and objective["weight"] == 2.0
    assert objective["base"]["name"] == "distillation" and objective["base"]["alpha"] == 0.25
    assert json.loads(done.stdout)["best_val_mse"] > 0


def test_a_recipe_whose_pis_reversal_changes_is_refused(
    tmp_path: Path, signal_config: TrainConfig
) -> None:
    """signal-takens PIs of a reversed window differ at stride 2 (`spatial_symmetries`
    "none"), so a view that trains on them as equal is refused before anything is written."""
    store = tiny_store(
        tmp_path / "takens.zarr", HaptWindows(), "signal-takens", 24, recipe_params={"stride": 2}
    )
    out = tmp_path / "run"
    objective = SelfDistillation(MeanSquaredError())
    with pytest.raises(ValueError, match="signal-takens's PIs change when an input is reversed"):
        train(
            store,
            "signal",
            out,
            replace(signal_config, epochs=1),
            objective=objective,
            progress=False,
        )
    assert not out.exists()
