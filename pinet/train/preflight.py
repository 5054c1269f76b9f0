"""The checks a training run passes before it builds its network: options
that contradict each other or the processes, and options that assume what the stores'
recipe does not give. Each failure is a ValueError that names the option."""

from __future__ import annotations

from pinet.tda import Recipe
from pinet.train.config import TrainConfig
from pinet.train.distributed import Cluster
from pinet.train.losses import Objective

# A config can only show a strength other than the default; the command line refuses any
# given strength without stretches (`pinet.train.options.training_config`).
STRENGTH_WITHOUT_STRETCHES = (
    "--stretch-strength sets how far --stretch-tails stretches: pass --stretch-tails P"
)


def refuse_inconsistent_options(config: TrainConfig, cluster: Cluster) -> None:
    """ValueError naming the options that contradict each other or the processes."""
    if config.batch_size < cluster.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} is the global batch, shared by "
            f"{cluster.world_size} processes: give at least one sample to each"
        )
    if config.bn_samples < 0:
        raise ValueError(f"--bn-samples must be 0 or more, not {config.bn_samples}")
    if config.epoch_samples < 0:
        raise ValueError(f"--epoch-samples must be 0 or more, not {config.epoch_samples}")
    if config.frozen_batch_norm and not config.bn_samples:
        raise ValueError("--frozen-batch-norm needs statistics to freeze: --bn-samples above 0")
    if config.freeze_once and not config.frozen_batch_norm:
        raise ValueError(
            "--freeze-once keeps the statistics --frozen-batch-norm freezes: pass both"
        )
    if not 0 <= config.weight_average < 1:
        raise ValueError(
            f"--weight-average is a decay per step in [0, 1), not {config.weight_average}"
        )
    if config.weight_average and config.frozen_batch_norm:
        raise ValueError(
            "--weight-average averages BatchNorm statistics with the weights; "
            "--frozen-batch-norm trains on recomputed ones: use one of them"
        )
    if config.stretch_strength != TrainConfig.stretch_strength and not config.stretch_tails:
        raise ValueError(STRENGTH_WITHOUT_STRETCHES)
    if config.frozen_batch_norm and config.norm != "batch":
        raise ValueError(
            f"--frozen-batch-norm freezes BatchNorm statistics; a --norm {config.norm} "
            "network has none"
        )


def refuse_what_the_recipe_breaks(
    recipe: Recipe, config: TrainConfig, objective: Objective
) -> None:
    """ValueError where training would assume a symmetry or an encoding that the stores'
    recipe does not have."""
    if recipe.spatial_symmetries == "none" and objective.reverses_inputs:
        raise ValueError(
            f"{recipe.name}'s PIs change when an input is reversed, and this "
            "objective (self-distillation) trains on reversed inputs as if they did not"
        )
    if config.turning_points and not recipe.turning_points_only:
        raise ValueError(
            f"{recipe.name}'s diagrams depend on more than a signal's turning points: "
            "train its networks without --turning-points"
        )
