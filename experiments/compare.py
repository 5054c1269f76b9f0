"""Comparisons of two rows that verdicts rest on: a difference of means over seeds, set
against the seeds' spread, so that a verdict never calls seed noise an effect."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from experiments.results import CLEAN, Summary, Verdict

POINT = 0.01  # one percentage point of accuracy or macro-F1


@dataclass(frozen=True)
class Gap:
    """`row` minus `baseline`: the difference of their means over seeds, and the pooled
    standard deviation sqrt((s_row^2 + s_baseline^2) / 2). NaN where a row was not run."""

    row: str
    baseline: str
    difference: float
    spread: float

    @property
    def known(self) -> bool:
        return math.isfinite(self.difference)

    def describe(self) -> str:
        if not self.known:
            return f"{self.row} vs {self.baseline}: not run"
        text = f"{self.row} − {self.baseline}: {100 * self.difference:+.1f} points"
        return text + (
            f" (pooled std {100 * self.spread:.1f})" if math.isfinite(self.spread) else ""
        )


def gap(
    summary: Summary, row: str, baseline: str, metric: str = "accuracy", condition: str = CLEAN
) -> Gap:
    """How much `row` beats `baseline` in `metric` on `condition`."""
    spreads = [summary.std.get((r, condition, metric), math.nan) for r in (row, baseline)]
    return Gap(
        row,
        baseline,
        summary.get(row, metric, condition) - summary.get(baseline, metric, condition),
        math.sqrt((spreads[0] ** 2 + spreads[1] ** 2) / 2),
    )


def noise_drop(summary: Summary, row: str, metric: str = "accuracy") -> float:
    """`row`'s loss in `metric` from clean test data to the noisiest condition run (NaN
    when no noise was run)."""
    noisiest = summary.conditions()[-1]
    if noisiest == CLEAN:
        return math.nan
    return summary.get(row, metric) - summary.get(row, metric, noisiest)


def robustness_gap(summary: Summary, row: str, baseline: str) -> Gap:
    """How much less accuracy `row` loses to the noisiest condition than `baseline` does
    (positive: `row` is more robust). The seeds' spread of a drop is not kept: NaN."""
    advantage = noise_drop(summary, baseline) - noise_drop(summary, row)
    return Gap(f"drop of {baseline}", f"drop of {row}", advantage, math.nan)


def verdict_on_all(claim: str, gaps: Sequence[Gap], holds: Callable[[Gap], bool]) -> Verdict:
    """Held when `holds` is true of every gap; None (not run) when a row is missing."""
    known = all(g.known for g in gaps)
    held = all(holds(g) for g in gaps) if known else None
    return Verdict(claim, held, "; ".join(g.describe() for g in gaps))
