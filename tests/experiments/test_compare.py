"""The comparisons verdicts rest on: gaps against the seeds' spread, noise drops."""

from __future__ import annotations

import math

import pytest

from experiments.compare import gap, noise_drop, robustness_gap, verdict_on_all
from experiments.results import Summary, summarise


def summary_of(accuracies: dict[tuple[str, str], list[float]]) -> Summary:
    return summarise(
        {"row": row, "condition": condition, "seed": seed, "metrics": {"accuracy": value}}
        for (row, condition), values in accuracies.items()
        for seed, value in enumerate(values)
    )


SUMMARY = summary_of(
    {
        ("base", "clean"): [0.80, 0.82, 0.84],
        ("fused", "clean"): [0.90, 0.90, 0.90],
        ("base", "noise 1"): [0.50, 0.50, 0.50],
        ("fused", "noise 1"): [0.70, 0.70, 0.70],
    }
)


def test_a_gap_is_the_difference_of_means_with_the_pooled_std() -> None:
    found = gap(SUMMARY, "fused", "base")
    assert found.difference == pytest.approx(0.08)
    assert found.spread == pytest.approx(math.sqrt((0.0163299**2 + 0) / 2), rel=1e-4)
    assert found.describe() == "fused − base: +8.0 points (pooled std 1.2)"


def test_noise_drops_and_robustness() -> None:
    assert noise_drop(SUMMARY, "base") == pytest.approx(0.32)
    assert noise_drop(SUMMARY, "fused") == pytest.approx(0.20)
    assert robustness_gap(SUMMARY, "fused", "base").difference == pytest.approx(0.12)
    clean_only = summary_of({("base", "clean"): [0.8], ("fused", "clean"): [0.9]})
    assert not robustness_gap(clean_only, "fused", "base").known


def test_a_verdict_holds_only_when_every_gap_does_and_is_open_when_a_row_is_missing() -> None:
    def beats_spread(g):
        return g.difference > g.spread

    assert verdict_on_all("c", [gap(SUMMARY, "fused", "base")], beats_spread).held is True
    both = [gap(SUMMARY, "fused", "base"), gap(SUMMARY, "base", "fused")]
    assert verdict_on_all("c", both, beats_spread).held is False
    missing = verdict_on_all("c", [gap(SUMMARY, "fused", "absent")], beats_spread)
    assert missing.held is None
    assert "absent: not run" in missing.evidence
