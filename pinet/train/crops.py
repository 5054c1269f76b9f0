"""Random crops labelled by the exact recipe: a model that learns every length or size below
its stores' own.

A store holds inputs of one shape, and a model trained on it alone learns that shape: a
signal student trained on 250-sample windows is little better than a constant on 100-sample
series. Crops of the stored inputs are new inputs of the same source at other sizes, and
for recipes as cheap as the sublevel ones their exact PIs cost less than the training step,
so they are computed on the fly, never stored. A crop's PIs are not the stored PIs (a crop
has its own topology): labelling it is what the recipe is for. Under distillation the
teachers label the crops too, beside the recipe (`Objective.relabelled`).

Each cropped batch has one shape (one drawn size, every sample at its own random offset),
as every batch of a mixture does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pinet.inference import network_inputs
from pinet.tda import Recipe
from pinet.train.config import TrainConfig
from pinet.train.losses import Objective


@dataclass(frozen=True)
class RandomCrops:
    """A share `share` of the training batches cropped to a size drawn uniformly from
    `min_size` to the batch's largest side, each spatial axis to at most that size; batches
    no larger than `min_size` (of a smaller store of a mixture) are left as they are."""

    min_size: int
    share: float = 0.5

    def __post_init__(self) -> None:
        if self.min_size < 1:
            raise ValueError(f"the smallest crop must be at least 1 long, not {self.min_size}")
        if not 0 < self.share <= 1:
            raise ValueError(f"the share of cropped batches must be in (0, 1], not {self.share}")

    def apply(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        recipe: Recipe,
        generator: torch.Generator,
        objective: Objective,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch `(N, C, *S)` of network inputs with its targets, or, with probability
        `share`, its crops with the targets `objective` makes of the PIs `recipe` gives
        them (`Objective.relabelled`: with teachers, theirs of the crops beside). Every draw
        comes from `generator` (on the CPU), so a resumed run and every process crop alike."""
        sides = inputs.shape[2:]
        if not torch.rand(1, generator=generator) < self.share or max(sides) <= self.min_size:
            return inputs, targets
        size = int(torch.randint(self.min_size, max(sides), (1,), generator=generator))
        shape = [min(size, side) for side in sides]
        starts = [
            torch.randint(side - length + 1, (len(inputs),), generator=generator).tolist()
            for side, length in zip(sides, shape, strict=True)
        ]
        crops = torch.stack(
            [
                sample[(..., *(slice(s, s + n) for s, n in zip(at, shape, strict=True)))]
                for sample, *at in zip(inputs.cpu(), *starts, strict=True)
            ]
        )
        return labelled_by_recipe(crops, recipe, objective, like=targets)


def labelled_by_recipe(
    transformed: torch.Tensor, recipe: Recipe, objective: Objective, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transformed network inputs `(N, C, *S)`, made network inputs again on `like`'s
    device, with the targets `objective` makes of the PIs `recipe` gives them
    (`Objective.relabelled`), of `like`'s dtype: a transform that changes an input's
    topology must change its label with it."""
    values = transformed.cpu().numpy().astype(np.float64)
    inputs = network_inputs(values, recipe.modality).to(like.device)
    pis = torch.from_numpy(recipe.images_batch(values)).to(inputs)
    return inputs, objective.relabelled(inputs, pis).to(like)


def run_crops(config: TrainConfig, min_input_size: int, largest_side: int) -> RandomCrops | None:
    """The run's `--crop-min-size` crops, checked to be large enough for the network
    (`min_input_size`) and smaller than some store's inputs (`largest_side`): None without
    crops. (Every recipe a store holds labels the network inputs: a z-score or a scaling to
    [0, 1] leaves its PIs as they are.)"""
    if not config.crop_min_size:
        return None
    if not min_input_size <= config.crop_min_size < largest_side:
        raise ValueError(
            f"--crop-min-size {config.crop_min_size} must be at least the {min_input_size} "
            f"samples or pixels this network's blocks need and below the stores' largest "
            f"length or side, {largest_side}"
        )
    return RandomCrops(config.crop_min_size, config.crop_share)
