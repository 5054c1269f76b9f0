"""Photoplethysmograms (PPG): the three example recordings of the HeartPy package, in windows.

HeartPy (van Gent et al. 2019, "HeartPy: A novel heart rate algorithm for the analysis of
noisy signals"; GPL-3.0) ships them in its wheel as `heartpy/data/data.csv` (one column,
100 Hz, 25 s), `data2.csv` (`timer,hr`: milliseconds and values, about 117 Hz, 128 s) and
`data3.csv` (`datetime,hr`, 100 Hz, 11 min). They are read as files, without importing
heartpy. A pulse wave is quasi-periodic, unlike the motion the signal models train on;
the recordings also hold the sensor's dropouts (values of 0), kept as recorded.
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

INSTALL_COMMAND = "pip install --no-deps heartpy==1.2.7"
# (file, header rows): the value is each row's last column.
RECORDINGS = (("data.csv", 0), ("data2.csv", 1), ("data3.csv", 1))


def read_recordings() -> tuple[np.ndarray, ...]:
    """The three recordings as read-only float64 vectors, in RECORDINGS order;
    SourceUnavailable, naming the install command, where heartpy's data files are absent."""
    names = [name for name, _ in RECORDINGS]
    first, *_ = locate_package_files("heartpy", ("data",), names, INSTALL_COMMAND)
    return parse_recordings(first.parent)


@functools.lru_cache(maxsize=1)
def parse_recordings(folder: Path) -> tuple[np.ndarray, ...]:
    """The recordings of `folder`, parsed once per process (the longest has 68,476 rows)."""
    recordings = tuple(
        np.loadtxt(folder / name, delimiter=",", skiprows=header, usecols=-1, dtype=np.float64)
        for name, header in RECORDINGS
    )
    for values in recordings:
        values.flags.writeable = False
    return recordings


@dataclass(frozen=True)
class PpgWindows(RecordingWindows):
    """Windows of `window` samples every `stride`, recording by recording.

    input: `(1, window)` float64. label: the recording (0, 1, 2). group: the recording and
    its part (`data2/train`), which never straddles the split. split: by time within each
    recording (`windows_split_by_time`). id: `ppg/data2/000125`, the window's first sample.
    """

    name: ClassVar[str] = "ppg"
    modality: ClassVar[Modality] = "signal"

    def samples(self) -> Iterator[Sample]:
        for label, ((file, _), values) in enumerate(
            zip(RECORDINGS, read_recordings(), strict=True)
        ):
            recording = file.removesuffix(".csv")
            for start, split in windows_split_by_time(len(values), self.window, self.stride):
                yield Sample(
                    f"ppg/{recording}/{start:06d}",
                    values[None, start : start + self.window].copy(),
                    label,
                    f"{recording}/{split}",
                    split,
                )
