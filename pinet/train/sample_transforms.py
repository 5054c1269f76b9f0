"""Transforms of a drawn share of a batch's samples, each sample relabelled by the exact
recipe: the common part of `--roll-to-minimum` (`pinet.train.rolls`) and `--stretch-tails`
(`pinet.train.tails`).

A subclass names its option and what it does to a sample (for messages) and builds, from the
same generator, the function that transforms the drawn samples; the base reads the option,
draws which samples, relabels them and leaves the rest as they were, so every such
transform draws alike on a resumed run and on every process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

import torch

from pinet.modality import Modality
from pinet.tda import Recipe
from pinet.train.crops import labelled_by_recipe
from pinet.train.losses import Objective

SampleFunction = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SampleTransform(ABC):
    """Each training sample, with probability `share`, transformed by `sample_function`."""

    share: float
    # The command-line option that asks for the transform, and what the transform does to a
    # signal and to a sample, as refusals say: "--stretch-tails", "stretches", "stretched".
    option: ClassVar[str]
    does: ClassVar[str]
    done: ClassVar[str]

    @classmethod
    def for_run(cls, share: float, modality: Modality, **settings: float) -> Self | None:
        """The run's transform of a `share` of its samples (its option's value), with the
        subclass's other `settings`, for signals only: None without a share."""
        if not share:
            return None
        if modality != "signal":
            raise ValueError(
                f"{cls.option} {cls.does} signals, and these stores hold {modality} inputs"
            )
        return cls(share, **settings)

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(
                f"the share of {self.done} samples must be in (0, 1], not {self.share}"
            )

    def apply(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        recipe: Recipe,
        generator: torch.Generator,
        objective: Objective,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch `(N, C, *S)` of network inputs with its targets, the drawn samples
        transformed and given the targets `objective` makes of the PIs `recipe` gives them
        (`labelled_by_recipe`), the rest as they were. Every draw comes from `generator`
        (on the CPU)."""
        chosen = torch.rand(len(inputs), generator=generator) < self.share
        function = self.sample_function((int(chosen.sum()), *inputs.shape[1:]), generator)
        if not chosen.any():
            return inputs, targets
        chosen = chosen.to(inputs.device)
        changed, labels = labelled_by_recipe(function(inputs[chosen]), recipe, objective, targets)
        inputs, targets = inputs.clone(), targets.clone()
        inputs[chosen], targets[chosen] = changed.to(inputs), labels
        return inputs, targets

    @abstractmethod
    def sample_function(self, shape: tuple[int, ...], generator: torch.Generator) -> SampleFunction:
        """What transforms the drawn samples, of `shape` `(n, C, *S)`, drawing what it needs
        from `generator` now (so that the draws do not depend on n being 0)."""
