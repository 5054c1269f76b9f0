"""What an experiment run produces and how it is kept: one row per (model, condition, seed),
saved with the command, data and library versions that made it."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pinet.atomic import write_text_atomically
from pinet.provenance import library_versions, utc_now

RESULTS_FILE = "results.json"
CLEAN = "clean"  # the condition of unperturbed test data


@dataclass(frozen=True)
class Settings:
    """How to run an experiment. `quick`: tiny data and epochs, for tests (minutes on 2
    cores); `rows`: run only these rows (all when empty); `threads`: torch's CPU threads,
    fixed so that a rerun adds floating-point sums in the same order."""

    out: Path
    quick: bool = False
    seeds: tuple[int, ...] = (0, 1, 2)
    rows: frozenset[str] = frozenset()
    threads: int = 1

    def wants(self, row: str) -> bool:
        """Whether `row` is to be run."""
        return not self.rows or row in self.rows


@dataclass(frozen=True)
class Result:
    """One model's scores on one test condition (clean, or a noise level) for one seed."""

    row: str
    seed: int
    metrics: dict[str, float]
    condition: str = CLEAN


@dataclass
class Outcome:
    """Everything one run of an experiment found, and what it was run on."""

    results: list[Result]
    data: dict[str, Any]  # the stores, splits and sizes used, and the recipes' parameters
    notes: list[str] = field(default_factory=list)  # choices a reader needs (noise scale, ...)


def row_command(experiment: str, row: str, seed: int, quick: bool) -> str:
    """The command that recomputes one row for one seed."""
    parts = ["python", "-m", "experiments", "run", experiment, "--row", row, "--seed", str(seed)]
    return shlex.join([*parts, *(["--quick"] if quick else [])])


def save(experiment: str, settings: Settings, outcome: Outcome, seconds: float) -> Path:
    """Merge `outcome` into the experiment's results file: rows and seeds run now replace
    their earlier values, every other result is kept. Returns the file."""
    path = settings.out / RESULTS_FILE
    rerun = {(r.row, r.seed) for r in outcome.results}
    kept = []
    if path.exists():
        kept = [r for r in load(path)["results"] if (r["row"], r["seed"]) not in rerun]
    for result in outcome.results:
        _check_finite(result)
    record = {
        "experiment": experiment,
        "quick": settings.quick,
        "results": kept
        + [
            {**asdict(r), "command": row_command(experiment, r.row, r.seed, settings.quick)}
            for r in outcome.results
        ],
        "data": outcome.data,
        "notes": outcome.notes,
        "last_run": {
            "command": shlex.join(["python", "-m", "experiments", *sys.argv[1:]]),
            "finished": utc_now(),
            "seconds": round(seconds, 1),
            "threads": settings.threads,
            "cpus": os.cpu_count(),
            "versions": library_versions(),
        },
    }
    settings.out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(record, indent=1))
    return path


def load(path: Path) -> dict[str, Any]:
    """A results file as saved."""
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Summary:
    """Mean and standard deviation over seeds of every (row, condition, metric)."""

    mean: dict[tuple[str, str, str], float]
    std: dict[tuple[str, str, str], float]
    seeds: dict[tuple[str, str], list[int]]

    def rows(self) -> list[str]:
        """The rows in the order they were first recorded."""
        return list(dict.fromkeys(row for row, _ in self.seeds))

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(condition for _, condition in self.seeds))

    def metrics(self) -> list[str]:
        return list(dict.fromkeys(metric for *_, metric in self.mean))

    def get(self, row: str, metric: str, condition: str = CLEAN) -> float:
        """The mean of `metric` for `row` on `condition` (NaN when not run)."""
        return self.mean.get((row, condition, metric), float("nan"))


def summarise(results: Iterable[dict[str, Any]]) -> Summary:
    """Mean ± std (population std over seeds) of each (row, condition, metric)."""
    values: dict[tuple[str, str, str], list[float]] = {}
    seeds: dict[tuple[str, str], list[int]] = {}
    for result in results:
        key = (result["row"], result["condition"])
        seeds.setdefault(key, []).append(result["seed"])
        for metric, value in result["metrics"].items():
            values.setdefault((*key, metric), []).append(value)
    return Summary(
        mean={k: float(np.mean(v)) for k, v in values.items()},
        std={k: float(np.std(v)) for k, v in values.items()},
        seeds={k: sorted(v) for k, v in seeds.items()},
    )


@dataclass(frozen=True)
class Verdict:
    """A claim of the paper or its authors' group, and whether our numbers support it."""

    claim: str
    held: bool | None  # None: the rows it needs were not run
    evidence: str


def _check_finite(result: Result) -> None:
    bad = [name for name, value in result.metrics.items() if not np.isfinite(value)]
    if bad:
        raise ValueError(f"row {result.row!r} seed {result.seed}: non-finite {', '.join(bad)}")
