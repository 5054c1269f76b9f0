"""What training minimises. An objective sees the model, a batch of network inputs and
their exact PIs, and returns the loss; the loop knows nothing else about it, so a new
objective (distillation from a teacher, a feature-transfer term) is a new class here, not a
branch in the loop. Its `describe()` is recorded in the cards of the run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pinet.train.data import Samples


class Objective(ABC):
    """A training loss: (model, inputs `(N, C, *S)`, exact PIs `(N, C, 50, 50)`) -> scalar."""

    @abstractmethod
    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """The loss of `model` on one batch, differentiable with respect to its weights."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The objective's name and parameters, as JSON values."""

    def labelled(self, samples: Samples) -> Samples:
        """The training samples with the targets this objective needs (default: the exact
        PIs as they are); called once per run, before the first epoch."""
        return samples

    def prepare(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch as this objective wants it, e.g. with mixed samples (default:
        as it is); random draws come from `generator`, seeded by (seed, epoch)."""
        return inputs, targets


class MeanSquaredError(Objective):
    """PI-Net's regression loss (SPEC 1): the mean squared error against the exact PIs,
    computed in float32 whatever the autocast precision of the forward pass."""

    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        return F.mse_loss(model(inputs).float(), targets)

    def describe(self) -> dict[str, Any]:
        return {"name": "mse"}
