"""Results: mean ± std over seeds, and a rerun that replaces only its own rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments.results import Outcome, Result, Settings, load, save, summarise


def results_of(path: Path) -> dict[tuple[str, int, str], float]:
    return {
        (r["row"], r["seed"], r["condition"]): r["metrics"]["accuracy"]
        for r in load(path)["results"]
    }


def test_summarise_takes_mean_and_population_std_over_seeds() -> None:
    results = [
        {"row": "a", "seed": seed, "condition": "clean", "metrics": {"accuracy": value}}
        for seed, value in [(0, 0.5), (1, 0.7), (2, 0.9)]
    ] + [{"row": "b", "seed": 0, "condition": "noise 1", "metrics": {"accuracy": 0.1}}]
    summary = summarise(results)
    assert summary.get("a", "accuracy") == pytest.approx(0.7)
    assert summary.std[("a", "clean", "accuracy")] == pytest.approx(np.std([0.5, 0.7, 0.9]))
    assert summary.seeds == {("a", "clean"): [0, 1, 2], ("b", "noise 1"): [0]}
    assert (summary.rows(), summary.conditions()) == (["a", "b"], ["clean", "noise 1"])
    assert np.isnan(summary.get("b", "accuracy"))  # b was never run clean


def test_a_rerun_replaces_its_rows_and_seeds_and_keeps_the_rest(tmp_path: Path) -> None:
    first = Outcome(
        [
            Result("a", 0, {"accuracy": 0.1}),
            Result("a", 1, {"accuracy": 0.2}),
            Result("b", 0, {"accuracy": 0.3}),
            Result("b", 0, {"accuracy": 0.4}, "noise 1"),
        ],
        data={},
    )
    settings = Settings(out=tmp_path, quick=True)
    path = save("toy", settings, first, 1.0)
    rerun = Outcome(
        [Result("b", 0, {"accuracy": 0.5}), Result("b", 0, {"accuracy": 0.6}, "noise 1")], {}
    )
    assert save("toy", settings, rerun, 1.0) == path
    assert results_of(path) == {
        ("a", 0, "clean"): 0.1,
        ("a", 1, "clean"): 0.2,
        ("b", 0, "clean"): 0.5,
        ("b", 0, "noise 1"): 0.6,
    }
    commands = {r["command"] for r in load(path)["results"] if r["row"] == "b"}
    assert commands == {"python -m experiments run toy --row b --seed 0 --quick"}


def test_a_non_finite_metric_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    outcome = Outcome([Result("a", 0, {"accuracy": float("nan")})], {})
    with pytest.raises(ValueError, match="non-finite accuracy"):
        save("toy", Settings(out=tmp_path), outcome, 1.0)
    assert not any(tmp_path.iterdir())
