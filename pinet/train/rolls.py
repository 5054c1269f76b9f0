"""Signals rolled to start at their minimum, labelled by the exact recipe: training windows
whose running minimum never moves.

A closed outline sampled from its lowest point starts and ends at its minimum (57% of the
UCR ArrowHead test windows do); a window cut at random from a longer recording rarely does
(2% of HAPT's). A network handed each channel's running extremes (`--running-extremes`)
sees, on such a window, a running minimum that is one constant from either end, a picture
its training never showed, and doubled its error there ([docs/studies.md, Running
extremes](../../docs/studies.md#running-extremes)). Rolling a channel circularly so that it
starts at its minimum makes that picture of any window: the rolled channel ends on the
sample before its minimum, and `--augment`'s reversal and value reflection then also put
the minimum last, or a maximum first. A roll joins the window's two ends with a new step, so
it has its own topology: the recipe labels the rolled samples, as it labels crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from pinet.train.sample_transforms import SampleFunction, SampleTransform


@dataclass(frozen=True)
class MinimumRolls(SampleTransform):
    """Each training sample, with probability `share`, has every channel rolled circularly
    to start at its minimum (the first, where several samples tie)."""

    option: ClassVar[str] = "--roll-to-minimum"
    does: ClassVar[str] = "rolls"
    done: ClassVar[str] = "rolled"

    def sample_function(self, shape: tuple[int, ...], generator: torch.Generator) -> SampleFunction:
        """`rolled_to_minimum`: a roll draws nothing."""
        return rolled_to_minimum


def rolled_to_minimum(signals: torch.Tensor) -> torch.Tensor:
    """Signals `(N, C, T)`, each channel rolled circularly to start at its minimum."""
    positions = torch.arange(signals.shape[-1], device=signals.device)
    return signals.gather(-1, (positions + signals.argmin(-1, keepdim=True)) % signals.shape[-1])
