"""Windows of a long recording, split by time: the earlier part trains, the later tests.

A recording of one session has no people or sessions to split by; splitting its windows at
random would put overlapping windows on both sides. Split by time instead, and drop the
window that straddles the boundary, so no sample is in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from data_prep.sources.base import Source, Split

# Windows that start and end in the first TRAIN_SHARE of a recording train; those wholly
# after it test.
TRAIN_SHARE = 0.6


def check_window(window: int, stride: int) -> None:
    """ValueError naming both options unless `window` >= 2 and `stride` >= 1."""
    if window < 2 or stride < 1:
        raise ValueError(f"window must be at least 2 and stride at least 1; got {window}, {stride}")


def windows_split_by_time(length: int, window: int, stride: int) -> Iterator[tuple[int, Split]]:
    """`(start, split)` of every window of `window` samples every `stride` in a recording of
    `length` samples, except the one across the TRAIN_SHARE boundary."""
    boundary = int(TRAIN_SHARE * length)
    for start in range(0, length - window + 1, stride):
        if start + window <= boundary:
            yield start, "train"
        elif start >= boundary:
            yield start, "test"


@dataclass(frozen=True, kw_only=True)
class RecordingWindows(Source):
    """What the sources that cut recordings into windows share: their `window` and `stride`
    options, checked on construction, and given by keyword so that a subclass's own options
    come first. Subclasses yield `windows_split_by_time`'s windows."""

    window: int = 250
    stride: int = 125

    def __post_init__(self) -> None:
        check_window(self.window, self.stride)
