"""Knowledge distillation for classifiers (SPEC 7, 8): a student's cross-entropy blended with
its divergence from several teachers' softened outputs, and partial mixup, which mixes only a
few pairs of each batch so that the teachers label new inputs without drowning the real ones.

The settings are those of the topological distillation group's code (github.com/jeunsom/
TDA_KD, `train_ad.py`): T = 4, the distillation terms weighted 0.99 against the
cross-entropy's 0.01, the PI teacher 0.7 and the raw-signal teacher 0.3, logits divided by
their standard deviation (per sample) before softening. Unlike that code, the cross-entropy
takes the raw logits (so that blend 0 is plain training) and each KL divergence is averaged
over samples (`batchmean`, the divergence per sample), not over samples and classes.

`pinet.train.mixup` mixes pairs for PI regression, where only a teacher or the recipe can
label a mixed input and inputs are z-scored again; a classifier's mixup also mixes its
labels and keeps raw windows raw, hence `partial_mixup` here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional

TEMPERATURE = 4.0
BLEND = 0.99  # the weight of the distillation terms; the cross-entropy gets 1 - BLEND
PI_TEACHER_WEIGHT, RAW_TEACHER_WEIGHT = 0.7, 0.3
# Below this standard deviation a sample's logits are taken as equal (no division by ~0).
_FLAT_LOGITS = 1e-6


def standardised(logits: torch.Tensor) -> torch.Tensor:
    """`(N, K)` logits divided by each sample's standard deviation over the K classes: the
    teachers' and the student's logits on one scale, whatever their magnitude."""
    return logits / logits.std(dim=1, keepdim=True).clamp_min(_FLAT_LOGITS)


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: Sequence[torch.Tensor],
    weights: Sequence[float],
    blend: float = BLEND,
    temperature: float = TEMPERATURE,
) -> torch.Tensor:
    """(1 - blend) CE(student, labels) + blend T^2 sum_k w_k KL(p_k || p_student), where
    p = softmax(standardised(logits) / T). `labels`: class indices `(N,)` or label
    distributions `(N, K)` (mixed samples); `teacher_logits`: `(N, K)` each, one weight each.
    The T^2 keeps the gradients of the softened terms on the cross-entropy's scale (Hinton
    et al. 2015)."""
    if len(teacher_logits) != len(weights):
        raise ValueError(f"{len(teacher_logits)} teachers but {len(weights)} weights")
    loss = (1 - blend) * functional.cross_entropy(student_logits, labels)
    student = functional.log_softmax(standardised(student_logits) / temperature, dim=1)
    for logits, weight in zip(teacher_logits, weights, strict=True):
        teacher = functional.softmax(standardised(logits) / temperature, dim=1)
        divergence = functional.kl_div(student, teacher, reduction="batchmean")
        loss = loss + blend * temperature**2 * weight * divergence
    return loss


@dataclass(frozen=True)
class Mixed:
    """A batch after partial mixup: row `rows[m]` became `weights[m]` x itself +
    (1 - `weights[m]`) x row `partners[m]`, in `inputs` and alike in `targets` (label
    distributions `(N, K)`); every other row is as it was."""

    inputs: torch.Tensor
    targets: torch.Tensor
    rows: torch.Tensor
    partners: torch.Tensor
    weights: torch.Tensor


def partial_mixup(
    inputs: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
    pairs: int,
    generator: torch.Generator,
) -> Mixed:
    """Mix `pairs` random rows of a batch `(N, ...)` each with another random row, weights
    drawn uniformly from [0, 1] (mixup's Beta(1, 1)); labels `(N,)` become distributions
    mixed alike. Choi et al. (WACV 2023): mixing a few pairs keeps mixup's smoothing of the
    teacher's signal without the loss of accuracy that mixing every sample brings."""
    count = min(pairs, len(inputs))
    order = torch.randperm(len(inputs), generator=generator)
    rows, partners = order[:count], order.roll(1)[:count]  # a partner is never its own row
    weights = torch.rand(count, generator=generator)
    targets = functional.one_hot(labels, classes).to(inputs.dtype)
    mixed_inputs, mixed_targets = inputs.clone(), targets.clone()
    shape = (count,) + (1,) * (inputs.dim() - 1)
    mixed_inputs[rows] = _mix(inputs[rows], inputs[partners], weights.view(shape))
    mixed_targets[rows] = _mix(targets[rows], targets[partners], weights[:, None])
    return Mixed(mixed_inputs, mixed_targets, rows, partners, weights)


def relabelled(
    logits: torch.Tensor, mixed: Mixed, teacher: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """A teacher's `(N, K)` logits for a mixed batch: `logits` (its outputs on the batch as it
    was) for the rows left alone, and its outputs on the mixed inputs for the mixed rows."""
    relabelled_logits = logits.clone()
    relabelled_logits[mixed.rows] = teacher(mixed.inputs[mixed.rows])
    return relabelled_logits


def _mix(first: torch.Tensor, second: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return weight * first + (1 - weight) * second
