"""The teachers of a distillation run: trained networks that label raw windows, each trained
once per seed, when a row first needs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pinet.tda import Recipe


@dataclass(frozen=True)
class Teacher:
    """A trained network in eval mode; `recipe` turns raw windows into its inputs (a PI
    teacher), None for a teacher on raw windows. `train_logits` `(N, K)`: its outputs on the
    training windows, in order, computed once for every epoch of every student."""

    net: nn.Module
    recipe: Recipe | None
    train_logits: torch.Tensor

    @torch.no_grad()
    def logits(self, signals: torch.Tensor) -> torch.Tensor:
        """`(N, K)` logits of raw windows `(N, C, T)`, computing the exact PIs first for a PI
        teacher, so that it can label windows it has never seen (mixed ones)."""
        inputs = signals
        if self.recipe is not None:
            inputs = torch.from_numpy(self.recipe.images_batch(signals.numpy()))
        return self.net.eval()(inputs)


class Teachers:
    """The teachers of one seed by key, each made by `train(key)` on first use and kept."""

    def __init__(self, train: Callable[[str], Teacher]) -> None:
        self._train = train
        self._trained: dict[str, Teacher] = {}

    def get(self, key: str) -> Teacher:
        if key not in self._trained:
            self._trained[key] = self._train(key)
        return self._trained[key]
