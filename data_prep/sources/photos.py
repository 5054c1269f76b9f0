"""CIFAR-shaped 32 x 32 RGB crops of real colour photos that ship with scikit-image and
scikit-learn, so an image data set exists on a machine with no internet; and crops of the
real grey pictures scikit-image ships, to evaluate on (`grey-pictures`).

Photos (all colour; all load from the installed packages, none needs a download):
astronaut, chelsea, coffee, hubble_deep_field, immunohistochemistry, retina, rocket,
stereo_motorcycle (left view) from `skimage.data`; china, flower from sklearn
`load_sample_image`. Each photo's right band (TEST_BAND_FRACTION of its width) is reserved
for test crops and the rest for train crops; no crop straddles the boundary, so no pixel
is in both splits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from data_prep.sources.base import Sample, Source, Split
from data_prep.sources.errors import SourceUnavailable
from pinet.modality import Modality

INSTALL_COMMAND = "pip install scikit-image scikit-learn"
SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    "stereo_motorcycle",
)
SKLEARN_PHOTOS = ("china", "flower")
# Label i is the crop's photo PHOTO_NAMES[i].
PHOTO_NAMES = tuple(sorted(SKIMAGE_PHOTOS + SKLEARN_PHOTOS))
# The grey pictures of `skimage.data` that load without a download and are wide enough for
# a test band: textures (brick, grass, gravel), a microscope's cells, coins, a clock, the
# cameraman, the moon, printed text and a scanned page. None is one of the photos.
GREY_PICTURE_NAMES = (
    "brick",
    "camera",
    "cell",
    "clock",
    "coins",
    "grass",
    "gravel",
    "moon",
    "page",
    "text",
)

CROP_SIZE = 32  # CIFAR-10's image size, the Image PI-Net's input: the default crop side
# Right fifth of each photo for test, matching the default 400 train : 100 test crops.
TEST_BAND_FRACTION = 0.2


@functools.lru_cache(maxsize=len(PHOTO_NAMES))
def load_photo(name: str) -> np.ndarray:
    """Photo `name` as `(H, W, 3)` uint8, read-only, loaded once per process."""
    try:
        import skimage.data
        from sklearn.datasets import load_sample_image
    except ImportError as exc:
        raise SourceUnavailable(f"photos need {exc.name}; run `{INSTALL_COMMAND}`") from exc
    if name in SKLEARN_PHOTOS:
        photo = load_sample_image(f"{name}.jpg")
    elif name == "stereo_motorcycle":
        photo = skimage.data.stereo_motorcycle()[0]  # (left, right, disparity)
    elif name in SKIMAGE_PHOTOS:
        photo = getattr(skimage.data, name)()
    else:
        raise ValueError(f"unknown photo {name!r}; known: {', '.join(PHOTO_NAMES)}")
    if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"photo {name!r} is {photo.shape} {photo.dtype}, not (H, W, 3) uint8")
    photo.setflags(write=False)
    return photo


@functools.lru_cache(maxsize=len(GREY_PICTURE_NAMES))
def load_grey_picture(name: str) -> np.ndarray:
    """Grey picture `name` of `skimage.data` as `(H, W, 1)` uint8, read-only, loaded once."""
    if name not in GREY_PICTURE_NAMES:
        raise ValueError(f"unknown grey picture {name!r}; known: {', '.join(GREY_PICTURE_NAMES)}")
    try:
        import skimage.data
    except ImportError as exc:
        raise SourceUnavailable(f"grey pictures need {exc.name}; run `{INSTALL_COMMAND}`") from exc
    picture = getattr(skimage.data, name)()
    if picture.dtype != np.uint8 or picture.ndim != 2:
        raise ValueError(f"picture {name!r} is {picture.shape} {picture.dtype}, not (H, W) uint8")
    picture = picture[:, :, None]
    picture.setflags(write=False)
    return picture


def load_picture(name: str) -> np.ndarray:
    """Photo or grey picture `name` as `(H, W, channels)` uint8, read-only."""
    return load_grey_picture(name) if name in GREY_PICTURE_NAMES else load_photo(name)


@functools.lru_cache(maxsize=len(PHOTO_NAMES) + len(GREY_PICTURE_NAMES))
def downscaled_photo(name: str, factor: int) -> np.ndarray:
    """Photo or grey picture `name` shrunk `factor` times on each side, each pixel the
    rounded mean of a `factor` x `factor` block (rows and columns past the last whole block
    are dropped)."""
    photo = load_picture(name)
    if factor == 1:
        return photo
    height, width = photo.shape[0] // factor, photo.shape[1] // factor
    channels = photo.shape[2]
    blocks = photo[: height * factor, : width * factor].reshape(
        height, factor, width, factor, channels
    )
    shrunk = np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)
    shrunk.setflags(write=False)
    return shrunk


def split_boundary(width: int) -> int:
    """First column of the test band (the right part) of a photo `width` pixels wide."""
    return width - round(width * TEST_BAND_FRACTION)


def split_columns(width: int, factor: int) -> tuple[int, int]:
    """(end of the train band, start of the test band), in columns of the photo of full
    `width` shrunk `factor` times: a shrunk column averages full columns, so neither band
    may hold one that averages across the full photo's boundary, and no pixel of a full
    photo's train band reaches a test crop at any scale (or the other way round)."""
    boundary = split_boundary(width)
    return boundary // factor, -(-boundary // factor)


