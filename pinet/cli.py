"""The `pinet` command: `pinet train` fits a PI-Net to a store, `pinet distill` fits a student
to a store and its teachers, `pinet eval` measures one, `pinet export` writes one as it
ships, `pinet prune` narrows one for fine-tuning."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import fields

from pinet.compress import prune_checkpoint
from pinet.export import export_float16, export_onnx
from pinet.inference import load_model
from pinet.nets import FAMILIES, Widths
from pinet.nets.base import VALUE_RANGES
from pinet.train import TrainConfig, evaluate_checkpoint, train
from pinet.train.distill import Distillation
from pinet.train.distributed import local_device
from pinet.train.feature_transfer import AttentionTransfer
from pinet.train.losses import MeanSquaredError, Objective
from pinet.train.mixture import Component
from pinet.train.mixup import PartialMixup
from pinet.train.quantization_aware import QuantizationAware
from pinet.train.self_distill import SelfDistillation

EXIT_USAGE = 2
REFERENCE_HELP = (
    "the authors' CIFAR10 samples (.npz with images and pis) that image-raster models are "
    "also scored on; default: the copy shipped with pinet"
)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """What `pinet train` and `pinet distill` both take: the store, the run folder and the
    training configuration."""
    defaults = TrainConfig()
    parser.add_argument(
        "--data",
        required=True,
        action="append",
        type=parse_component,
        metavar="STORE[:WEIGHT]",
        help="ground-truth store (python -m data_prep); repeat to train on a mixture, each "
        "batch from one store, a share WEIGHT of them (default: in proportion to size)",
    )
    parser.add_argument("--model", required=True, choices=["signal", "image"])
    parser.add_argument("--out", required=True, help="run folder: checkpoints, metrics, plots")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument(
        "--optimiser",
        choices=["released", "adam"],
        default=defaults.optimiser,
        help="adam (default): Adam, cosine lr; released: Adam(0.99, eps 0.1), staged lr",
    )
    parser.add_argument("--head", choices=["relu", "sigmoid"], default=defaults.head)
    parser.add_argument(
        "--widths",
        type=parse_widths,
        default=defaults.widths,
        help="filters of each conv block, e.g. 16,32,64,128 (default: the released 4); "
        "each block more halves the signal once more and doubles what the last one sees",
    )
    parser.add_argument(
        "--family",
        choices=sorted(FAMILIES),
        default=defaults.family,
        help="network family (pinet/nets/): pinet, the release's heads (default); lowrank, "
        "a head predicting each PI as a few outer products (cheap on a CPU)",
    )
    parser.add_argument("--rank", type=int, help="terms of a lowrank head (default: 4)")
    parser.add_argument(
        "--value-bins",
        type=int,
        default=defaults.value_bins,
        metavar="K",
        help="give the trunk each input value beside K Gaussian bins of it, spread over "
        + ", ".join(f"{low:g}..{high:g} for {kind}s" for kind, (low, high) in VALUE_RANGES.items())
        + "; default 0: the raw values alone, as released",
    )
    parser.add_argument(
        "--multiscale-pool",
        action="store_true",
        help="the trunk's features are every block's global average, concatenated, not the "
        "last block's alone (not in the release)",
    )
    parser.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="start from this checkpoint's weights (folder or bundled name) to fine-tune it; "
        "repeat its --family, --widths, --head, --rank, --value-bins, --multiscale-pool "
        "and --per-channel",
    )
    parser.add_argument("--device", default=defaults.device, help="auto, cpu or cuda")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--name", default=defaults.name, help="model name written in its card")
    parser.add_argument(
        "--augment",
        action="store_true",
        help="train on random exact symmetries of the samples, those the recipe gives the same "
        "PIs for (permuted alike): channels permuted; spatial axes reversed (all but "
        "signal-takens); image-cubical and image-rips: any flip or transpose of the grid; "
        "image-rips and signal-takens: values reflected",
    )
    parser.add_argument(
        "--per-channel",
        action="store_true",
        help="one network for one channel, applied to each channel: every recipe makes "
        "channel c's PI from channel c alone (not in the release)",
    )
    parser.add_argument(
        "--preload",
        action="store_true",
        help="decode the store's samples once into memory (GPU memory on CUDA) instead of "
        "streaming chunks; same results, faster steps",
    )
    parser.add_argument(
        "--bn-samples",
        type=int,
        default=defaults.bn_samples,
        metavar="N",
        help="recompute BatchNorm's running statistics over N random training samples "
        f"before each validation, held in memory meanwhile (default {defaults.bn_samples}); "
        "0 keeps the running averages of training, which follow the last batches",
    )
    parser.add_argument(
        "--frozen-batch-norm",
        action="store_true",
        help="train with BatchNorm normalising by the statistics --bn-samples recomputes "
        "(before the first epoch too) rather than each batch's: for mixtures, whose batches "
        "each hold one store, so that training normalises as evaluation does",
    )
    parser.add_argument(
        "--crop-min-size",
        type=int,
        default=defaults.crop_min_size,
        metavar="N",
        help="crop a share of the batches (--crop-share) to a random length or side from N "
        "to the stored one, each sample at its own offset, and label the crops with the exact "
        "recipe on the fly: the model learns shorter inputs than its stores hold (default 0: "
        "no crops; cheap for the sublevel recipes, slow for the Rips ones)",
    )
    parser.add_argument(
        "--crop-share",
        type=float,
        default=defaults.crop_share,
        metavar="P",
        help="the share of batches cropped by --crop-min-size (default %(default)s)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out (same options: the learning-rate "
        "schedule depends on --epochs)",
    )
    parser.add_argument(
        "--self-distill",
        type=float,
        metavar="WEIGHT",
        help="self-distillation on distorted views: learn from each batch and its reversed "
        "view, pull their predictions together and match their features' distributions "
        "(MMD, times WEIGHT); two forward passes per step",
    )
    parser.add_argument(
        "--quantization-aware",
        action="store_true",
        help="train through int8 rounding of weights and activations (fake quantization), "
        "for an int8 export; fine-tune a trained network with --init for a few epochs",
    )
    parser.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pinet", description="Train and evaluate PI-Nets.")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("train", help="train a PI-Net on a ground-truth store")
    add_training_arguments(fit)

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
        help="write a checkpoint as it ships: float16 weights, or an ONNX graph for "
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
        "same PIs under every recipe but signal-takens, which refuses it) and returns the "
        "mean: lower error, twice the compute",
    )
    bundle.add_argument(
        "--format",
        choices=["float16", "onnx"],
        default="float16",
        help="float16 (default): safetensors weights for torch; onnx: a graph that the "
        "onnxruntime backend runs by default, on the CPU",
    )
    bundle.add_argument(
        "--int8",
        action="store_true",
        help="with --format onnx: int8 weights and activations, calibrated on the store's "
        "training split (post-training static quantization)",
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("train", "distill"):
            names = {f.name for f in fields(TrainConfig)}
            config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
            objective = training_objective(args, config)
            result = train(
                args.data,
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
            )
        elif args.int8:
            raise ValueError("--int8 is a form of --format onnx")
        else:
            result = export_float16(
                args.checkpoint,
                args.out,
                args.data,
                args.reference,
                args.device,
                args.average_reversed,
                args.source,
                args.name,
            )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result, indent=2))
    return 0


def training_objective(args: argparse.Namespace, config: TrainConfig) -> Objective:
    """What `pinet train` / `pinet distill` minimise, from their options: MSE, or
    distillation from the teachers (with partial mixup, attention transfer), possibly inside
    self-distillation on reversed views, all possibly through fake int8 quantization."""
    objective: Objective = MeanSquaredError()
    if args.command == "distill":
        device = str(local_device(config.device))  # under torchrun: this rank's GPU
        teachers = [load_model(teacher, device) for teacher in args.teacher]
        mixup = None
        if args.mixup_pairs:
            mixup = PartialMixup(args.mixup_pairs, args.mixup_labels)
        objective = Distillation(teachers, args.alpha, mixup)
        if args.attention_transfer is not None:
            if args.self_distill is not None:
                raise ValueError(
                    "--attention-transfer and --self-distill each run their own forward "
                    "passes; give one of them"
                )
            objective = AttentionTransfer(objective, teachers, args.attention_transfer)
    if args.self_distill is not None:
        objective = SelfDistillation(objective, args.self_distill)
    if args.quantization_aware:
        objective = QuantizationAware(objective)
    return objective


def parse_component(text: str) -> Component:
    """`--data STORE[:WEIGHT]`: one store of a training mixture."""
    try:
        return Component.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_widths(text: str) -> Widths:
    """`--widths`: filters of each conv block, comma-separated (the release: 4 blocks)."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive integers, one per conv block, like 16,32,64,128: {text}"
        )
    return widths
