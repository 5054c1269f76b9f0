"""`python -m data_prep generate ...` (also installed as `pinet-data`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from data_prep import job
from data_prep.sources import SOURCES, get_source
from pinet.tda import RECIPES, get_recipe

DEFAULT_RECIPE = {"signal": "signal-sublevel", "image": "image-raster"}
EXIT_JOB_FAILED, EXIT_USAGE = 1, 2


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        source = get_source(args.source, _parse_options(args.option))
        recipe = get_recipe(args.recipe or DEFAULT_RECIPE[source.modality])
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
    except job.JobFailed as error:
        print(f"error: {error} (--strict; committed work kept, rerun to resume)", file=sys.stderr)
        return EXIT_JOB_FAILED
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(job.format_summary(summary))
    return 0


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value
