"""The `pinet` command: `pinet train` fits a PI-Net to a store, `pinet distill` fits a student
to a store and its teachers, `pinet eval` measures one, `pinet export` writes one as it
ships, `pinet prune` narrows one and `pinet widen` widens one for fine-tuning."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import partial

from pinet.device import use_threads
from pinet.export import WEIGHT_FORMATS, export_onnx, export_weights
from pinet.resize import prune_checkpoint, widen_checkpoint
from pinet.resize.widening import DEFAULT_NOISE
from pinet.train import evaluate_checkpoint, train
from pinet.train.options import (
    add_training_arguments,
    parse_component,
    parse_widths,
    training_config,
    training_objective,
)

EXIT_USAGE = 2
REFERENCE_HELP = (
    "the authors' CIFAR10 samples (.npz with images and pis) that image-raster models are "
    "also scored on; default: the copy shipped with pinet"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinet", description="Train and evaluate PI-Nets.")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("train", help="train a PI-Net on a ground-truth store")
    add_training_arguments(fit)
    fit.set_defaults(teacher_labelled=[])  # only distill has teachers to label stores

    teach = commands.add_parser(
        "distill",
        help="train a student PI-Net on a store's exact PIs and its teachers' PIs",
        description="Knowledge distillation: loss = alpha MSE(student, exact) + (1 - alpha) "
        "MSE(student, teachers' mean). The student's architecture is given as for train.",
    )
    add_training_arguments(teach)
    teach.add_argument(
        "--teacher",
        action="append",
        required=True,
        help="a teacher: checkpoint folder or bundled model name (repeat for an ensemble, "
        "whose PIs are averaged)",
    )
    teach.add_argument(
        "--alpha",
        type=float,
        default=0.5,
        help="weight of the exact PIs against the teachers' (default: %(default)s)",
    )

    teach.add_argument(
        "--teacher-labelled",
        action="append",
        default=[],
        type=partial(parse_component, labels="teachers"),
        metavar="STORE[:WEIGHT]",
        help="also train on this store's inputs, labelled by the teachers alone (its own PIs, "
        "of any recipe, are not used; nor are its held-out groups): data distillation, for "
        "recipes too expensive to label many inputs exactly (repeatable; a mixture with "
        "--data)",
    )
    teach.add_argument(
        "--mixup-pairs",
        type=int,
        default=0,
        help="partial mixup: replace this many samples of each batch by mixtures of two "
        "(lambda ~ Beta(1, 1)), labelled by the teachers (default 0: no mixup)",
    )
    teach.add_argument(
        "--mixup-labels",
        choices=["teacher", "exact"],
        default="teacher",
        help="who labels the mixed samples' exact slot: the teachers, or the exact recipe "
        "run every step (fine for the cheap recipes)",
    )
    teach.add_argument(
        "--attention-transfer",
        type=float,
        metavar="WEIGHT",
        help="feature transfer: also match the teachers' attention maps after every conv "
        "block, times WEIGHT (teachers on torch, with the student's block count); the "
        "teachers then run every step",
    )

    measure = commands.add_parser("eval", help="metrics of a checkpoint on a store's split")
    measure.add_argument("--checkpoint", required=True, help="checkpoint folder")
    measure.add_argument(
        "--data",
        required=True,
        action="append",
        help="ground-truth store; repeat to score each source on its own (MSE against that "
        "source's mean training PI: 1.0 is no better than a constant)",
    )
    measure.add_argument("--split", default="test", choices=["train", "test"])
    measure.add_argument("--reference", help=REFERENCE_HELP)
    measure.add_argument("--device", default="auto")
    measure.add_argument(
        "--batch-norm-from",
        metavar="STORE",
        help="a diagnostic: score the torch weights with BatchNorm statistics recomputed over "
        "4,096 random training inputs of STORE (how much of a source's error is the "
        "normalisation a mixture's statistics give it)",
    )

    bundle = commands.add_parser(
        "export",
        help="write a checkpoint as it ships: float16 or int8 weights, or an ONNX graph for "
        "onnxruntime (float32 or int8); the test metrics of what is written in its card",
    )
    bundle.add_argument("--checkpoint", required=True, help="checkpoint folder")
    bundle.add_argument("--out", required=True, help="folder to write, e.g. models/NAME")
    bundle.add_argument(
        "--data", required=True, help="ground-truth store whose test split to measure"
    )
    bundle.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="STORE",
        help="also measure the test split of this store, recorded per source in the card "
        "and shown by GET /v1/models (repeatable)",
    )
    bundle.add_argument("--reference", help=REFERENCE_HELP)
    bundle.add_argument("--device", default="auto")
    bundle.add_argument(
        "--average-reversed",
        action="store_true",
        help="the exported model also predicts each input reversed along every axis (the "
        "same PIs under every recipe but signal-takens at a stride above 1, which refuses "
        "it) and returns the mean: lower error, twice the compute",
    )
    bundle.add_argument(
        "--average-resampled",
        action="store_true",
        help="signals: the exported model also predicts each window linearly interpolated to "
        "twice its rate (the same PIs under recipes of a path's turning points; others "
        "refuse it) and returns the mean: about three times the compute",
    )
    bundle.add_argument(
        "--format",
        choices=[*WEIGHT_FORMATS, "onnx"],
        default="float16",
        help="float16 (default): safetensors weights for torch; int8-weights: the same with "
        "each weight matrix stored as int8 and a scale per row (half the file, the same "
        "compute once loaded); onnx: a graph that the onnxruntime backend runs by default, "
        "on the CPU",
    )
    bundle.add_argument(
        "--int8",
        action="store_true",
        help="with --format onnx: int8 weights and activations, calibrated on the store's "
        "training split (post-training static quantization)",
    )
    bundle.add_argument(
        "--reduce-range",
        action="store_true",
        help="with --int8: weights within -64..64, whose sums x86 CPUs without VNNI cannot "
        "saturate; better or worse by model (docs/training.md)",
    )
    bundle.add_argument(
        "--seven-bit-graph",
        action="store_true",
        help="with --int8: 8-bit weights, and beside them a twin graph with weights within "
        "-64..64 (model-7bit.onnx), which runs in its place on x86 CPUs without VNNI",
    )
    bundle.add_argument(
        "--name",
        help="the model's name in its card (default: the checkpoint's); a model "
        "in a models directory is served under it, so bundle it in a folder of that name",
    )

    narrow = commands.add_parser(
        "prune",
        help="remove each conv block's least important filters; prints the "
        "options that fine-tune the result with train or distill (docs/training.md)",
    )
    narrow.add_argument("--checkpoint", required=True, help="checkpoint folder or bundled name")
    narrow.add_argument("--out", required=True, help="folder of the pruned checkpoint")
    share = narrow.add_mutually_exclusive_group(required=True)
    share.add_argument("--keep", type=float, help="fraction of every block's filters kept")
    share.add_argument("--widths", type=parse_widths, help="filters kept per block, e.g. 8,16")

    wider = commands.add_parser(
        "widen",
        help="add copies of each conv block's filters without changing what the network "
        "computes (Net2Net); prints the options that fine-tune the result (docs/training.md)",
    )
    wider.add_argument("--checkpoint", required=True, help="checkpoint folder or bundled name")
    wider.add_argument("--out", required=True, help="folder of the widened checkpoint")
    wider.add_argument(
        "--widths", required=True, type=parse_widths, help="filters per block, e.g. 24,48,96,192"
    )
    wider.add_argument("--seed", type=int, default=0, help="draws which filters are copied")
    wider.add_argument(
        "--noise",
        type=float,
        default=DEFAULT_NOISE,
        help="noise on the copies' weights, a fraction of each filter's deviation, so that "
        "they part in training (0: the same function exactly)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("train", "distill"):
            use_threads(args.threads)
            config = training_config(args)
            objective = training_objective(args, config)
            result = train(
                args.data + args.teacher_labelled,
                args.model,
                args.out,
                config,
                objective=objective,
                resume=args.resume,
                progress=not args.no_progress,
            )
        elif args.command == "eval":
            result = evaluate_checkpoint(
                args.checkpoint,
                args.data,
                args.split,
                args.device,
                args.reference,
                args.batch_norm_from,
            )
        elif args.command == "prune":
            result = prune_checkpoint(args.checkpoint, args.out, keep=args.keep, widths=args.widths)
        elif args.command == "widen":
            result = widen_checkpoint(
                args.checkpoint, args.out, widths=args.widths, seed=args.seed, noise=args.noise
            )
        elif args.format == "onnx":
            result = export_onnx(
                args.checkpoint,
                args.out,
                args.data,
                int8=args.int8,
                reference=args.reference,
                average_reversed=args.average_reversed,
                sources=args.source,
                name=args.name,
                average_resampled=args.average_resampled,
                reduce_range=args.reduce_range,
                seven_bit_graph=args.seven_bit_graph,
            )
        elif args.int8 or args.reduce_range or args.seven_bit_graph:
            raise ValueError(
                "--int8, --reduce-range and --seven-bit-graph are forms of --format onnx"
            )
        else:
            result = export_weights(
                args.checkpoint,
                args.out,
                args.data,
                args.reference,
                args.device,
                args.average_reversed,
                args.source,
                args.name,
                args.average_resampled,
                WEIGHT_FORMATS[args.format],
            )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result, indent=2))
    return 0
