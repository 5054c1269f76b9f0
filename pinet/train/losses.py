"""What training minimises. An objective sees the model, a batch of network inputs and
their exact PIs, and returns the loss; the loop knows nothing else about it, so a new
objective (distillation from a teacher, a feature-transfer term) is a new class here, not a
branch in the loop. Its `describe()` is recorded in the cards of the run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pinet.train.data import Samples


class Objective(ABC):
    """A training loss: (model, inputs `(N, C, *S)`, exact PIs `(N, C, 50, 50)`) -> scalar.

    Most objectives only compare one forward pass's predictions with the batch's targets
    (`loss`); one that needs more forward passes (two views, features) overrides `__call__`.
    """

    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """The loss of `model` on one batch, differentiable with respect to its weights; the
        predictions are compared in float32 whatever the autocast precision of the forward."""
        return self.loss(model(inputs).float(), targets)

    @abstractmethod
    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of predicted PIs `(N, C, 50, 50)` against this objective's targets."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The objective's name and parameters, as JSON values."""

    def labelled(self, samples: Samples, *, exact: bool = True, progress: bool = False) -> Samples:
        """The training samples with the targets this objective needs (default: the exact
        PIs as they are); called once per run, before the first epoch. `exact=False`: the
        samples' own PIs are not to be learned (a teacher-labelled store's). `progress`: show
        a bar where labelling takes time (teachers')."""
        if not exact:
            raise ValueError(
                "a store without exact PIs to learn needs teachers to label it: pinet distill"
            )
        return samples

    def prepare(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch as this objective wants it, e.g. with mixed samples (default:
        as it is); random draws come from `generator`, seeded by (seed, epoch)."""
        return inputs, targets

    @property
    def reverses_inputs(self) -> bool:
        """Whether it takes a reversed input's PIs to be the input's (`reversed_spatially`):
        only true of recipes with that symmetry (`Recipe.spatial_symmetries`)."""
        return False

    def relabelled(self, inputs: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
        """The targets of network inputs made during training (crops, `pinet.train.crops`),
        given their exact PIs `exact` `(N, C, 50, 50)`: those PIs by default; an objective
        whose targets hold more (the teachers' PIs) computes it for the new inputs."""
        return exact


class MeanSquaredError(Objective):
    """PI-Net's regression loss (SPEC 1): the mean squared error against the exact PIs."""

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(predictions, targets)

    def describe(self) -> dict[str, Any]:
        return {"name": "mse"}


class WrappedObjective(Objective):
    """An objective that adds terms to another's (`base`), e.g. self-distillation or feature
    transfer around distillation: it labels and prepares batches as `base` does and scores
    a prediction by `base.loss`; a subclass's `__call__` runs the forward passes its terms
    need and adds them."""

    def __init__(self, base: Objective) -> None:
        self.base = base

    def labelled(self, samples: Samples, *, exact: bool = True, progress: bool = False) -> Samples:
        return self.base.labelled(samples, exact=exact, progress=progress)

    def prepare(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.base.prepare(inputs, targets, generator)

    @property
    def reverses_inputs(self) -> bool:
        return self.base.reverses_inputs

    def relabelled(self, inputs: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
        return self.base.relabelled(inputs, exact)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The task loss alone: the wrapped objective's."""
        return self.base.loss(predictions, targets)


@contextmanager
def recorded_outputs(modules: Iterable[nn.Module]) -> Iterator[list[torch.Tensor]]:
    """The outputs of `modules`, in the order they run, of the forward passes run inside the
    block: what objectives that compare features (not only PIs) read."""
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _, __, out: outputs.append(out)) for m in modules]
    try:
        yield outputs
    finally:
        for hook in hooks:
            hook.remove()
