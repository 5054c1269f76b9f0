"""Time series classification problems of the UEA & UCR archives that ship inside the `aeon`
wheel (`aeon/datasets/data/`), so that they exist on a machine with no internet.

aeon's import needs dependencies we do not install, so the files are found without running
the package (`locate_package_files`) and parsed here (`read_ts`).
They are real series of kinds our models never train on (motion captured from video, a
Wiimote, leaf and arrowhead outlines, power demand, appliance consumption): sources to
evaluate on.

Two problems were recorded at unequal lengths and ship twice: as recorded, and in `_eq`
files padded to one length. PickupGestureWiimoteZ's padding is low-amplitude noise about
the last level, half or more of a typical padded series, and every wiggle of it is a short
bar of the sublevel diagram: a model scored on the padded files is scored on the archive's
noise as much as on the Wiimote. `window` reads the series as recorded instead, in windows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source, Split
from data_prep.sources.package_files import locate_package_files
from data_prep.sources.windows import check_window
from pinet.modality import Modality

INSTALL_COMMAND = "pip install --no-deps aeon"
DATA_FOLDER = ("datasets", "data")

# The equal-length problems aeon bundles, by name: (folder, file stem). PickupGestureWiimoteZ
# and JapaneseVowels ship padded to one length in their `_eq` files (see RECORDED_STEMS).
PROBLEMS: dict[str, tuple[str, str]] = {
    "ACSF1": ("ACSF1", "ACSF1"),  # appliance power consumption, 1 x 1460
    "ArrowHead": ("ArrowHead", "ArrowHead"),  # arrowhead outlines as distances, 1 x 251
    "BasicMotions": ("BasicMotions", "BasicMotions"),  # smartwatch motion, 10 Hz, 6 x 100
    "GunPoint": ("GunPoint", "GunPoint"),  # a hand's x position from video, 1 x 150
    "ItalyPowerDemand": ("ItalyPowerDemand", "ItalyPowerDemand"),  # daily demand, 1 x 24
    "JapaneseVowels": ("JapaneseVowels", "JapaneseVowels_eq"),  # speech cepstra, 12 x 25
    "OSULeaf": ("OSULeaf", "OSULeaf"),  # leaf outlines as distances, 1 x 427
    # a Wiimote's z acceleration, 1 x 361
    "PickupGestureWiimoteZ": ("PickupGestureWiimoteZ", "PickupGestureWiimoteZ_eq"),
}
# The file stems of the problems above whose series ship as recorded, at unequal lengths,
# beside the padded `_eq` files.
RECORDED_STEMS: dict[str, str] = {
    "JapaneseVowels": "JapaneseVowels",
    "PickupGestureWiimoteZ": "PickupGestureWiimoteZ",
}


@dataclass(frozen=True)
class TsDataset:
    """A parsed `.ts` file: each series `(C, T)` float64 (one T for all, unless read with
    `equal_length=False`), one class name per series."""

    series: tuple[np.ndarray, ...]
    class_names: tuple[str, ...]
    declared_classes: tuple[str, ...]


def read_ts(path: Path, *, equal_length: bool = True) -> TsDataset:
    """Parse a sktime/aeon `.ts` file of series without timestamps, all with one channel
    count, and all of one length unless `equal_length` is False.

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
    if not rows or len({len(row) for row in rows}) != 1:
        raise ValueError(f"{path}: expected series with the same channel count")
    if equal_length and len({len(channel) for row in rows for channel in row}) != 1:
        raise ValueError(f"{path}: expected equal-length series")
    if any(len({len(channel) for channel in row}) != 1 for row in rows):
        raise ValueError(f"{path}: a series has channels of different lengths")
    declared = header.get("@classlabel", "").split()
    series = tuple(np.array(row) for row in rows)
    return TsDataset(series, tuple(class_names), tuple(declared[1:]))


