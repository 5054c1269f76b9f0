"""Partial mixup for distillation (Choi et al., WACV 2023, as SPEC 7 maps it onto PIs): in
each batch a few samples are replaced by mixtures of two, lambda x_i + (1 - lambda) x_j with
lambda ~ Beta(alpha, alpha), and labelled by the teachers or, for a recipe cheap enough to
run every step, by the exact recipe itself.

Mixup smooths what the teacher passes on, and too much of it hurts; mixing only a few pairs
per batch keeps the gain. A mixed input is no mixture of PIs (topology is not linear), so
its label must be computed, never interpolated: that is what the teacher (or the recipe) is
for. Mixed signals are z-scored again, as every network input is (`network_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from pinet.inference import network_inputs
from pinet.modality import Modality

MixupLabels = Literal["teacher", "exact"]
# Labels of a batch of network inputs `(k, C, *S)` -> PIs `(k, C, 50, 50)` as numpy.
Labeller = Callable[[torch.Tensor], np.ndarray]


@dataclass(frozen=True)
class PartialMixup:
    """Replace `pairs` samples of each batch by mixtures of two random samples of it."""

    pairs: int
    labels: MixupLabels = "teacher"
    alpha: float = 1.0  # Beta(alpha, alpha): 1.0 draws lambda uniformly

    def __post_init__(self) -> None:
        if self.pairs < 1 or not self.alpha > 0:
            raise ValueError(
                f"partial mixup needs pairs >= 1 and alpha > 0, got {self.pairs}, {self.alpha}"
            )

    def mixed(
        self, inputs: torch.Tensor, modality: Modality, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Which rows of the batch to replace, and their mixed network inputs. Drawn from
        `generator` alone (seeded per epoch by the loop), so that a resumed run mixes alike."""
        count = len(inputs)
        pairs = min(self.pairs, count)
        rows = torch.randperm(count, generator=generator)[:pairs]
        partners = torch.randint(count, (pairs,), generator=generator)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        weights = np.random.default_rng(seed).beta(self.alpha, self.alpha, pairs)
        weight = torch.from_numpy(weights).float().view(pairs, *([1] * (inputs.ndim - 1)))
        first, second = (
            inputs[rows.to(inputs.device)].cpu(),
            inputs[partners.to(inputs.device)].cpu(),
        )
        blend = weight * first + (1 - weight) * second
        return rows, network_inputs(blend.numpy(), modality).to(inputs.device)

    def describe(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "labels": self.labels, "alpha": self.alpha}
