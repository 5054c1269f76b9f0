"""Feature-level transfer: attention transfer (Zagoruyko and Komodakis, ICLR 2017, as SPEC 7
maps it onto PI-Nets).

Besides its task loss, the student matches the teachers' attention maps after every conv
block: the mean over channels of the squared activations at each position, normalised to
unit length, which says where along a signal (or where in an image) a block responds, whatever
its width. PI-Net trunks halve every spatial axis after each block, so a student and a
teacher with as many blocks have maps of the same sizes block by block, however narrow the
student is:

    loss = task + weight x sum over blocks of mean over samples of |q_student - q_teacher|^2

with q_teacher the mean of the teachers' maps. The teachers run every step on the batch as
the student sees it (symmetries and mixed samples included), in inference mode: maps cannot
be computed once like the teachers' PIs, since a reversed input's maps are not the reversed
maps exactly (the max-pools' padding is one-sided).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from pinet.inference import LoadedModel, TorchBackend
from pinet.nets import PINet
from pinet.train.losses import Objective, WrappedObjective, recorded_outputs


def attention_map(activations: torch.Tensor) -> torch.Tensor:
    """`(M, C, *S)` block outputs -> `(M, prod S)`: the channel mean of the squared
    activations at each position, each row scaled to unit L2 norm."""
    energy = activations.float().square().mean(dim=1).flatten(1)
    return torch.nn.functional.normalize(energy, dim=1)


class AttentionTransfer(WrappedObjective):
    """`base` plus `weight` x the squared distance of the student's attention maps to the
    teachers' mean maps, block by block (module docstring). Teachers must run on torch and
    have the student's number of blocks and channel folding (`per_channel`)."""

    def __init__(self, base: Objective, teachers: Sequence[LoadedModel], weight: float) -> None:
        if not weight >= 0:
            raise ValueError(f"the attention-transfer weight must be >= 0, got {weight}")
        if not teachers:
            raise ValueError("attention transfer needs at least one teacher")
        super().__init__(base)
        self.weight = weight
        self.teachers = [_torch_network(teacher) for teacher in teachers]
        self.names = [teacher.card.name for teacher in teachers]

    def __call__(
        self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        student: PINet = getattr(model, "module", model)  # unwrapped from DDP
        self._check_fits(student)
        with recorded_outputs(student.trunk.blocks) as outputs:
            predictions = model(inputs).float()
        maps = self.teacher_maps(inputs)
        transfer = sum(
            (attention_map(mine) - theirs).square().sum(dim=1).mean()
            for mine, theirs in zip(outputs, maps, strict=True)
        )
        return self.base.loss(predictions, targets) + self.weight * transfer

    @torch.inference_mode()
    def teacher_maps(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """The teachers' mean attention map after each block, for network inputs
        `(N, C, *S)` (channels folded into the batch as the networks fold them)."""
        total: list[torch.Tensor] | None = None
        for teacher in self.teachers:
            folded = inputs.reshape(-1, 1, *inputs.shape[2:]) if teacher.per_channel else inputs
            with recorded_outputs(teacher.trunk.blocks) as outputs:
                teacher.trunk(folded.to(next(teacher.parameters()).device))
            maps = [attention_map(out).to(inputs.device) for out in outputs]
            total = maps if total is None else [t + m for t, m in zip(total, maps, strict=True)]
        assert total is not None  # at least one teacher, checked on construction
        return [t / len(self.teachers) for t in total]

    def describe(self) -> dict[str, Any]:
        return {
            "name": "attention-transfer",
            "weight": self.weight,
            "teachers": self.names,
            "base": self.base.describe(),
        }

    def _check_fits(self, student: PINet) -> None:
        for name, teacher in zip(self.names, self.teachers, strict=True):
            ours = (len(student.trunk.blocks), student.per_channel)
            theirs = (len(teacher.trunk.blocks), teacher.per_channel)
            if ours != theirs:
                raise ValueError(
                    f"attention transfer compares maps block by block: the student has "
                    f"{ours[0]} blocks (per_channel={ours[1]}), teacher {name!r} "
                    f"{theirs[0]} (per_channel={theirs[1]}); give the student as many blocks "
                    "and the same --per-channel"
                )


def _torch_network(teacher: LoadedModel) -> PINet:
    """The torch network of a teacher: attention needs its activations."""
    if not isinstance(teacher.backend, TorchBackend):
        raise ValueError(
            f"attention transfer needs the teachers' activations: {teacher.card.name!r} runs "
            f"on {teacher.backend.name}; give its float checkpoint instead"
        )
    return teacher.backend.network