def locate_aeon_files(folder_name: str, names: Iterable[str]) -> list[Path]:
    """The files `names` of one data folder inside the installed aeon package (aeon is not
    imported), in order; SourceUnavailable, naming the install command, if any is absent."""
    return locate_package_files("aeon", (*DATA_FOLDER, folder_name), names, INSTALL_COMMAND)


def locate_problem(folder_name: str, file_stem: str) -> dict[Split, Path]:
    """The train and test `.ts` files of one problem inside the installed aeon package."""
    splits: tuple[Split, Split] = ("train", "test")
    names = [f"{file_stem}_{split.upper()}.ts" for split in splits]
    return dict(zip(splits, locate_aeon_files(folder_name, names), strict=True))


def _class_order(name: str) -> tuple[int, int | str]:
    """Sort key of class names: numbers by value ("2" before "10"), then other names."""
    return (0, int(name)) if name.lstrip("-").isdigit() else (1, name)


def problem_series(
    dataset: str, *, recorded: bool = False
) -> Iterator[tuple[Split, int, np.ndarray, int]]:
    """`(split, index in its file, series (C, T) float64, label)` for every series of a
    bundled problem (one of PROBLEMS), train file first, in file order. The label is the
    class's index among the declared classes, numbers in numeric order. `recorded`: a
    padded problem's series as recorded (RECORDED_STEMS), each at its own length."""
    folder_name, file_stem = PROBLEMS[dataset]
    if recorded:
        file_stem = RECORDED_STEMS.get(dataset, file_stem)
    for split, path in locate_problem(folder_name, file_stem).items():
        data = read_ts(path, equal_length=not recorded)
        classes = sorted(data.declared_classes or set(data.class_names), key=_class_order)
        for index, (series, class_name) in enumerate(
            zip(data.series, data.class_names, strict=True)
        ):
            if class_name not in classes:
                raise ValueError(f"{path}: series {index} has undeclared class {class_name!r}")
            yield split, index, series, classes.index(class_name)


@dataclass(frozen=True)
class UeaUcrSeries(Source):
    """The series of one bundled UEA/UCR problem (`dataset`, one of PROBLEMS), train file
    first, in file order; with `window`, windows of them as recorded.

    input: `(C, T)` float64, as the archive holds it (ArrowHead, GunPoint, ItalyPowerDemand
    and OSULeaf z-normalised per series, the others not; the two padded problems padded).
    label: the class's index among the declared classes, numbers in numeric order. group:
    the series' id, as the files carry no subject. split: from the file. id:
    `uea-ucr/GunPoint/train/0007`.

    `window` > 0: `(C, window)` windows every `stride` samples of each series as recorded
    (a padded problem's unequal-length files), so that no input holds the archive's
    padding; a series shorter than the window gives none. id:
    `uea-ucr/PickupGestureWiimoteZ/test/0007/0032`, the window's first sample last.
    """

    name: ClassVar[str] = "uea-ucr"
    modality: ClassVar[Modality] = "signal"

    dataset: str = "GunPoint"
    window: int = 0
    stride: int = 0

    def __post_init__(self) -> None:
        if self.dataset not in PROBLEMS:
            raise ValueError(f"dataset must be one of {', '.join(PROBLEMS)}, got {self.dataset!r}")
        if self.window:
            check_window(self.window, self.stride)
        elif self.stride:
            raise ValueError(f"stride {self.stride} needs a window; 0 reads whole series")

    def samples(self) -> Iterator[Sample]:
        recorded = self.window > 0
        for split, index, series, label in problem_series(self.dataset, recorded=recorded):
            series_id = f"uea-ucr/{self.dataset}/{split}/{index:04d}"
            if not recorded:
                yield Sample(series_id, series, label, series_id, split)
                continue
            for start in range(0, series.shape[1] - self.window + 1, self.stride):
                window = series[:, start : start + self.window]
                yield Sample(f"{series_id}/{start:04d}", window, label, series_id, split)
