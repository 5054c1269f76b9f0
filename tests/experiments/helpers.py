"""What the experiments' tests share: `python -m experiments` run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPOSITORY = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2)  # the default seeds of a run
RUN_TIMEOUT = 600  # seconds; a quick run takes about a minute on 2 loaded cores


def run_experiments(root: Path, *arguments: str) -> None:
    """`python -m experiments --root ROOT ARGUMENTS...` from the repository, to success."""
    finished = subprocess.run(
        [sys.executable, "-m", "experiments", "--root", str(root), *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]


def quick_report(root: Path, *experiments: ModuleType) -> str:
    """`report --quick` over `root`, checked to hold each experiment's section and every row
    with all its seeds; the report's text."""
    run_experiments(root, "report", "--quick")
    report = (root / "report-quick.md").read_text()
    for experiment in experiments:
        assert f"## {experiment.TITLE}" in report
        for row in experiment.ROWS:
            assert f"| {row} | {len(SEEDS)} |" in report
    return report
