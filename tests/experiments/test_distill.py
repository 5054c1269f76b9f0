"""`python -m experiments run distill --quick` and `report --quick` as a user runs them: real
subprocesses on a fresh root, one quick run shared by the tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from experiments import distill
from experiments.results import RESULTS_FILE, load
from tests.experiments.helpers import SEEDS, quick_report, run_experiments


@pytest.fixture(scope="module")
def quick_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("distill")
    run_experiments(root, "run", "distill", "--quick")
    return root


def results(root: Path) -> list[dict[str, Any]]:
    return load(root / "distill-quick" / RESULTS_FILE)["results"]


def test_every_row_and_seed_has_finite_scores(quick_root: Path) -> None:
    found = results(quick_root)
    assert sorted((r["row"], r["seed"]) for r in found) == sorted(
        (row, seed) for row in distill.ROWS for seed in SEEDS
    )
    for result in found:
        metrics = result["metrics"]
        assert all(math.isfinite(value) for value in metrics.values())
        assert metrics["ms_per_sample"] > 0
        if result["row"] in distill.EXACT_ROWS.values():
            assert set(metrics) == {"ms_per_sample"}
        else:
            assert set(metrics) == {"accuracy", "macro_f1", "ms_per_sample"}
            assert 0 <= metrics["accuracy"] <= 1


def test_the_report_has_every_row_and_the_verdicts(quick_root: Path) -> None:
    report = quick_report(quick_root, distill)
    assert "| Topological distillation (KD from A+B, group PIs) beats the student" in report
    assert "signal-sublevel-tpkd" in report


def test_rerunning_a_mixup_student_alone_reproduces_its_numbers(quick_root: Path) -> None:
    """The row's saved command, which trains the teachers it needs again, gives
    bit-identical scores (timings aside)."""
    row, seed = "student: KD from A+B + mixup (group PIs)", 1

    def scores_of_row() -> dict[str, float]:
        (result,) = [r for r in results(quick_root) if (r["row"], r["seed"]) == (row, seed)]
        return {k: v for k, v in result["metrics"].items() if k != "ms_per_sample"}

    before = scores_of_row()
    run_experiments(quick_root, "run", "distill", "--row", row, "--seed", str(seed), "--quick")
    assert scores_of_row() == before
