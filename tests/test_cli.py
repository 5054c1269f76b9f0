"""The `pinet` command: one real training subprocess, then refusals and eval in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pinet.checkpoint import read_card
from pinet.cli import EXIT_USAGE, main
from tests.helpers import TrainedRun

REPOSITORY = Path(__file__).resolve().parents[1]


def test_train_runs_as_a_command(signal_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [
        *(sys.executable, "-m", "pinet", "train"),
        *("--data", str(signal_store), "--model", "signal", "--out", str(out)),
        *("--widths", "4,8,8,16", "--epochs", "1", "--batch-size", "16"),
        *("--device", "cpu", "--name", "cli-signal", "--no-progress"),
    ]
    finished = subprocess.run(
        command, cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)
    assert result["last"]["epoch"] == 1
    assert result["best_val_mse"] == result["last"]["val_mse"]
    card = read_card(out / "best")
    assert (card.name, card.training["epochs"]) == ("cli-signal", 1)
    assert card.architecture["widths"] == [4, 8, 8, 16]


def test_eval_prints_metrics(image_run: TrainedRun, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--checkpoint", str(image_run.out / "best"), "--data", str(image_run.store)]
    assert main([*argv, "--split", "train", "--device", "cpu"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"mse", "mae", "per_channel_mse", "mean_pi_mse", "mse_vs_mean_pi"} <= set(metrics)


def test_eval_of_a_missing_checkpoint_is_a_usage_error(
    signal_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-checkpoint"
    argv = ["eval", "--checkpoint", str(missing), "--data", str(signal_store), "--device", "cpu"]
    assert main(argv) == EXIT_USAGE == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert str(missing) in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("widths", ["", "4,8,8,0", "a,b,c,d", "4,,8", "0"])
def test_bad_widths_are_rejected_by_the_parser(
    widths: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(tmp_path), "--model", "signal", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--widths", widths])
    assert exit_info.value.code == 2
    assert "expected positive integers, one per conv block" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
