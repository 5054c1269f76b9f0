"""A training run's data: its stores opened, checked against the run's options, and each
split by group into the samples it trains on and those that validate it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pinet.modality import Modality
from pinet.tda import Recipe
from pinet.train.config import TrainConfig
from pinet.train.data import ResidentSamples, Samples, StoreSamples, split_by_group
from pinet.train.losses import Objective
from pinet.train.mixture import Component, describe_mixture, mixture_weights, open_stores
from pinet.train.preflight import refuse_what_the_recipe_breaks
from pinet.train.run_card import TrainedOn


@dataclass(frozen=True)
class RunData:
    """A run's stores, each split by group into what it trains on and what validates it."""

    recipe: Recipe  # one per run (`open_stores`)
    channels: int  # the first store's: a mixture of several counts is per channel
    exact: list[bool]  # per store: trained on its exact PIs (else a teacher labels it)
    train_streams: list[StoreSamples]
    val_streams: list[StoreSamples]  # the exact stores' only
    val_labels: list[str]
    weights: np.ndarray  # the mixture's, per store
    trained_on: TrainedOn

    def samples(self, device: torch.device | None) -> tuple[list[Samples], list[Samples]]:
        """The training and validation samples: read from the stores as batches ask, or,
        given a `device`, all loaded onto it first (`--preload`)."""
        if device is None:
            return list(self.train_streams), list(self.val_streams)
        return (
            [ResidentSamples(part, device) for part in self.train_streams],
            [ResidentSamples(part, device) for part in self.val_streams],
        )


def open_run_data(
    data: str | Path | Sequence[Component],
    modality: Modality,
    config: TrainConfig,
    objective: Objective,
) -> RunData:
    """Open `data`'s stores for a run, refusing what their recipe or channels rule out."""
    components = [Component(Path(data))] if isinstance(data, str | Path) else list(data)
    stores = open_stores(components, modality)
    if not config.per_channel and len({store.channels for store in stores}) > 1:
        raise ValueError(
            "the stores have different channel counts; a mixture of them needs --per-channel"
        )
    recipe = stores[0].recipe
    refuse_what_the_recipe_breaks(recipe, config, objective)
    splits = [split_by_group(store, config.val_fraction, config.seed) for store in stores]
    # A teacher-labelled store's PIs are never read, and its held-out groups go unused:
    # validation scores the exact PIs.
    exact = [component.labels == "exact" for component in components]
    train_streams = [
        StoreSamples(s, t, modality, with_pis=e)
        for s, (t, _), e in zip(stores, splits, exact, strict=True)
    ]
    validated = [(s, v) for s, (_, v), e in zip(stores, splits, exact, strict=True) if e]
    sizes = [len(stream) for stream in train_streams]
    weights = mixture_weights(components, sizes)
    mixture = describe_mixture(components, stores, weights, sizes)
    return RunData(
        recipe=recipe,
        channels=stores[0].channels,
        exact=exact,
        train_streams=train_streams,
        val_streams=[StoreSamples(s, v, modality) for s, v in validated],
        val_labels=[store.label for store, _ in validated],
        weights=weights,
        trained_on=TrainedOn(stores, mixture, config.crop_min_size),
    )
