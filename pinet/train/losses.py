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


# The top rows of a PI whose peak there marks its brightest bar as a long one (persistence
# about 6 or more of a z-scored signal's 10): `MeanSquaredError`'s default.
LONG_BAR_ROWS = 20


class MeanSquaredError(Objective):
    """PI-Net's regression loss (SPEC 1): the mean squared error against the exact PIs.

    `long_bar_weight` W > 1 weights each channel PI whose peak lies in its top
    `long_bar_rows` rows (row 0 is the highest persistence: the PI's brightest bar is one of
    the longest) W times a PI peaking lower, the mean taken over the weights. Why: such PIs
    are rare in the training mixtures (a few % of channel windows) and common in some real
    series (21% of Daphnet's), and a squared error on rare, uncertain places is minimised by
    a faint blob at lower persistence (docs/training.md, "The worst real series"); the
    weight shifts the prior the network hedges towards. W = 1 (default): the plain MSE.
    """

    def __init__(self, long_bar_weight: float = 1.0, long_bar_rows: int = LONG_BAR_ROWS) -> None:
        if not long_bar_weight >= 1.0 or long_bar_rows < 1:
            raise ValueError(
                f"the long bars' weight must be >= 1 and their rows >= 1; got "
                f"{long_bar_weight!r} over {long_bar_rows!r} rows"
            )
        self.long_bar_weight = float(long_bar_weight)
        self.long_bar_rows = long_bar_rows

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.long_bar_weight == 1.0:
            return F.mse_loss(predictions, targets)
        weights = self.weights(targets)
        squared = (predictions - targets).square().mean(dim=(-2, -1))
        return (weights * squared).sum() / weights.sum()

    def weights(self, targets: torch.Tensor) -> torch.Tensor:
        """Each channel PI's weight `(N, C)`: `long_bar_weight` where its peak's row is
        below `long_bar_rows`, else 1 (an empty PI's too)."""
        peaks, places = targets.flatten(-2).max(dim=-1)
        long_bar = (places // targets.shape[-1] < self.long_bar_rows) & (peaks > 0)
        return torch.where(long_bar, self.long_bar_weight, 1.0).to(targets.dtype)

    def describe(self) -> dict[str, Any]:
        if self.long_bar_weight == 1.0:
            return {"name": "mse"}
        return {
            "name": "mse",
            "long_bar_weight": self.long_bar_weight,
            "long_bar_rows": self.long_bar_rows,
        }


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
