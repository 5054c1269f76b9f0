"""What determines a training run, recorded in every checkpoint card it writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pinet.nets import DEFAULT_FAMILY, TRUNK_WIDTHS, HeadActivation, Widths

Optimiser = Literal["released", "adam"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (recorded in the model card).

    `optimiser='released'` is the authors' Adam (beta1 0.99, eps 0.1) with the learning
    rate staged 1 : 1/10 : 1/100 over 30% / 30% / 40% of the epochs (their 300 / 300 / 400).
    The default is plain Adam with a cosine schedule instead: on the same budget it trains
    where the released one barely moves (HAPT, 9-10 epochs: train MSE 0.0237 released
    against 0.0017 Adam; eps 0.1 shrinks every step of a loss this small), see docs.
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    optimiser: Optimiser = "adam"
    seed: int = 0
    val_fraction: float = 0.15
    head: HeadActivation = "relu"
    widths: Widths = TRUNK_WIDTHS
    # Start from this checkpoint's weights (a folder or a bundled model's name), whose
    # architecture the options above must repeat: fine-tuning, e.g. on other data.
    init: str | None = None
    # The network family (`pinet.nets.FAMILIES`) and, for "lowrank" and "raster", its head's rank.
    family: str = DEFAULT_FAMILY
    rank: int | None = None
    # The trunk's options beyond the release (`pinet.nets.layers.PINetTrunk`): Gaussian
    # bins of each input value before the first block, every block's average pooled, and
    # the blocks' normalisation.
    value_bins: int = 0
    # Where the bins' centres are spread (low, high); None: the modality's inputs' range
    # (`pinet.nets.base.VALUE_RANGES`).
    value_range: tuple[float, float] | None = None
    multiscale_pool: bool = False
    # Beside each pooled block's average, its maximum over positions.
    pooled_maxima: bool = False
    # Each channel handed to the trunk as its delay embedding's (dimension, delay)
    # coordinates (`pinet.nets.encodings.DelayEncoding`); None: its samples, as released.
    delay_embedding: tuple[int, int] | None = None
    # With it, each point's density of neighbours at these radii, among every
    # `recurrence_stride`-th point, those at least `recurrence_gap` samples away in time
    # (`pinet.nets.encodings.RecurrenceDensity`).
    recurrence_radii: tuple[float, ...] = ()
    recurrence_stride: int = 1
    recurrence_gap: int = 0
    # Each channel handed to the trunk as its turning points, one per sample
    # (`pinet.nets.encodings.TurningPoints`): recipes whose diagrams depend on nothing else.
    turning_points: bool = False
    # Beside each value, the running minima and maxima from either end of its channel
    # (`pinet.nets.encodings.RunningExtremes`).
    running_extremes: bool = False
    # How each block normalises (`pinet.nets.layers.Normalisation`): "batch" as released,
    # "group" by each sample's own statistics.
    norm: str = "batch"
    device: str = "auto"
    name: str = "pinet"
    # Train on a random exact symmetry of each sample (`exact_symmetries`): more data for free.
    augment: bool = False
    # One network for one channel, applied to each channel (see `build_network`).
    per_channel: bool = False
    # Decode the samples once into memory, on the GPU when training on one (`ResidentSamples`),
    # instead of streaming store chunks: same batches, same results, no loader in the way.
    preload: bool = False
    # Training samples over which BatchNorm's running statistics are recomputed before each
    # validation (`pinet.train.batch_norm`; once only with `freeze_once`); 0 keeps the
    # running averages of training.
    bn_samples: int = 4096
    # Train with every BatchNorm normalising by its running statistics (those `bn_samples`
    # recomputes, also before the first epoch) instead of each batch's own. A mixture's
    # batches each hold one store, so batch statistics teach the weights a per-source
    # normalisation that evaluation, with statistics averaged over the mixture, never gives.
    frozen_batch_norm: bool = False
    # With `frozen_batch_norm`: compute the statistics once, before the first epoch, and keep
    # them through every epoch, validation and export, instead of recomputing them after each
    # epoch. The weights fit the statistics they train under; recomputed ones change the
    # function an epoch fitted (a warm image student's first epoch on a mixture: 0.094 of a
    # constant's error on the photos under its statistics, 0.456 under recomputed ones).
    freeze_once: bool = False
    # Validate and save (best/, what is exported) an exponential moving average of the
    # weights, updated after every step with this decay (`torch.optim.swa_utils`), instead
    # of the weights the optimiser steps; 0: off.
    weight_average: float = 0.0
    # A share `crop_share` of the batches cropped to random sizes from `crop_min_size` up,
    # labelled by the recipe (`pinet.train.crops.RandomCrops`); 0: no crops.
    crop_min_size: int = 0
    crop_share: float = 0.5
    # The share of training samples whose channels are rolled circularly to start at their
    # minimum, labelled by the recipe (`pinet.train.rolls.MinimumRolls`); 0: none.
    roll_to_minimum: float = 0.0
    # The share of training samples whose channels' tails are stretched by a monotone map,
    # labelled by the recipe (`pinet.train.tails.TailStretches`); 0: none.
    stretch_tails: float = 0.0
    # The largest strength of those stretches (`pinet.train.tails`). Measured on 3,000 HAPT
    # windows (stride 25): stretched with strengths up to 0.5, 53% of their channel windows
    # reach |z| 4 after z-scoring and 19% reach 6 (before: 16% and 2%; Daphnet's: 48% and 15%).
    stretch_strength: float = 0.5
    # Samples drawn per epoch (`MixtureBatchSampler`); 0: as many as the training stores hold
    # together. Fixing it keeps the budget (and the learning-rate schedule) of a mixture
    # when a store is added to it.
    epoch_samples: int = 0


# Fields that change how a run executes but not what it computes: a resumed run may differ.
EXECUTION_ONLY = ("device", "preload")
