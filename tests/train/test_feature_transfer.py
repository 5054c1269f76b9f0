"""Attention transfer: maps are unit-length channel energies per position; a student that
is its teacher pays nothing extra, another one does; mismatched students and ONNX teachers
are refused; the CLI records it and refuses it beside self-distillation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pinet.checkpoint import read_card
from pinet.inference import load_model
from pinet.nets import build_network
from pinet.train import MeanSquaredError
from pinet.train.feature_transfer import AttentionTransfer, attention_map
from tests.helpers import TINY_WIDTHS, TrainedRun, tiny_checkpoint


def test_an_attention_map_is_the_unit_channel_energy_of_each_position() -> None:
    activations = torch.zeros(2, 4, 5)
    activations[0, :, 1] = 3.0  # all of sample 0's energy at position 1
    activations[1, 0, :] = 1.0  # sample 1's energy spread evenly
    maps = attention_map(activations)
    assert maps.shape == (2, 5)
    torch.testing.assert_close(maps[0], torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(maps[1], torch.full((5,), 5**-0.5))


def test_a_student_that_is_its_teacher_pays_only_its_task_loss(tmp_path: Path) -> None:
    folder = tiny_checkpoint(tmp_path, "teacher", "signal", (3, 250), "signal-sublevel")
    teacher = load_model(folder, "cpu")
    objective = AttentionTransfer(MeanSquaredError(), [teacher], 5.0)
    inputs = torch.randn(4, 3, 250, generator=torch.Generator().manual_seed(0))
    targets = torch.rand(4, 3, 50, 50) / 10
    torch.manual_seed(1)
    other = build_network("signal", 3, widths=tuple(2 * w for w in TINY_WIDTHS)).eval()
    students = {"itself": teacher.backend.network, "other": other}
    with torch.no_grad():  # the losses compared as numbers
        task, transferred = (
            {name: float(loss(student, inputs, targets)) for name, student in students.items()}
            for loss in (MeanSquaredError(), objective)
        )
    assert transferred["itself"] == pytest.approx(task["itself"], rel=1e-6)
    assert transferred["other"] > task["other"] + 1e-4


def test_a_student_of_another_depth_or_folding_is_refused(tmp_path: Path) -> None:
    teacher = load_model(
        tiny_checkpoint(tmp_path, "teacher", "signal", (3, 250), "signal-sublevel"), "cpu"
    )
    objective = AttentionTransfer(MeanSquaredError(), [teacher], 1.0)
    inputs, targets = torch.randn(2, 3, 250), torch.rand(2, 3, 50, 50)
    for student in (
        build_network("signal", 3, widths=(*TINY_WIDTHS, 8)),
        build_network("signal", 3, widths=TINY_WIDTHS, per_channel=True),
    ):
        with pytest.raises(ValueError, match="block by block"):
            objective(student, inputs, targets)


def test_an_onnx_teacher_is_refused(tmp_path: Path) -> None:
    folder = tiny_checkpoint(tmp_path, "graph", "signal", (3, 250), "signal-sublevel", onnx=True)
    with pytest.raises(ValueError, match="runs on onnxruntime"):
        AttentionTransfer(MeanSquaredError(), [load_model(folder, "cpu")], 1.0)


def distill(run: TrainedRun, out: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "pinet", "distill", "--data", str(run.store), "--model", "signal",
        "--out", str(out), "--epochs", "1", "--batch-size", "16", "--device", "cpu",
        "--widths", ",".join(map(str, TINY_WIDTHS)), "--no-progress",
        "--teacher", str(run.out / "best"), *extra,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_the_cli_distills_with_attention_transfer(signal_run: TrainedRun, tmp_path: Path) -> None:
    done = distill(signal_run, tmp_path / "student", "--attention-transfer", "0.5")
    assert done.returncode == 0, done.stderr
    objective = read_card(tmp_path / "student" / "best").training["objective"]
    assert objective["name"] == "attention-transfer" and objective["weight"] == 0.5
    assert objective["teachers"] == [read_card(signal_run.out / "best").name]
    assert objective["base"]["name"] == "distillation"


def test_the_cli_refuses_attention_transfer_with_self_distillation(
    signal_run: TrainedRun, tmp_path: Path
) -> None:
    done = distill(
        signal_run, tmp_path / "both", "--attention-transfer", "1", "--self-distill", "1"
    )
    assert done.returncode == 2
    assert "give one of them" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "both").exists()
