"""A walk recorded at the lower back: the demo recording of the GaitPy package, in windows.

GaitPy (Czech & Patel 2019, "GaitPy: an open-source Python package for gait analysis using
an accelerometer on the lower back", JOSS; MIT licence) ships `gaitpy/demo/demo_data.csv`
in its wheel: a GENEActiv accelerometer worn at the back of a man walking, 3 axes in g at
50 Hz, 8,400 samples (2.8 minutes), after the device's fixed 100-line header. It is read as
a file, without importing gaitpy. HAPT's phones at the waist also record walking at 50 Hz,
but this is another device (clipping at 8 g), person and placement, with heel strikes that
give heavy-tailed swings: a real series of gait to evaluate on.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample
from data_prep.sources.package_files import locate_package_files
from data_prep.sources.windows import RecordingWindows, windows_split_by_time
from pinet.modality import Modality

INSTALL_COMMAND = "pip install --no-deps gaitpy==1.6.1"
RECORDING = ("demo", "demo_data.csv")
HEADER_ROWS = 100  # a GENEActiv CSV export's header, before the first timestamped sample
AXES = (1, 2, 3)  # x, y, z in g; then light, button and temperature


@functools.lru_cache(maxsize=1)
def parse_recording(path: Path) -> np.ndarray:
    """The accelerometer axes of a GENEActiv CSV export, `(3, T)` float64, read-only and
    parsed once per process."""
    values = np.loadtxt(
        path, delimiter=",", skiprows=HEADER_ROWS, usecols=AXES, ndmin=2, encoding="latin-1"
    )
    values = np.ascontiguousarray(values.T)
    values.flags.writeable = False
    return values


def read_recording() -> np.ndarray:
    """The demo walk as `parse_recording` returns it; SourceUnavailable, naming the install
    command, where gaitpy's files are absent."""
    folder, name = RECORDING
    (path,) = locate_package_files("gaitpy", (folder,), [name], INSTALL_COMMAND)
    return parse_recording(path)


@dataclass(frozen=True)
class GaitpyWalkWindows(RecordingWindows):
    """Windows of `window` samples every `stride` of the demo walk.

    input: `(3, window)` float64, in g. label: 0 (one activity). group: the recording's
    part (`train`, `test`), which never straddles the split. split: by time
    (`windows_split_by_time`). id: `gaitpy-walk/000125`, the window's first sample.
    """

    name: ClassVar[str] = "gaitpy-walk"
    modality: ClassVar[Modality] = "signal"

    def samples(self) -> Iterator[Sample]:
        values = read_recording()
        for start, split in windows_split_by_time(values.shape[1], self.window, self.stride):
            yield Sample(
                f"{self.name}/{start:06d}",
                values[:, start : start + self.window].copy(),
                0,
                split,
                split,
            )
