"""A folder of the user's own signals (`.npy`, `.csv`) or images (`.png`, `.jpg`, `.jpeg`).

The folder holds one kind or the other; which one decides the source's modality. Files in
first-level sub-folders are labelled by the sub-folder (the usual one-folder-per-class
layout); files directly in the folder are unlabelled (-1).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source, Split
from data_prep.sources.errors import SourceUnavailable
from pinet.io import decode_image, read_npy, signal_from_csv
from pinet.modality import Modality

UNLABELLED = -1


def read_npy_signal(path: Path) -> np.ndarray:
    """A `.npy` array `(C, T)` or `(T,)` (one channel) as `(C, T)` float64; never unpickles."""
    array = read_npy(path.read_bytes())
    if array.ndim not in (1, 2) or array.size == 0:
        raise ValueError(f"expected a non-empty (C, T) or (T,) array, got shape {array.shape}")
    return np.atleast_2d(array).astype(np.float64)


def read_csv_signal(path: Path) -> np.ndarray:
    """A `.csv` of T rows x C columns (optional header row) as `(C, T)`."""
    return signal_from_csv(path.read_bytes())


def read_image(path: Path) -> np.ndarray:
    """A PNG or JPEG as `(1, H, W)` (grey) or `(3, H, W)` (colour) uint8, alpha dropped."""
    return decode_image(path.read_bytes())[0]


READERS: dict[str, tuple[Modality, Callable[[Path], np.ndarray]]] = {
    ".npy": ("signal", read_npy_signal),
    ".csv": ("signal", read_csv_signal),
    ".png": ("image", read_image),
    ".jpg": ("image", read_image),
    ".jpeg": ("image", read_image),
}


def is_test_group(group: str, test_fraction: float) -> bool:
    """Whether `group` falls in the test split: a stable hash of its name, not a random draw."""
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


@dataclass(frozen=True)
class FileFolder(Source):
    """Every readable file under `path`, sorted by relative path.

    input: signals `(C, T)` float64 (`.npy` `(C, T)` or `(T,)`; `.csv` T rows x C columns),
    images `(1, H, W)` or `(3, H, W)` uint8. label: index of the first-level sub-folder among
    the sorted sub-folder names, or -1 for files directly in `path`. group: the relative path
    without extension (`cats/001`); id: `files/cats/001`. split: 'test' for about
    `test_fraction` of the groups, chosen by a hash of the group, so adding files never
    moves existing ones between splits.
    """

    name: ClassVar[str] = "files"

    path: str
    test_fraction: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError(f"test_fraction must be in [0, 1], got {self.test_fraction}")

    @property
    def modality(self) -> Modality:
        """'signal' or 'image', from the files the folder holds (a property, not a ClassVar)."""
        return self._folder_modality(self._data_files())

    def _data_files(self) -> list[Path]:
        """Paths relative to `path` of the files with a known suffix, sorted."""
        root = Path(self.path)
        if not root.is_dir():
            raise SourceUnavailable(f"{root} is not a folder; pass --option path=FOLDER")
        files = sorted(
            path.relative_to(root)
            for path in root.rglob("*")
            if path.is_file() and path.suffix.lower() in READERS
        )
        counts = Counter(file.with_suffix("").as_posix() for file in files)
        duplicates = sorted(group for group, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"{root}: several files share a name: {', '.join(duplicates)}")
        return files

    def _folder_modality(self, files: list[Path]) -> Modality:
        modalities = {READERS[file.suffix.lower()][0] for file in files}
        if len(modalities) != 1:
            found = "no .npy/.csv/.png/.jpg/.jpeg files" if not files else "signals and images"
            raise ValueError(f"{self.path}: expected one kind of data, found {found}")
        return modalities.pop()

    def samples(self) -> Iterator[Sample]:
        root = Path(self.path)
        files = self._data_files()
        self._folder_modality(files)
        classes = sorted({file.parts[0] for file in files if len(file.parts) > 1})
        for file in files:
            group = file.with_suffix("").as_posix()
            label = classes.index(file.parts[0]) if len(file.parts) > 1 else UNLABELLED
            split: Split = "test" if is_test_group(group, self.test_fraction) else "train"
            read = READERS[file.suffix.lower()][1]
            try:
                data, error = read(root / file), ""
            except (OSError, ValueError) as exc:
                data, error = np.empty(0), f"cannot read {file}: {exc}"
            yield Sample(f"files/{group}", data, label, group, split, error)
