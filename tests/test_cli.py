"""The `pinet` command: one real training subprocess, then refusals and eval in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numba
import pytest
import torch

from pinet.checkpoint import read_card
from pinet.cli import EXIT_USAGE, main
from pinet.train.config import TrainConfig
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


def test_threads_set_the_run_s_torch_and_numba_threads(
    signal_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", str(signal_store), "--model", "signal", "--out", str(tmp_path)]
    argv += ["--widths", "4,8,8,16", "--epochs", "1", "--batch-size", "16", "--device", "cpu"]
    before = (torch.get_num_threads(), numba.get_num_threads())
    try:
        torch.set_num_threads(2)  # so that one thread is a change wherever the test runs
        assert main([*argv, "--no-progress", "--threads", "1"]) == 0
        assert (torch.get_num_threads(), numba.get_num_threads()) == (1, 1)
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])
    assert json.loads(capsys.readouterr().out)["last"]["epoch"] == 1


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_fewer_than_one_thread_is_refused(
    threads: str, signal_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", str(signal_store), "--model", "signal", "--out", str(out)]
    assert main([*argv, "--device", "cpu", "--threads", threads]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert f"threads must be a whole number >= 1; got {threads}" in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_a_stretch_strength_without_stretches_is_refused_even_at_its_default(
    signal_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["train", "--data", str(signal_store), "--model", "signal", "--out", str(out)]
    default = str(TrainConfig.stretch_strength)
    assert main([*argv, "--device", "cpu", "--stretch-strength", default]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert "--stretch-strength sets how far --stretch-tails stretches" in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists()
