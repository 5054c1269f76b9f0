"""Long real recordings that ship inside the `aeon` wheel for segmentation and anomaly
detection, cut into windows: real series of kinds no model trains on, to evaluate on.

- `Daphnet`: Daphnet freezing-of-gait recording S06R02E0 (Bachlin et al. 2010): a person
  with Parkinson's disease walking, 9 accelerometer channels (ankle, thigh, trunk; three
  axes each, in mg) at 64 Hz, 7,040 samples; freezing episodes marked.
- `InternalBleeding16`: series 135 of the KDD Cup 2021 anomaly archive (Wu & Keogh), a
  physiological pulse signal of 7,501 samples with one marked anomaly.
- `ElectricDevices`: the ElectricDevices segmentation series, household electricity use,
  11,532 samples, unlabelled.

The files are found as `uea-ucr` finds its own (`locate_aeon_files`), without importing aeon.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from data_prep.sources.aeon_archives import locate_aeon_files
from data_prep.sources.base import Sample
from data_prep.sources.windows import RecordingWindows, windows_split_by_time
from pinet.modality import Modality


class RecordingFile(NamedTuple):
    """Where a recording lies in aeon's data folder and which CSV columns hold what."""

    folder: str
    file: str
    header_rows: int
    value_columns: tuple[int, ...]
    anomaly_column: int | None  # 1 where a sample is marked anomalous; None: unlabelled


RECORDINGS: dict[str, RecordingFile] = {
    "Daphnet": RecordingFile("Daphnet_S06R02E0", "S06R02E0.csv", 1, tuple(range(1, 10)), 10),
    "InternalBleeding16": RecordingFile(
        "KDD-TSAD_135", "135_UCR_Anomaly_InternalBleeding16_TEST.csv", 1, (1,), 2
    ),
    "ElectricDevices": RecordingFile("segmentation", "ElectricDevices.csv", 0, (1,), None),
}


@functools.lru_cache(maxsize=len(RECORDINGS))
def parse_recording(path: Path, recording: RecordingFile) -> tuple[np.ndarray, np.ndarray]:
    """`(values (C, T) float64, anomalous (T,) bool)` of one recording's CSV, read-only and
    parsed once per process."""
    columns = recording.value_columns + (
        () if recording.anomaly_column is None else (recording.anomaly_column,)
    )
    table = np.loadtxt(
        path, delimiter=",", skiprows=recording.header_rows, usecols=columns, ndmin=2
    )
    values = np.ascontiguousarray(table[:, : len(recording.value_columns)].T)
    if recording.anomaly_column is None:
        anomalous = np.zeros(table.shape[0], dtype=bool)
    else:
        anomalous = table[:, -1] != 0
    values.flags.writeable = anomalous.flags.writeable = False
    return values, anomalous


def read_recording(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The recording `name` (one of RECORDINGS) as `parse_recording` returns it;
    SourceUnavailable, naming the install command, where aeon's files are absent."""
    recording = RECORDINGS[name]
    (path,) = locate_aeon_files(recording.folder, [recording.file])
    return parse_recording(path, recording)


@dataclass(frozen=True)
class AeonRecordingWindows(RecordingWindows):
    """Windows of `window` samples every `stride` of one recording (`recording`, one of
    RECORDINGS).

    input: `(C, window)` float64, as recorded. label: 1 if any of the window's samples is
    marked anomalous (a freeze of gait, the archive's anomaly), else 0. group: the
    recording's part (`train`, `test`), which never straddles the split. split: by time
    (`windows_split_by_time`). id: `aeon-recordings/Daphnet/000125`, the first sample.
    """

    name: ClassVar[str] = "aeon-recordings"
    modality: ClassVar[Modality] = "signal"

    recording: str = "Daphnet"

    def __post_init__(self) -> None:
        if self.recording not in RECORDINGS:
            raise ValueError(
                f"recording must be one of {', '.join(RECORDINGS)}, got {self.recording!r}"
            )
        super().__post_init__()

    def samples(self) -> Iterator[Sample]:
        values, anomalous = read_recording(self.recording)
        for start, split in windows_split_by_time(values.shape[1], self.window, self.stride):
            end = start + self.window
            yield Sample(
                f"{self.name}/{self.recording}/{start:06d}",
                values[:, start:end].copy(),
                int(anomalous[start:end].any()),
                split,
                split,
            )
