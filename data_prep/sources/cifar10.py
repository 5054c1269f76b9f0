"""CIFAR-10 (Krizhevsky 2009) from the user's own copy of the binary version.

No package ships CIFAR-10; the binary version (`cifar-10-binary.tar.gz`, unpacked to
`cifar-10-batches-bin/`) is plain bytes, so reading it needs no unpickling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source, Split
from data_prep.sources.errors import SourceUnavailable
from pinet.modality import Modality

DOWNLOAD_HINT = (
    "download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, "
    "run `tar xzf cifar-10-binary.tar.gz` and pass --option path=.../cifar-10-batches-bin"
)
SPLIT_FILES: dict[Split, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
# Record layout of the binary version (CIFAR page): 1 label byte, then the 32 x 32 red,
# green and blue planes, row-major.
IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + int(np.prod(IMAGE_SHAPE))
CLASS_NAMES = (  # batches.meta.txt, label i is CLASS_NAMES[i]
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images `(N, 3, 32, 32)` uint8 and labels `(N,)` uint8 of one binary CIFAR-10 batch."""
    data = np.fromfile(path, dtype=np.uint8)
    if data.size % RECORD_BYTES:
        raise ValueError(f"{path}: {data.size} bytes is not a whole number of 3073-byte records")
    records = data.reshape(-1, RECORD_BYTES)
    labels = records[:, 0]
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise ValueError(f"{path}: label {labels.max()} outside 0..9; not a CIFAR-10 batch")
    return records[:, 1:].reshape(-1, *IMAGE_SHAPE), labels


@dataclass(frozen=True)
class Cifar10(Source):
    """The 50 000 train (data_batch_1..5) then 10 000 test (test_batch) images, in file order.

    input: `(3, 32, 32)` uint8. label: 0..9 (CLASS_NAMES). group: the sample id.
    id: `cifar10/train/00042`, numbered across the train batches. Option `path` (required):
    the `cifar-10-batches-bin` folder.
    """

    name: ClassVar[str] = "cifar10"
    modality: ClassVar[Modality] = "image"

    path: str

    def _split_files(self) -> dict[Split, list[Path]]:
        folder = Path(self.path)
        files = {split: [folder / name for name in names] for split, names in SPLIT_FILES.items()}
        missing = [path.name for paths in files.values() for path in paths if not path.is_file()]
        if missing:
            raise SourceUnavailable(f"{folder} lacks {', '.join(missing)}; {DOWNLOAD_HINT}")
        return files

    def samples(self) -> Iterator[Sample]:
        for split, paths in self._split_files().items():
            index = 0
            for path in paths:
                images, labels = read_cifar_batch(path)
                for image, label in zip(images, labels, strict=True):
                    sample_id = f"cifar10/{split}/{index:05d}"
                    # A copy, so a sample kept downstream does not pin its 30 MB batch.
                    yield Sample(sample_id, image.copy(), int(label), sample_id, split)
                    index += 1
