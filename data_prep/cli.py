"""`python -m data_prep generate ...` and `python -m data_prep verify ...` (also installed as
`pinet-data`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from data_prep import job
from data_prep.lock import StoreLocked
from data_prep.sources import SOURCES, get_source
from data_prep.verify import format_verification, verify
from pinet.tda import RECIPES, RELEASED_RECIPES, recipe_from_json

# 1: generate did not finish (--strict, or a chunk failed verification twice); verify found
# bad chunks. 2: bad arguments, or an --out that is refused (not a store, another job's
# store, locked by another writer).
EXIT_FAILED, EXIT_USAGE = 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m data_prep", description="Exact persistence diagrams and images."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate",
        help="compute a ground-truth store for a data source (resumable)",
        description="Compute diagrams and 50x50 PIs for every sample of a source into a Zarr "
        "store. Run the same command again after an interruption to finish the job.",
    )
    generate.add_argument("--source", required=True, choices=sorted(SOURCES))
    generate.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        help="default: signal-sublevel for signal sources, image-raster for image sources",
    )
    generate.add_argument("--out", required=True, help="path of the Zarr store to create/resume")
    generate.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a source option, e.g. sensor=gyro or path=DIR (repeatable)",
    )
    generate.add_argument(
        "--recipe-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a recipe parameter, its value read as JSON, e.g. stride=1 or spread=0.2 "
        "(repeatable; the others keep their defaults, listed by GET /v1/recipes)",
    )
    generate.add_argument(
        "--limit", type=_positive_int, help="use N samples spread evenly through the source"
    )
    generate.add_argument(
        "--workers", type=_positive_int, help="local processes (default: all cores)"
    )
    generate.add_argument("--dask", metavar="ADDRESS", help="run on a Dask scheduler instead")
    generate.add_argument("--strict", action="store_true", help="stop at the first failing sample")
    generate.add_argument(
        "--chunk-size", type=_positive_int, default=job.DEFAULT_CHUNK_SIZE, help=argparse.SUPPRESS
    )
    generate.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    check = commands.add_parser(
        "verify",
        help="check a store and requeue its bad chunks",
        description="Check every computed chunk of a store as the job does before marking it "
        "complete. Bad chunks become pending again and the store incomplete: rerun the "
        "generate command that made it to recompute exactly those chunks. Exit codes: 0 "
        "nothing wrong, 1 bad chunks found, 2 not a store or locked by another writer.",
    )
    check.add_argument("--out", required=True, help="path of the Zarr store to check")
    check.add_argument("--dry-run", action="store_true", help="only report; change nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = _verify if args.command == "verify" else _generate
    try:
        return command(args)
    except job.JobFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, OSError, StoreLocked) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _generate(args: argparse.Namespace) -> int:
    source = get_source(args.source, _parse_options(args.option, "--option"))
    recipe_params = _parse_options(args.recipe_option, "--recipe-option")
    recipe = recipe_from_json(
        args.recipe or RELEASED_RECIPES[source.modality],
        {key: _json_or_text(value) for key, value in recipe_params.items()},
    )
    summary = job.run(
        source,
        recipe,
        args.out,
        limit=args.limit,
        workers=args.workers,
        dask_address=args.dask,
        strict=args.strict,
        chunk_size=args.chunk_size,
        progress=not args.no_progress,
    )
    print(job.format_summary(summary))
    return 0


def _verify(args: argparse.Namespace) -> int:
    verification = verify(args.out, dry_run=args.dry_run)
    print(format_verification(verification))
    return EXIT_FAILED if verification.bad else 0


def _parse_options(pairs: list[str], flag: str) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


def _json_or_text(value: str) -> object:
    """A recipe parameter's value: JSON where it parses (1 -> int, 0.2 -> float, [0, 1] ->
    list), else the text itself; the recipe then refuses a wrong type by the parameter's
    name."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value
