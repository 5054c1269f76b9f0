"""The command-line options of a training run, shared by `pinet train` and `pinet distill`,
and what they build: the run's `TrainConfig` and the `Objective` it minimises."""

from __future__ import annotations

import argparse
from dataclasses import fields

from pinet.inference import load_model
from pinet.nets import FAMILIES, Widths
from pinet.nets.base import VALUE_RANGES
from pinet.nets.layers import NORMALISATIONS
from pinet.train.config import TrainConfig
from pinet.train.distill import Distillation
from pinet.train.distributed import local_device
from pinet.train.feature_transfer import AttentionTransfer
from pinet.train.losses import LONG_BAR_ROWS, MeanSquaredError, Objective
from pinet.train.mixture import Component, Labels
from pinet.train.mixup import PartialMixup
from pinet.train.preflight import STRENGTH_WITHOUT_STRETCHES
from pinet.train.quantization_aware import QuantizationAware
from pinet.train.relabelling_options import add_relabelling_arguments
from pinet.train.self_distill import SelfDistillation


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
        "a head predicting each PI as a few outer products (cheap on a CPU); raster, images "
        "read as their row-major path by a 1-D trunk, with the lowrank head",
    )
    parser.add_argument("--rank", type=int, help="terms of a lowrank or raster head (default: 4)")
    parser.add_argument(
        "--delay-embedding",
        type=parse_delay_embedding,
        metavar="DIMENSION,DELAY",
        help="signals: give the trunk each channel's delay-embedding coordinates, x[t], "
        "x[t + DELAY], ..., DIMENSION of them, instead of its samples (signal-takens' cloud: "
        "3,8 at its defaults); default: the samples, as released",
    )
    parser.add_argument(
        "--recurrence-radii",
        type=parse_radii,
        default=(),
        metavar="R1,R2,...",
        help="with --delay-embedding: beside each point's coordinates, the density of the "
        "cloud's points within each radius (default: none)",
    )
    parser.add_argument(
        "--recurrence-stride",
        type=int,
        default=defaults.recurrence_stride,
        metavar="S",
        help="count the --recurrence-radii densities among every S-th point only: 1/S of "
        "their cost (default 1: all points)",
    )
    parser.add_argument(
        "--recurrence-gap",
        type=int,
        default=defaults.recurrence_gap,
        metavar="G",
        help="count the --recurrence-radii densities among the points at least G samples "
        "away in time only: 1 leaves out each point itself, more its own strand (default 0: "
        "every point)",
    )
    parser.add_argument(
        "--turning-points",
        action="store_true",
        help="hand the trunk each channel's turning points (local minima and maxima, with "
        "the ends), one per sample, instead of its samples: all a path's sublevel diagram "
        "depends on (signal-sublevel, signal-sublevel-tpkd and image-raster only; measured "
        "worse than the samples; not in the release)",
    )
    parser.add_argument(
        "--running-extremes",
        action="store_true",
        help="hand the trunk, beside each channel's values, its running minima and maxima "
        "from the start and from the end: whether a bar's barriers lie on either side "
        "(signals and image-raster networks; not in the release)",
    )
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
        "--value-range",
        type=parse_value_range,
        default=defaults.value_range,
        metavar="LOW,HIGH",
        help="spread the --value-bins over LOW..HIGH instead (e.g. -8,8: signals' heavy "
        "tails; write --value-range=-8,8, a leading minus being read as an option otherwise)",
    )
    parser.add_argument(
        "--multiscale-pool",
        action="store_true",
        help="the trunk's features are every block's global average, concatenated, not the "
        "last block's alone (not in the release)",
    )
    parser.add_argument(
        "--pooled-maxima",
        action="store_true",
        help="beside each pooled block's global average, its global maximum over positions: "
        "what one sample's feature (a window's deepest drop) is, undiluted by the window's "
        "length (not in the release)",
    )
    parser.add_argument(
        "--norm",
        choices=NORMALISATIONS,
        default=defaults.norm,
        help="how each conv block normalises: batch (BatchNorm, the release; default) or group "
        "(GroupNorm of each sample's own statistics: no statistics to match between training "
        "and use, but a float layer between int8 convolutions)",
    )
    parser.add_argument(
        "--init",
        metavar="CHECKPOINT",
        help="start from this checkpoint's weights (folder or bundled name) to fine-tune it; "
        "repeat its --family, --widths, --head, --rank, --turning-points, --running-extremes, "
        "--recurrence-radii, --recurrence-stride, --recurrence-gap, --value-bins, "
        "--value-range, --multiscale-pool, --pooled-maxima, --norm and --per-channel (or add "
        "--pooled-maxima: their head columns start at zero); the card records its checkpoint "
        "id (init_checkpoint_id), which still names those weights after a bundled name has "
        "come to mean others",
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
        "--freeze-once",
        action="store_true",
        help="with --frozen-batch-norm: compute the statistics once, before the first epoch, "
        "and keep them for every epoch, validation and export, instead of recomputing them "
        "after each epoch (which changes the function the epoch fitted)",
    )
    parser.add_argument(
        "--weight-average",
        type=float,
        default=defaults.weight_average,
        metavar="DECAY",
        help="validate and save an exponential moving average of the weights, updated after "
        "every step with this decay (e.g. 0.999: about the last thousand steps), instead of "
        "the weights themselves (default 0: off)",
    )
    add_relabelling_arguments(parser)
    parser.add_argument(
        "--epoch-samples",
        type=int,
        default=defaults.epoch_samples,
        metavar="N",
        help="samples drawn per epoch (default 0: as many as the training stores hold "
        "together); fix it to keep a mixture's budget and learning-rate schedule when a "
        "store is added",
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
        "--long-bar-weight",
        type=float,
        default=1.0,
        metavar="W",
        help=f"pinet train: weight W each channel PI whose peak lies in its top {LONG_BAR_ROWS} "
        "rows (its brightest bar one of the longest), rare in training and common in some "
        "real series (default 1: the plain MSE)",
    )
    parser.add_argument(
        "--quantization-aware",
        action="store_true",
        help="train through int8 rounding of weights and activations (fake quantization), "
        "for an int8 export; fine-tune a trained network with --init for a few epochs",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads of this run, torch's and the recipes' (default: torch's, "
        "OMP_NUM_THREADS when set, else one per core); "
        "runs sharing a machine should together use at most its cores",
    )
    parser.add_argument("--no-progress", action="store_true")


def training_config(args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` of parsed training options (each field from its option; a
    `--stretch-strength` not given takes the default). ValueError for a strength given
    without `--stretch-tails`, the default's value included."""
    names = {field.name for field in fields(TrainConfig)}
    options = {key: value for key, value in vars(args).items() if key in names}
    if options["stretch_strength"] is None:
        del options["stretch_strength"]
    elif not options["stretch_tails"]:
        raise ValueError(STRENGTH_WITHOUT_STRETCHES)
    return TrainConfig(**options)


def training_objective(args: argparse.Namespace, config: TrainConfig) -> Objective:
    """What `pinet train` / `pinet distill` minimise, from their options: MSE, or
    distillation from the teachers (with partial mixup, attention transfer), possibly inside
    self-distillation on reversed views, all possibly through fake int8 quantization."""
    objective: Objective = MeanSquaredError(args.long_bar_weight)
    if args.command == "distill":
        if args.long_bar_weight != 1.0:
            raise ValueError(
                "--long-bar-weight weights the MSE against exact PIs (pinet train); "
                "pinet distill learns its teachers' PIs"
            )
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


def parse_component(text: str, labels: Labels = "exact") -> Component:
    """`--data STORE[:WEIGHT]`: one store of a training mixture (`labels="teachers"`:
    `pinet distill --teacher-labelled`, a store whose inputs the teachers label)."""
    try:
        return Component.parse(text, labels)
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


def parse_delay_embedding(text: str) -> tuple[int, int]:
    """`--delay-embedding DIMENSION,DELAY`: two integers, a dimension of at least 2 and a
    delay of at least 1."""
    try:
        dimension, delay = (int(part) for part in text.split(","))
    except ValueError:
        dimension, delay = 0, 0
    if dimension < 2 or delay < 1:
        raise argparse.ArgumentTypeError(
            f"expected DIMENSION,DELAY, a dimension >= 2 and a delay >= 1, like 3,8: {text}"
        )
    return dimension, delay


def parse_value_range(text: str) -> tuple[float, float]:
    """`--value-range LOW,HIGH`: two finite numbers, LOW below HIGH."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        low, high = 0.0, 0.0
    if not -float("inf") < low < high < float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected LOW,HIGH, finite with LOW < HIGH, like -8,8: {text}"
        )
    return low, high


def parse_radii(text: str) -> tuple[float, ...]:
    """`--recurrence-radii R1,R2,...`: positive distances, comma-separated."""
    try:
        radii = tuple(float(part) for part in text.split(","))
    except ValueError:
        radii = ()
    if not radii or not all(0 < radius < float("inf") for radius in radii):
        raise argparse.ArgumentTypeError(f"expected positive distances like 0.25,0.5,1: {text}")
    return radii
