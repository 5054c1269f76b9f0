"""Self-distillation on distorted views (Xu and Liu, AAAI 2019, "Data-distortion guided
self-distillation", as SPEC 7 maps it onto PIs).

Every batch is seen twice, as it is and reversed along every spatial axis: a distortion
that the recipes map to the same PIs (`reversed_spatially`; a recipe without that symmetry
is refused), so both views keep their exact targets. The network learns from each view
(the objective it wraps: MSE, or distillation from teachers), from the other view's
prediction (the paper's mutual KL becomes, for a regression, the squared difference of the
two predictions), and has the distributions of its global features in the two views
matched by a maximum mean discrepancy:

    loss = (task(view 1) + task(view 2)) / 2 + MSE(PIs 1, PIs 2) + weight x MMD^2(f1, f2)

where f are the trunk's pooled features of every (sample, channel). A network that answers
the same for both views needs no averaging over reversed inputs at inference, which
doubles a forward's cost (`average_reversed`). Each step costs two forward passes. Under
torchrun the MMD (and its median bandwidth) is computed on each process's shard of the
batch: the same objective in expectation, not equal to one process's to rounding, as plain
and distilled training are (`pinet.train.distributed`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pinet.nets import PINet, reversed_spatially
from pinet.train.losses import Objective, WrappedObjective, recorded_outputs

# Bandwidths of the Gaussian kernels of the MMD, as multiples of the median squared distance
# between features (a mixture of kernels: no single bandwidth to tune).
_BANDWIDTH_SCALES = (0.25, 1.0, 4.0)


def maximum_mean_discrepancy(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Squared MMD between two feature sets `(M, D)`, with a sum of Gaussian kernels whose
    bandwidths scale the median pairwise squared distance (detached): 0 for equal sets,
    larger as their distributions part."""
    features = torch.cat([first, second]).float()
    distances = torch.cdist(features, features).square()
    median = distances.detach().median().clamp_min(1e-12)
    kernel = sum(torch.exp(-distances / (scale * median)) for scale in _BANDWIDTH_SCALES)
    count = len(first)
    within_first = kernel[:count, :count].mean()
    within_second = kernel[count:, count:].mean()
    across = kernel[:count, count:].mean()
    return within_first + within_second - 2 * across


class SelfDistillation(WrappedObjective):
    """`base` on the batch and on its reversed view, with the two views' predictions and
    global features pulled together (module docstring); `weight` scales the MMD term."""

    def __init__(self, base: Objective, weight: float = 1.0) -> None:
        if not weight >= 0:
            raise ValueError(f"the self-distillation weight must be >= 0, got {weight}")
        super().__init__(base)
        self.weight = weight

    @property
    def reverses_inputs(self) -> bool:
        return True  # its second view

    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        network: PINet = getattr(model, "module", model)  # unwrapped from DDP
        with recorded_outputs([network.trunk]) as features:
            both = model(torch.cat([inputs, reversed_spatially(inputs)])).float()
        count = len(inputs)
        first, second = both[:count], both[count:]
        pooled = features[0]  # (2 N C', D): both views, channels folded when per_channel
        half = len(pooled) // 2
        task = (self.base.loss(first, targets) + self.base.loss(second, targets)) / 2
        mutual = F.mse_loss(first, second)
        return task + mutual + self.weight * maximum_mean_discrepancy(pooled[:half], pooled[half:])

    def describe(self) -> dict[str, Any]:
        return {
            "name": "self-distillation",
            "views": "as given and reversed spatially",
            "weight": self.weight,
            "base": self.base.describe(),
        }
