"""Signals whose tails are stretched by a monotone map, labelled by the exact recipe: training
windows whose values lie as far from their mean as real recordings' do.

The sublevel recipes pair a channel's samples by their order alone, so a strictly increasing
map of the values keeps every pair and moves only where the bars are born and die. Learned
PIs place those bars worse the farther a window's extremes lie from its mean (`pinet eval`'s
`per_largest_z`): on Daphnet's gait recordings, whose channel windows reach 4 standard
deviations in 61% of cases (HAPT's: 16%), `signal-broad` had 0.58 of the mean PI's error
there against 0.20 below 3 (docs/studies.md, "Far values"). Stretching a window's tails
makes far values of any window of the mixture, with the structure of real motion around them.

Each stretched channel of z-scored values z becomes z * exp(a * t(z)), where t is -z below
zero for the lower tail, z above zero for the upper one, or |z| for both (one drawn per
channel), and the strength a is drawn uniformly from 0 to the run's largest strength
(`--stretch-strength`, 0.5 by default). The map is strictly increasing for any a >= 0: its
slope is exp(a t) (1 + a |z|) where it stretches, 1 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from pinet.train.config import TrainConfig
from pinet.train.sample_transforms import SampleFunction, SampleTransform

# The largest strength a run may set: at a = 1 a value 6 standard deviations out already
# moves 400 times as far, a window of one spike.
STRENGTH_LIMIT = 1.0
# Which tails a channel's stretch moves, drawn uniformly.
TAILS = ("lower", "upper", "both")


@dataclass(frozen=True)
class TailStretches(SampleTransform):
    """Each training sample, with probability `share`, has every channel's tails stretched
    (the module's map, with its own strength, up to `max_strength`, and tail per channel)."""

    max_strength: float = TrainConfig.stretch_strength
    option: ClassVar[str] = "--stretch-tails"
    does: ClassVar[str] = "stretches"
    done: ClassVar[str] = "stretched"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.max_strength <= STRENGTH_LIMIT:
            raise ValueError(
                f"--stretch-strength must be in (0, {STRENGTH_LIMIT:g}], not {self.max_strength}"
            )

    def sample_function(self, shape: tuple[int, ...], generator: torch.Generator) -> SampleFunction:
        """`stretched_tails` with a strength and a tail drawn for each channel of each drawn
        sample."""
        per_channel = (*shape[:2], 1)
        strength = torch.rand(per_channel, generator=generator) * self.max_strength
        tail = torch.randint(len(TAILS), per_channel, generator=generator)

        def stretched(signals: torch.Tensor) -> torch.Tensor:
            return stretched_tails(signals, strength.to(signals), tail.to(signals.device))

        return stretched


def stretched_tails(
    values: torch.Tensor, strength: torch.Tensor, tail: torch.Tensor
) -> torch.Tensor:
    """`values` z * exp(strength * t(z)), where `tail` (an index into TAILS, broadcast like
    `strength` against `values`) picks t: -z below zero, z above zero, or |z|."""
    lower = torch.where(tail != TAILS.index("upper"), (-values).clamp(min=0), 0)
    upper = torch.where(tail != TAILS.index("lower"), values.clamp(min=0), 0)
    return values * torch.exp(strength * (lower + upper))
