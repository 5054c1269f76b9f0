"""Fashion-MNIST (Xiao et al. 2017, MIT): 70 000 grey 28 x 28 images of 10 clothing classes.

Read from the IDX files of Debian's `dataset-fashion-mnist` package.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source, Split
from data_prep.sources.errors import SourceUnavailable
from pinet.modality import Modality

INSTALL_COMMAND = "apt-get install dataset-fashion-mnist"
DEFAULT_FOLDER = "/usr/share/datasets/fashion-mnist"  # where the Debian package puts them
SPLIT_FILES: dict[Split, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# Label i is CLASS_NAMES[i] (Fashion-MNIST README).
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# IDX magic numbers (LeCun's MNIST page): 0x0000 08 NN = unsigned bytes, NN dimensions.
IDX_UBYTE_MAGIC = {1: 0x00000801, 3: 0x00000803}


def read_idx(path: Path, dimensions: int) -> np.ndarray:
    """A gzipped IDX file of unsigned bytes with `dimensions` axes, as a uint8 array."""
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    header_size = 4 * (1 + dimensions)
    magic, *shape = np.frombuffer(data, dtype=">u4", count=1 + dimensions).tolist()
    if magic != IDX_UBYTE_MAGIC[dimensions]:
        raise ValueError(f"{path}: magic {magic:#010x} is not a {dimensions}-d IDX of bytes")
    if len(data) != header_size + int(np.prod(shape)):
        raise ValueError(f"{path}: {len(data)} bytes do not hold an array of shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


@dataclass(frozen=True)
class FashionMnist(Source):
    """60 000 train then 10 000 test images in file order.

    input: `(1, 28, 28)` uint8. label: 0..9 (CLASS_NAMES). group: the sample id.
    id: `fashion-mnist/train/00042`. Option `path`: the folder holding the four `.gz` files.
    """

    name: ClassVar[str] = "fashion-mnist"
    modality: ClassVar[Modality] = "image"

    path: str = DEFAULT_FOLDER

    def _split_files(self) -> dict[Split, tuple[Path, Path]]:
        folder = Path(self.path)
        files = {
            split: (folder / images, folder / labels)
            for split, (images, labels) in SPLIT_FILES.items()
        }
        missing = [str(path) for pair in files.values() for path in pair if not path.is_file()]
        if missing:
            raise SourceUnavailable(
                f"Fashion-MNIST files missing: {', '.join(missing)}; run `{INSTALL_COMMAND}` "
                f"(as root), or pass the folder holding them as option path"
            )
        return files

    def samples(self) -> Iterator[Sample]:
        for split, (images_path, labels_path) in self._split_files().items():
            images = read_idx(images_path, dimensions=3)
            labels = read_idx(labels_path, dimensions=1)
            if len(images) != len(labels):
                raise ValueError(f"{images_path}: {len(images)} images but {len(labels)} labels")
            for index, (image, label) in enumerate(zip(images, labels, strict=True)):
                sample_id = f"fashion-mnist/{split}/{index:05d}"
                # A writable copy rather than a view of the read-only file buffer.
                yield Sample(sample_id, image[np.newaxis].copy(), int(label), sample_id, split)
