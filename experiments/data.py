"""The labelled data sets of the experiments, as ground-truth stores made by the batch job
(`data_prep`) and kept under `runs/experiments/data/`, so that every experiment reads the same
windows and exact PIs and a second run computes nothing.

A quick run uses an evenly spread subset (`--limit` of the job) in a store of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_prep import job
from data_prep.sources import get_source
from pinet.store import GroundTruthStore
from pinet.tda import get_recipe

DATA_FOLDER = "data"  # under the experiments' root folder


@dataclass(frozen=True)
class StoreSpec:
    """A ground-truth store an experiment needs: source, its options, recipe, and how many
    samples a quick run keeps."""

    source: str
    options: dict[str, str]
    recipe: str
    quick_limit: int

    def name(self, quick: bool) -> str:
        options = "-".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.source}-{options}-{self.recipe}{'-quick' if quick else ''}.zarr"


# 250-sample (5 s) windows of HAPT's accelerometer, half overlapping, official test users.
HAPT_ACC = StoreSpec("hapt", {"sensor": "acc"}, "signal-sublevel", quick_limit=600)
FASHION_MNIST = StoreSpec("fashion-mnist", {}, "image-raster", quick_limit=600)


def ground_truth(spec: StoreSpec, root: Path, quick: bool) -> GroundTruthStore:
    """The store of `spec` under `root/data/`, computed (or finished) first if need be.

    A complete store is only read, without the job's writer lock, so that experiments running
    at once can share it (the lock refuses a second writer even when there is nothing to write).
    """
    path = root / DATA_FOLDER / spec.name(quick)
    finished = _complete_store(path)
    if finished is not None:
        return finished
    job.run(
        get_source(spec.source, spec.options),
        get_recipe(spec.recipe),
        path,
        limit=spec.quick_limit if quick else None,
        progress=False,
    )
    return GroundTruthStore.open(path)


def _complete_store(path: Path) -> GroundTruthStore | None:
    """The finished store at `path`, opened to read; None for anything else, which is left to
    the job to make, resume, rebuild or refuse."""
    try:
        store = GroundTruthStore.open(path)
    except (FileNotFoundError, ValueError):
        return None
    return store if store.complete else None


@dataclass(frozen=True)
class Split:
    """One split of a store in memory: inputs `(N, C, *S)` float32 (images in [0, 1]), exact PIs
    `(N, C, 50, 50)`, labels `(N,)` from 0, and the group (user, photo) of each sample."""

    inputs: np.ndarray
    pis: np.ndarray
    labels: np.ndarray
    groups: np.ndarray


def load_split(store: GroundTruthStore, split: str) -> Split:
    """The usable samples of one split; labels are renumbered from 0 in sorted order of the
    store's labels (HAPT's activities 1..6 become 0..5), so both splits agree."""
    rows = store.usable_indices(split)
    inputs = store["inputs"][rows]
    scale = 255.0 if inputs.dtype == np.uint8 else 1.0
    every_label = np.unique(store["labels"][:][store.usable_indices()])
    return Split(
        inputs=(inputs / scale).astype(np.float32),
        pis=np.asarray(store["pis"][rows], dtype=np.float32),
        labels=np.searchsorted(every_label, store["labels"][:][rows]),
        groups=store["groups"][:][rows],
    )


def describe(store: GroundTruthStore, *splits: tuple[str, Split]) -> dict[str, Any]:
    """What a result was computed on: the store, its job (source, recipe, parameters) and the
    size of each split used."""
    return {
        "store": str(store.path),
        "job": store.job,
        "splits": {name: len(split.labels) for name, split in splits},
    }