@dataclass(frozen=True)
class Crop:
    """Where one sample comes from: rows `top:top+size`, columns `left:left+size` of
    `photo` at its source's scale."""

    photo: str
    split: Split
    index: int
    top: int
    left: int


@dataclass(frozen=True)
class PhotoCrops(Source):
    """`train_per_photo` + `test_per_photo` random crops of each photo, photo by photo.

    input: `(3, size, size)` uint8 (`size` 32 by default; other sides test a model on sizes
    it was not trained on). `downscale` k > 1 crops the photo shrunk k times, so that a crop
    holds a k times wider view (whole objects and their edges, as in CIFAR-10's thumbnails,
    rather than a patch of one surface). label: index of the photo in PHOTO_NAMES. group:
    `photo/split` (`chelsea/train`): the photo's train or test region, because a group must
    not straddle splits and each photo feeds both. id: `photos/chelsea/test/0042`.
    Crop positions are uniform within the region, drawn from `seed` and the photo's index.
    """

    name: ClassVar[str] = "photos"
    modality: ClassVar[Modality] = "image"
    # The pictures cropped, in label order.
    pictures: ClassVar[tuple[str, ...]] = PHOTO_NAMES

    seed: int = 0
    train_per_photo: int = 400
    test_per_photo: int = 100
    size: int = CROP_SIZE
    downscale: int = 1

    def __post_init__(self) -> None:
        if min(self.seed, self.train_per_photo, self.test_per_photo) < 0:
            raise ValueError("seed, train_per_photo and test_per_photo must be >= 0")
        if self.size < 1 or self.downscale < 1:
            raise ValueError(
                f"size and downscale must be >= 1, got {self.size} and {self.downscale}"
            )

    def photo(self, name: str) -> np.ndarray:
        """Photo `name` at this source's scale, the one its crops' positions refer to."""
        return downscaled_photo(name, self.downscale)

    def crops(self) -> list[Crop]:
        """Every crop's position, in yield order."""
        crops = []
        for label, photo in enumerate(self.pictures):
            height, width, _ = self.photo(photo).shape
            train_end, test_start = split_columns(load_picture(photo).shape[1], self.downscale)
            rng = np.random.default_rng([self.seed, label])
            regions: dict[Split, tuple[int, int, int]] = {
                "train": (0, train_end - self.size, self.train_per_photo),
                "test": (test_start, width - self.size, self.test_per_photo),
            }
            for split, (first_left, last_left, count) in regions.items():
                if last_left < first_left or height < self.size:
                    raise ValueError(
                        f"size {self.size} does not fit the {split} region of {photo} "
                        f"({last_left - first_left + self.size} x {height} pixels)"
                    )
                tops = rng.integers(0, height - self.size, size=count, endpoint=True)
                lefts = rng.integers(first_left, last_left, size=count, endpoint=True)
                crops += [
                    Crop(photo, split, index, int(top), int(left))
                    for index, (top, left) in enumerate(zip(tops, lefts, strict=True))
                ]
        return crops

    def samples(self) -> Iterator[Sample]:
        for crop in self.crops():
            pixels = self.photo(crop.photo)[
                crop.top : crop.top + self.size, crop.left : crop.left + self.size
            ]
            yield Sample(
                id=f"{self.name}/{crop.photo}/{crop.split}/{crop.index:04d}",
                input=np.ascontiguousarray(pixels.transpose(2, 0, 1)),
                label=self.pictures.index(crop.photo),
                group=f"{crop.photo}/{crop.split}",
                split=crop.split,
            )


@dataclass(frozen=True)
class GreyPictureCrops(PhotoCrops):
    """Crops of the ten grey pictures GREY_PICTURE_NAMES, as PhotoCrops crops the photos:
    input `(1, size, size)` uint8, label the picture's index there, id
    `grey-pictures/brick/test/0042`, the right fifth of each picture for test. Real images
    of kinds no model trains on (textures, microscopy, print, the moon): a source to
    evaluate on."""

    name: ClassVar[str] = "grey-pictures"
    pictures: ClassVar[tuple[str, ...]] = GREY_PICTURE_NAMES

    train_per_photo: int = 100
