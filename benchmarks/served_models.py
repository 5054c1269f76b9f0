"""The models `benchmarks/service_load.py` serves: bundled ones by name or checkpoint
folders, each linked alone into a models directory of its own (a server serves every model
of its directory), or a random-weight checkpoint of a given size."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.inference import architecture_summary, random_network, takes_benchmark_inputs
from benchmarks.inputs import CHANNELS, WINDOW
from pinet.card import ModelCard
from pinet.checkpoint import read_card, save_checkpoint
from pinet.nets import TRUNK_WIDTHS
from service.serving.registry import default_models


@dataclass(frozen=True)
class ServedCheckpoint:
    """A model to serve: its card, a models directory holding it alone, and whether its
    weights are random."""

    card: ModelCard
    folder: Path
    throwaway: bool = False

    def describe(self) -> str:
        """One line: name, size, stored dtype, weights and training data."""
        card = self.card
        origin = "random weights, " if self.throwaway else ""
        return (
            f"'{card.name}', {architecture_summary(card)}, {card.dtype}, {origin}recipe "
            f"{card.recipe.name}, data {card.data_source.name}"
        )


def signal_cards(folder: Path) -> dict[str, tuple[ModelCard, Path]]:
    """The signal models of a models directory, by name, with their folders."""
    found = ((read_card(p.parent), p.parent) for p in sorted(folder.glob("*/card.json")))
    return {card.name: (card, path) for card, path in found if card.modality == "signal"}


def find_model(name: str | None, models: Path) -> tuple[ModelCard, Path] | None:
    """Checkpoint folder `name`, else model `name` of `models`, else (no name) the signal
    model the service answers with on a CPU (`default_models`); None when it has none."""
    if name is not None and (Path(name) / "card.json").is_file():
        return read_card(Path(name)), Path(name)
    cards = signal_cards(models) if models.is_dir() else {}
    if name is None:
        if not cards:
            return None
        signals = {model: card for model, (card, _) in cards.items()}
        sizes = {model: card.build_network().parameter_count for model, card in signals.items()}
        return cards[default_models(signals, sizes, {}, cuda=False)["signal"]]
    if name not in cards:
        known = ", ".join(cards) or "none"
        raise SystemExit(
            f"no checkpoint folder {name} and no signal model {name!r} in {models} "
            f"(signal models: {known})"
        )
    return cards[name]


def served_checkpoints(args: argparse.Namespace, temp: Path) -> list[ServedCheckpoint]:
    """Each model to serve, linked alone into a models directory of its own under `temp`."""
    found = [] if args.widths else [find_model(name, args.models_dir) for name in args.model]
    if not found or found[0] is None:
        torch.manual_seed(0)
        network, card = random_network("signal", args.widths or TRUNK_WIDTHS)
        save_checkpoint(network, card, temp / "models-0" / card.name, dtype=torch.float16)
        return [ServedCheckpoint(card, temp / "models-0", throwaway=True)]
    served = []
    for index, (card, path) in enumerate(m for m in found if m is not None):
        if card.modality != "signal" or not takes_benchmark_inputs(card):
            raise SystemExit(
                f"model {card.name!r} ({card.modality}, {card.in_channels} channels) does "
                f"not take the {CHANNELS}x{WINDOW} signals this benchmark sends"
            )
        folder = temp / f"models-{index}"
        folder.mkdir()
        (folder / card.name).symlink_to(path.resolve(), target_is_directory=True)
        served.append(ServedCheckpoint(card, folder))
    return served


def request_bodies(model_name: str, windows: np.ndarray) -> list[bytes]:
    """JSON request bodies for /v1/signals/pi naming the model, one per `(3, 250)` window."""
    return [json.dumps({"signal": w.tolist(), "model": model_name}).encode() for w in windows]
