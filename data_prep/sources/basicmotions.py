"""UEA BasicMotions: smartwatch accelerometer + gyroscope, 4 activities, 40 + 40 series of 6 x 100.

The `.ts` files ship inside the `aeon` wheel (`aeon/datasets/data/BasicMotions/`). aeon's
import needs dependencies we do not install, so the files are found with
`importlib.util.find_spec`, which does not run the package, and parsed here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source, Split
from data_prep.sources.errors import SourceUnavailable
from pinet.modality import Modality

INSTALL_COMMAND = "pip install --no-deps aeon"
DATA_FOLDER = ("datasets", "data", "BasicMotions")
SPLIT_FILES: dict[Split, str] = {"train": "BasicMotions_TRAIN.ts", "test": "BasicMotions_TEST.ts"}

# The `@classLabel` line of the files, sorted: label i is CLASS_NAMES[i].
CLASS_NAMES = ("Badminton", "Running", "Standing", "Walking")


@dataclass(frozen=True)
class TsDataset:
    """A parsed equal-length `.ts` file: `series` `(N, C, T)` float64, one class name per series."""

    series: np.ndarray
    class_names: tuple[str, ...]
    declared_classes: tuple[str, ...]


def read_ts(path: Path) -> TsDataset:
    """Parse a sktime/aeon `.ts` file of equal-length series without timestamps.

    Format: `#` comment lines, `@key value` header lines up to `@data`, then one series per
    line: the channels separated by `:`, values by `,`, and the class label last.
    """
    header: dict[str, str] = {}
    rows: list[list[np.ndarray]] = []
    class_names: list[str] = []
    in_data = False
    for number, raw_line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            key, _, value = line.partition(" ")
            if key.lower() == "@data":
                in_data = True
            else:
                header[key.lower()] = value.strip()
            continue
        *channels, label = line.split(":")
        try:
            rows.append([np.array(channel.split(","), dtype=np.float64) for channel in channels])
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not a list of numbers ({exc})") from exc
        class_names.append(label.strip())
    if header.get("@timestamps", "false").lower() != "false":
        raise ValueError(f"{path}: series with timestamps are not supported")
    lengths = {len(channel) for row in rows for channel in row}
    channel_counts = {len(row) for row in rows}
    if not rows or len(lengths) != 1 or len(channel_counts) != 1:
        raise ValueError(f"{path}: expected equal-length series with the same channel count")
    declared = header.get("@classlabel", "").split()
    return TsDataset(np.array(rows), tuple(class_names), tuple(declared[1:]))


def locate_basicmotions() -> Path:
    """The BasicMotions folder inside the installed aeon package (aeon is not imported)."""
    spec = importlib.util.find_spec("aeon")
    if spec is None or not spec.submodule_search_locations:
        raise SourceUnavailable(f"BasicMotions data not installed; run `{INSTALL_COMMAND}`")
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*DATA_FOLDER)
    missing = [name for name in SPLIT_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise SourceUnavailable(
            f"{folder} lacks {', '.join(missing)}; reinstall with `{INSTALL_COMMAND}`"
        )
    return folder


@dataclass(frozen=True)
class BasicMotions(Source):
    """The 80 BasicMotions series, train file first, in file order.

    input: `(6, 100)` float64 (accelerometer x/y/z then gyroscope x/y/z, 10 Hz for 10 s).
    label: index in CLASS_NAMES (0 Badminton, 1 Running, 2 Standing, 3 Walking). group: the
    sample id, as the files carry no subject. split: from the file. id: `basicmotions/train/007`.
    """

    name: ClassVar[str] = "basicmotions"
    modality: ClassVar[Modality] = "signal"

    def samples(self) -> Iterator[Sample]:
        folder = locate_basicmotions()
        for split, file_name in SPLIT_FILES.items():
            data = read_ts(folder / file_name)
            if tuple(sorted(data.declared_classes)) != CLASS_NAMES:
                raise ValueError(f"{file_name} declares classes {data.declared_classes}")
            for index, (series, class_name) in enumerate(
                zip(data.series, data.class_names, strict=True)
            ):
                sample_id = f"basicmotions/{split}/{index:03d}"
                label = CLASS_NAMES.index(class_name)
                yield Sample(sample_id, series, label, sample_id, split)
