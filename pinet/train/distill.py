"""Knowledge distillation for PI regression (Hinton et al. 2015, as SPEC 7 maps it): the
student fits the exact PIs and the teachers' PIs at once,

    loss = alpha MSE(student, exact) + (1 - alpha) MSE(student, teacher),

where the teacher is one checkpoint or an ensemble, whose averaged PIs make a better teacher
than any member. Temperature has no role in regression. The teachers' PIs of the training
samples are computed once, batched in inference mode, and travel with the exact ones as
`(N, C, 2, 50, 50)` targets, so that exact symmetries (`exact_symmetries`) move both alike.

Teachers can also label inputs that have no exact PIs (`--teacher-labelled` stores, see
`pinet.train.mixture`): their PIs fill both slots. Where the exact recipe is expensive,
this is data distillation: a student learns from as many inputs as the teachers can label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm import tqdm

from pinet.inference import LoadedModel
from pinet.tda import get_recipe
from pinet.train.data import Samples, batch_loader
from pinet.train.losses import Objective
from pinet.train.mixup import PartialMixup

TEACHER_BATCH = 256
# What the card of a distilled model records of each teacher's card.
_TEACHER_METRICS = ("test_mse", "test_mse_vs_mean_pi", "val_mse")


def mean_teacher_pis(teachers: list[LoadedModel], inputs: torch.Tensor) -> np.ndarray:
    """`(N, C, 50, 50)` float32: the mean of the teachers' PIs of a batch of network inputs."""
    if not teachers:
        raise ValueError("distillation needs at least one teacher")
    return np.asarray(sum(teacher.forward(inputs) for teacher in teachers)) / len(teachers)


def teacher_pis(
    teachers: list[LoadedModel], samples: Samples, *, progress: bool = False
) -> torch.Tensor:
    """`(N, C, 50, 50)` float16: the mean of the teachers' PIs for every sample, in order,
    written batch by batch into the result, so that labelling a store costs the float16 PIs
    and one batch, not a float32 copy per teacher. `progress`: a bar of the samples
    labelled, since a large store under several teachers takes minutes before training."""
    if not len(samples):
        raise ValueError("no samples for the teachers to label")
    labelled: torch.Tensor | None = None
    start = 0
    description = f"{len(teachers)} teacher(s) labelling"
    with tqdm(total=len(samples), desc=description, unit="sample", disable=not progress) as bar:
        for inputs, _ in batch_loader(samples, TEACHER_BATCH, teachers[0].device):
            mean = torch.from_numpy(mean_teacher_pis(teachers, inputs))
            if labelled is None:
                labelled = torch.empty((len(samples), *mean.shape[1:]), dtype=torch.float16)
            labelled[start : start + len(mean)] = mean
            start += len(mean)
            bar.update(len(mean))
    assert labelled is not None  # at least one batch
    return labelled


class TeacherLabelled(Dataset):
    """`samples` with the teachers' PIs beside the exact ones: (input, `(C, 2, 50, 50)`).
    `exact=False`: the samples hold no PIs to learn (`StoreSamples(with_pis=False)`), and
    the teachers' take the exact slot too."""

    def __init__(self, samples: Samples, teacher: torch.Tensor, *, exact: bool = True) -> None:
        if len(teacher) != len(samples):
            raise ValueError(f"{len(teacher)} teacher PIs for {len(samples)} samples")
        self.samples = samples
        self.teacher = teacher.to(samples.device)
        self.device = samples.device
        self.exact = exact

    def __len__(self) -> int:
        return len(self.samples)

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, stored = self.samples.__getitems__(positions)
        rows = torch.as_tensor(positions, device=self.teacher.device)
        taught = self.teacher[rows].to(device=inputs.device, dtype=torch.float32)
        return inputs, torch.stack([stored.to(taught) if self.exact else taught, taught], dim=2)


class Distillation(Objective):
    """alpha x MSE against the exact PIs + (1 - alpha) x MSE against the teachers' mean,
    optionally on batches with a few mixed samples (`PartialMixup`)."""

    def __init__(
        self, teachers: list[LoadedModel], alpha: float = 0.5, mixup: PartialMixup | None = None
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(
                f"alpha weighs the exact PIs against the teachers': 0 to 1, got {alpha}"
            )
        if not teachers:
            raise ValueError("distillation needs at least one teacher")
        self.teachers = teachers
        self.alpha = alpha
        self.mixup = mixup
        card = teachers[0].card
        self.recipe = get_recipe(card.recipe.name, card.recipe.params)  # labels mixed inputs

    def labelled(
        self, samples: Samples, *, exact: bool = True, progress: bool = False
    ) -> TeacherLabelled:
        taught = teacher_pis(self.teachers, samples, progress=progress)
        return TeacherLabelled(samples, taught, exact=exact)

    def prepare(
        self, inputs: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """With partial mixup, a few samples replaced by mixtures, their teacher slot
        labelled by the teachers and their exact slot by the recipe (`labels='exact'`) or
        by the teachers too."""
        if self.mixup is None:
            return inputs, targets
        rows, blended = self.mixup.mixed(inputs, self.teachers[0].card.modality, generator)
        taught = self.taught(blended)
        exact = taught
        if self.mixup.labels == "exact":
            values = blended.cpu().numpy().astype(np.float64)
            exact = torch.from_numpy(self.recipe.images_batch(values)).to(taught)
        inputs, targets = inputs.clone(), targets.clone()
        inputs[rows.to(inputs.device)] = blended
        rows = rows.to(targets.device)
        targets[rows] = torch.stack([exact, taught], dim=2).to(targets)
        return inputs, targets

    def taught(self, inputs: torch.Tensor) -> torch.Tensor:
        """`(N, C, 50, 50)` float32 on the CPU: the teachers' mean PI of each network input."""
        return torch.from_numpy(mean_teacher_pis(self.teachers, inputs)).float()

    def relabelled(self, inputs: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
        """New inputs (crops) get the teachers' PIs of themselves beside their exact ones."""
        return torch.stack([exact, self.taught(inputs).to(exact)], dim=2)

    def loss(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        exact, teacher = targets[:, :, 0], targets[:, :, 1]
        return self.alpha * F.mse_loss(predictions, exact) + (1 - self.alpha) * F.mse_loss(
            predictions, teacher
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": "distillation",
            "alpha": self.alpha,
            "mixup": None if self.mixup is None else self.mixup.describe(),
            "teachers": [
                {
                    "name": t.card.name,
                    "checkpoint_id": t.card.checkpoint_id,
                    "backend": t.backend.name,
                    "metrics": {
                        k: t.card.metrics[k] for k in _TEACHER_METRICS if k in t.card.metrics
                    },
                }
                for t in self.teachers
            ],
        }
