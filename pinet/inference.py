"""Use a trained PI-Net: load it by path or bundled name, predict PIs for raw inputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pinet.checkpoint import ModelCard, load_checkpoint
from pinet.model_inputs import network_inputs
from pinet.models import ImagePINet, SignalPINet

# Bundled models live in the repository's models/ folder; PINET_MODELS_DIR overrides it.
BUNDLED_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class LoadedModel:
    """A PI-Net in eval mode on its device, with the card that says what it expects."""

    network: SignalPINet | ImagePINet
    card: ModelCard
    device: torch.device


def models_dir() -> Path:
    return Path(os.environ.get("PINET_MODELS_DIR", BUNDLED_MODELS_DIR))


def bundled_model_names() -> list[str]:
    """Names of the models in the models directory (folders holding a card.json)."""
    folder = models_dir()
    return sorted(p.parent.name for p in folder.glob("*/card.json")) if folder.is_dir() else []


def load_model(path_or_name: str | os.PathLike[str], device: str = "auto") -> LoadedModel:
    """A checkpoint folder, or the name of a bundled model, loaded on `device`
    ('auto': CUDA when available, else CPU)."""
    path = Path(path_or_name)
    if not (path / "card.json").is_file():
        named = models_dir() / str(path_or_name)
        if not (named / "card.json").is_file():
            known = ", ".join(bundled_model_names()) or "none"
            raise FileNotFoundError(
                f"no checkpoint at {path} and no bundled model named {str(path_or_name)!r} "
                f"(bundled: {known})"
            )
        path = named
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    network, card = load_checkpoint(path, device)
    return LoadedModel(network, card, torch.device(device))


def predict(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    """`(C, 50, 50)` float32 PIs for one input `(C, T)` / `(C, H, W)`, or `(N, C, 50, 50)`
    for a batch; inputs are checked against the model card first."""
    card = model.card
    single = np.ndim(x) == len(card.input_shape)
    batch = np.asarray(x)[None] if single else np.asarray(x)
    check_against_card(batch, card)
    pis = forward_pis(model.network, network_inputs(batch, card.modality), model.device)
    return pis[0] if single else pis


def autocast(device: torch.device) -> torch.autocast:
    """bfloat16 autocast on CUDA (no loss scaling needed); plain float32 elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def forward_pis(network: torch.nn.Module, inputs: torch.Tensor, device: torch.device) -> np.ndarray:
    """`(N, C, 50, 50)` float32 PIs in [0, 1] from a batch of network inputs (see
    `pinet.model_inputs.network_inputs`): the one forward pass of prediction, evaluation
    and the service."""
    with autocast(device):
        pis = network(inputs.to(device, non_blocking=True))
    return pis.float().clamp_(0.0, 1.0).cpu().numpy()


def check_against_card(batch: np.ndarray, card: ModelCard) -> None:
    """ValueError naming the mismatch when a batch does not fit the model's card."""
    layout = "(C, T)" if card.modality == "signal" else "(C, H, W)"
    if batch.ndim != len(card.input_shape) + 1:
        raise ValueError(
            f"model {card.name!r} takes {'an image' if card.modality == 'image' else 'a signal'} "
            f"{layout} or a batch of them; "
            f"got an array of shape {batch.shape}"
        )
    channels = batch.shape[1]
    if not card.per_channel and channels != card.in_channels:  # per-channel: any count
        raise ValueError(
            f"{card.modality} has {channels} channels; model {card.name!r} expects "
            f"{card.in_channels}"
        )
    smallest = min(batch.shape[2:])
    if smallest < card.min_input_size:
        what = "length" if card.modality == "signal" else "side"
        raise ValueError(
            f"{card.modality} {what} is {smallest}; model {card.name!r} needs at least "
            f"{card.min_input_size}"
        )
