"""The images and PIs of the image experiment: the classifier's training images, the test
images clean and under each noise level, and the PIs of every source a row fuses, each
computed once per run on first use.

Sources: `exact` (the store's PIs, and the recipe's of every noisy test set), `bundled` (the
Image PI-Net trained on photo crops, used as is), `FA` and `FS` (that PI-Net fine-tuned on
all of the target's training images, or on a seeded 10% of them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.data import Split
from experiments.finetune import FineTuning, fine_tuned, fs_subset, learned_pis
from experiments.noise import channel_std, noise_conditions
from experiments.results import CLEAN
from pinet.inference import LoadedModel, load_model
from pinet.tda import Recipe

EXACT, BUNDLED, FA, FS = "exact", "bundled", "FA", "FS"
SOURCES = (EXACT, BUNDLED, FA, FS)
PINET_MODEL = "image-photos"  # the bundled Image PI-Net (docs/training.md)
# Fine-tuning (its draws, its FS subset) is seeded once per run, not per classifier seed: a
# fine-tuned PI-Net is a fixed feature extractor for every seed, as the bundled one is.
FINE_TUNE_SEED = 0


def as_8bit(images: np.ndarray) -> np.ndarray:
    """Images clipped to [0, 1] and rounded to multiples of 1/255: a noisy image as an 8-bit
    file stores it, and what `image-raster`'s noise cut between 1/255 and 2/255 assumes
    (SPEC 2.3). Clean 8-bit images come back unchanged."""
    return (np.round(np.clip(images, 0.0, 1.0) * 255) / 255).astype(np.float32)


@dataclass(frozen=True)
class ImageData:
    """What the experiment runs on. `train`: the store's whole train split (fine-tuning
    draws from all of it); `classifier_rows`: the classifier's training images among them;
    `test`: the test split; `conditions`: condition -> test images `(N, C, H, W)`, clean
    and under each noise level."""

    train: Split
    classifier_rows: np.ndarray
    test: Split
    conditions: dict[str, np.ndarray]


def image_data(train: Split, test: Split, classifier_images: int | None, seed: int) -> ImageData:
    """The classifier's training images (`classifier_images` of the train split drawn by
    `seed`, or all) and the test sets: noise scaled to each channel's standard deviation over
    those training images, then stored as 8-bit images (`as_8bit`)."""
    rows = np.arange(len(train.labels))
    if classifier_images is not None and classifier_images < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, classifier_images, replace=False))
    scale = channel_std(train.inputs[rows])
    conditions = {name: as_8bit(x) for name, x in noise_conditions(test.inputs, scale)}
    return ImageData(train, rows, test, conditions)


@dataclass(frozen=True)
class PISet:
    """One source's PIs `(N, C, 50, 50)`: of the classifier's training images (`train`) and
    of each condition's test images (`test`); `mse`: per condition, their mean squared error
    against the exact PIs (empty for the exact source)."""

    train: np.ndarray
    test: dict[str, np.ndarray]
    mse: dict[str, float]


class PISources:
    """Every source's PIs for one run, each computed on first use and kept."""

    def __init__(self, data: ImageData, recipe: Recipe, tuning: FineTuning, threads: int) -> None:
        self.data, self.recipe, self.tuning, self.threads = data, recipe, tuning, threads
        self._sets: dict[str, PISet] = {}
        self._bundled: LoadedModel | None = None

    def get(self, source: str) -> PISet:
        """The PIs of `source` (one of SOURCES)."""
        if source not in SOURCES:
            raise ValueError(f"unknown PI source {source!r}; known: {', '.join(SOURCES)}")
        if source not in self._sets:
            self._sets[source] = self._exact() if source == EXACT else self._learned(source)
        return self._sets[source]

    def fs_rows(self) -> np.ndarray:
        """The train split's images FS fine-tunes on."""
        return fs_subset(len(self.data.train.labels), FINE_TUNE_SEED)

    def _exact(self) -> PISet:
        data = self.data
        test = {
            name: data.test.pis if name == CLEAN else self.recipe.images_batch(images)
            for name, images in data.conditions.items()
        }
        return PISet(data.train.pis[data.classifier_rows], test, {})

    def _learned(self, source: str) -> PISet:
        model = self._model(source)
        exact = self.get(EXACT).test
        data = self.data
        test = {name: learned_pis(model, images) for name, images in data.conditions.items()}
        mse = {name: float(np.mean((pis - exact[name]) ** 2)) for name, pis in test.items()}
        train = learned_pis(model, data.train.inputs[data.classifier_rows])
        return PISet(train, test, mse)

    def _model(self, source: str) -> LoadedModel:
        if self._bundled is None:
            self._bundled = load_model(PINET_MODEL, "cpu", backend="torch")
        if source == BUNDLED:
            return self._bundled
        train = self.data.train
        rows = np.arange(len(train.labels)) if source == FA else self.fs_rows()
        return fine_tuned(
            self._bundled,
            train.inputs[rows],
            train.pis[rows],
            self.tuning,
            FINE_TUNE_SEED,
            self.threads,
        )
