"""Training on several ground-truth stores at once: a mixture of components, each a store
with a weight, sampled so that a share `weight` of the batches comes from each.

Each batch is drawn from one store, so it holds inputs of one shape: stores are the buckets
that let one model learn signals of many lengths or images of many sizes (per-channel
models learn many channel counts too). A store's own order is its `ChunkWindowSampler`'s, so
chunks are read once per pass; a store sampled faster than its size is passed over again
in a fresh order. The batches of an epoch depend only on (seed, epoch): resumption stays
exact. One component gives exactly the batches of a plain shuffled loader over its store.

A component's samples are labelled by their exact PIs, or, for distillation, by the
teachers alone (`pinet distill --teacher-labelled`): then only its inputs are used, and its
store may hold any recipe's PIs. Where exact PIs are expensive (Rips), that is how a
student learns from many more inputs than the exact recipe could label.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pinet.modality import Modality
from pinet.store import GroundTruthStore
from pinet.train.data import ChunkWindowSampler, Samples, StoreSamples

Labels = Literal["exact", "teachers"]


@dataclass(frozen=True)
class Component:
    """One store of a mixture, its weight (None: in proportion to its training size), and
    who labels its samples: its exact PIs, or the teachers of a distillation alone."""

    path: Path
    weight: float | None = None
    labels: Labels = "exact"

    @classmethod
    def parse(cls, text: str, labels: Labels = "exact") -> Component:
        """`STORE` or `STORE:WEIGHT`, as `pinet train --data` takes them."""
        path, _, weight = text.rpartition(":")
        if not path:
            return cls(Path(text), labels=labels)
        try:
            value = float(weight)
        except ValueError:
            return cls(Path(text), labels=labels)  # a colon inside the path itself
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"the weight of a store must be a positive number: {text!r}")
        return cls(Path(path), value, labels)


def open_stores(components: Sequence[Component], modality: Modality) -> list[GroundTruthStore]:
    """The components' stores, checked to be complete, of `modality`, of distinct labels
    (metrics name them), and, those labelled by their exact PIs, of one recipe with the same
    parameters (a model learns one recipe): the first component's, which must be one."""
    if not components:
        raise ValueError("training needs at least one store")
    if components[0].labels != "exact":
        raise ValueError(
            "the first store gives the run its recipe: it must hold the exact PIs to learn"
        )
    given = [c.weight is not None for c in components]
    if any(given) and not all(given):
        raise ValueError("give every store of a mixture a weight (STORE:WEIGHT), or none")
    stores = []
    for component in components:
        store = GroundTruthStore.open(component.path)
        if not store.complete:
            raise ValueError(f"{component.path} is not complete; finish it with data_prep first")
        if store.recipe.modality != modality:
            raise ValueError(
                f"{component.path} holds {store.recipe.modality} ground truth, not {modality}"
            )
        exact = component.labels == "exact"
        if exact and stores and store.job["recipe"] != stores[0].job["recipe"]:
            raise ValueError(
                f"{component.path} holds {store.job['recipe']} ground truth but "
                f"{stores[0].path} holds {stores[0].job['recipe']}: one model, one recipe"
            )
        if any(other.label == store.label for other in stores):
            raise ValueError(f"two stores are called {store.label!r}; rename one")
        stores.append(store)
    return stores


def mixture_weights(components: Sequence[Component], sizes: Sequence[int]) -> np.ndarray:
    """Each component's share of the batches: its weight, else its share of the samples."""
    if any(size == 0 for size in sizes):
        empty = [str(c.path) for c, size in zip(components, sizes, strict=True) if not size]
        raise ValueError(f"no training samples in {', '.join(empty)}")
    pairs = zip(components, sizes, strict=True)
    raw = np.array([size if c.weight is None else c.weight for c, size in pairs], dtype=float)
    return raw / raw.sum()


class MixtureSamples(Dataset):
    """The samples of several stores as one dataset: position `offsets[k] + i` is sample `i`
    of part `k`. A batch must come from one part (as `MixtureBatchSampler` draws them)."""

    def __init__(self, parts: Sequence[Samples]) -> None:
        self.parts = list(parts)
        self.offsets = np.cumsum([0, *(len(part) for part in self.parts)])
        self.device = self.parts[0].device

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        part = int(np.searchsorted(self.offsets, positions[0], side="right")) - 1
        start, stop = self.offsets[part], self.offsets[part + 1]
        if not all(start <= p < stop for p in positions):
            raise ValueError("a batch of a mixture must come from one store")
        return self.parts[part].__getitems__([p - int(start) for p in positions])


class MixtureBatchSampler(Sampler[list[int]]):
    """Batches of a `MixtureSamples`, each from one part chosen with probability `weights`;
    `epoch_samples` samples per epoch (0: as many as the parts hold together). Set `epoch`
    before iterating."""

    def __init__(
        self,
        parts: Sequence[StoreSamples],
        weights: np.ndarray,
        batch_size: int,
        seed: int,
        epoch_samples: int = 0,
    ) -> None:
        self.orders = [ChunkWindowSampler(part, seed) for part in parts]
        self.offsets = np.cumsum([0, *(len(part) for part in parts)])
        self.weights = weights
        self.batch_size = batch_size
        self.seed = seed
        self.epoch_samples = epoch_samples or int(self.offsets[-1])
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.epoch_samples / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        streams = [self._stream(k) for k in range(len(self.orders))]
        choices = np.random.default_rng([self.seed, self.epoch, len(self.orders)])
        remaining = self.epoch_samples
        while remaining > 0:
            size = min(self.batch_size, remaining)
            part = int(choices.choice(len(self.orders), p=self.weights))
            yield [int(self.offsets[part]) + next(streams[part]) for _ in range(size)]
            remaining -= size

    def _stream(self, part: int) -> Iterator[int]:
        """Part `part`'s positions in shuffled passes, endlessly: the first pass of part 0 is
        the plain `ChunkWindowSampler` order of the epoch, so one store trains as before."""
        passes = 0
        while True:
            key = (self.epoch,) if part == 0 and passes == 0 else (self.epoch, part, passes)
            yield from self.orders[part].order(*key)
            passes += 1


def describe_mixture(
    components: Sequence[Component],
    stores: Sequence[GroundTruthStore],
    weights: np.ndarray,
    sizes: Sequence[int],
) -> list[dict[str, Any]]:
    """What a card records of each component: store, source, input shape, weight, size, and
    who labelled it."""
    return [
        {
            "store": str(store.path),
            "source": store.job["source"],
            "input_shape": list(store.attrs["input_shape"]),
            "weight": float(weight),
            "train_samples": int(size),
            "labels": component.labels,
        }
        for component, store, weight, size in zip(components, stores, weights, sizes, strict=True)
    ]
