"""`python -m experiments run NAME [--quick] [--seed N ...] [--row ROW ...]` runs one
experiment and saves its results; `python -m experiments report [--quick]` writes the
Markdown report of every saved run under `runs/experiments/`."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from experiments.report import run_folder, write_report
from experiments.results import Settings, save

# Experiment name -> module, in the report's order.
EXPERIMENTS: dict[str, str] = {
    "har": "experiments.har",
    "differentiable": "experiments.differentiable",
    "images": "experiments.images",
    "distill": "experiments.distill",
}
DEFAULT_ROOT = Path("runs/experiments")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="%(default)s")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one experiment and save its results")
    run.add_argument("name", choices=sorted(EXPERIMENTS))
    run.add_argument("--quick", action="store_true", help="tiny data and epochs (tests)")
    run.add_argument(
        "--seed",
        type=int,
        action="append",
        help="a seed to run (repeatable; default 0, 1 and 2)",
    )
    run.add_argument("--row", action="append", default=[], help="run only this row (repeatable)")
    run.add_argument(
        "--threads", type=int, default=1, help="torch and numba CPU threads (%(default)s)"
    )
    report = commands.add_parser("report", help="write ROOT/report.md from the saved results")
    report.add_argument("--quick", action="store_true", help="from the quick runs instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        print(write_report(args.root, EXPERIMENTS, args.quick))
        return 0
    module = importlib.import_module(EXPERIMENTS[args.name])
    settings = Settings(
        out=run_folder(args.root, args.name, args.quick),
        quick=args.quick,
        seeds=tuple(args.seed or (0, 1, 2)),
        rows=frozenset(args.row),
        threads=args.threads,
    )
    unknown = settings.rows - set(module.ROWS)
    if unknown:
        print(
            f"error: no row {', '.join(sorted(unknown))} in {args.name}; its rows: "
            + ", ".join(module.ROWS),
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    outcome = module.run(settings)
    path = save(args.name, settings, outcome, time.perf_counter() - started)
    for result in outcome.results:
        print(result.row, result.condition, result.seed, result.metrics)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
