"""`python -m experiments run har|differentiable --quick` and `report --quick` as a user runs
them: real subprocesses on a fresh root, sharing one pair of quick runs across the tests."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from data_prep.lock import StoreLocked, exclusive_writer
from experiments import data, differentiable, har
from experiments.noise import CONDITIONS
from experiments.results import RESULTS_FILE, load
from tests.experiments.helpers import REPOSITORY, RUN_TIMEOUT, SEEDS, quick_report

EXPERIMENTS = {"har": har, "differentiable": differentiable}


def start(root: Path, *arguments: str) -> subprocess.Popen[str]:
    """`python -m experiments --root ROOT ARGUMENTS...` started from the repository."""
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", "--root", str(root), *arguments],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> None:
    _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 0, stderr[-3000:]


@pytest.fixture(scope="module")
def quick_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both experiments run quick, at once, on a root whose data store is made first (two
    runs must not write one store)."""
    root = tmp_path_factory.mktemp("experiments")
    data.ground_truth(data.HAPT_ACC, root, quick=True)
    processes = [start(root, "run", name, "--quick") for name in EXPERIMENTS]
    for process in processes:
        finish(process)
    return root


def results(root: Path, name: str) -> list[dict[str, Any]]:
    return load(root / f"{name}-quick" / RESULTS_FILE)["results"]


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_row_seed_and_condition_has_finite_scores(quick_root: Path, name: str) -> None:
    found = results(quick_root, name)
    keys = [(r["row"], r["seed"], r["condition"]) for r in found]
    expected = {
        (row, seed, condition)
        for row in EXPERIMENTS[name].ROWS
        for seed in SEEDS
        for condition in CONDITIONS
    }
    assert sorted(keys) == sorted(expected)
    for result in found:
        assert {"accuracy", "macro_f1"} <= set(result["metrics"])
        assert all(math.isfinite(value) for value in result["metrics"].values())
        assert 0 <= result["metrics"]["accuracy"] <= 1


def test_har_times_every_row_on_clean_data(quick_root: Path) -> None:
    timed = {r["row"] for r in results(quick_root, "har") if "ms_per_sample" in r["metrics"]}
    assert timed == set(har.ROWS)


def test_the_report_has_every_row_and_a_plot(quick_root: Path) -> None:
    report = quick_report(quick_root, *EXPERIMENTS.values())
    plots = [quick_root / f"{name}-quick-noise.png" for name in EXPERIMENTS]
    for plot in plots:
        assert plot.read_bytes().startswith(b"\x89PNG")
        assert f"]({plot.name})" in report


def test_rerunning_one_row_reproduces_its_numbers(quick_root: Path) -> None:
    """The row's saved command, run again, gives bit-identical scores (timings aside)."""
    row, seed = "1D-CNN + exact PI", 1

    def scores_of_row() -> dict[str, dict[str, float]]:
        return {
            r["condition"]: {k: v for k, v in r["metrics"].items() if k != "ms_per_sample"}
            for r in results(quick_root, "har")
            if (r["row"], r["seed"]) == (row, seed)
        }

    before = scores_of_row()
    arguments = ["run", "har", "--row", row, "--seed", str(seed), "--quick"]
    finish(start(quick_root, *arguments))
    assert set(before) == set(CONDITIONS)
    assert scores_of_row() == before


def test_a_complete_store_is_read_while_another_process_holds_its_lock(quick_root: Path) -> None:
    """Experiments running at once share their finished store: only writers need the lock."""
    path = quick_root / data.DATA_FOLDER / data.HAPT_ACC.name(quick=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLocked):  # a writer is still refused
            with exclusive_writer(path):
                pass
        store = data.ground_truth(data.HAPT_ACC, quick_root, quick=True)
        assert store.complete and store.path == path
    finally:
        holder.kill()
        holder.wait()


HOLD_LOCK = """
import sys, time
from data_prep.lock import exclusive_writer
with exclusive_writer(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""
