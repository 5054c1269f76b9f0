"""The two kinds of input pinet takes, defined once: signals `(C, T)` and images `(C, H, W)`.

Everything that depends on the modality alone (how an input is laid out, how many spatial
axes it has, what its size is called in a message, which route serves it) lives here, so
that the recipes, the networks, the checkpoint cards, the batch job and the service agree.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

Modality = Literal["signal", "image"]
MODALITIES: tuple[Modality, ...] = get_args(Modality)

# One input without the batch axis: channels first, then the spatial axes.
INPUT_AXES: dict[Modality, tuple[str, ...]] = {"signal": ("C", "T"), "image": ("C", "H", "W")}
SPATIAL_DIMS: dict[Modality, int] = {m: len(axes) - 1 for m, axes in INPUT_AXES.items()}
# What the smallest spatial extent of an input is called: a signal's length, an image's side.
SIZE_NAMES: dict[Modality, str] = {"signal": "length", "image": "side"}
# The plural that names a modality's resource in the service's routes: /v1/signals/pi.
PLURALS: dict[Modality, str] = {"signal": "signals", "image": "images"}


def check_modality(name: str) -> Modality:
    """`name` as a Modality; ValueError naming the known ones otherwise."""
    if name not in MODALITIES:
        raise ValueError(f"unknown modality {name!r}; expected one of {', '.join(MODALITIES)}")
    return name  # type: ignore[return-value]


def layout(modality: Modality, *, batched: bool = False) -> str:
    """The axes of an input as a message writes them: '(C, T)', or '(N, C, H, W)' batched."""
    axes = ("N", *INPUT_AXES[modality]) if batched else INPUT_AXES[modality]
    return f"({', '.join(axes)})"


def input_ndim(modality: Modality, *, batched: bool = False) -> int:
    """Axes of one input (2 for a signal, 3 for an image), one more for a batch."""
    return len(INPUT_AXES[modality]) + int(batched)


def with_channel_axis(x: np.ndarray, modality: Modality) -> np.ndarray:
    """One input of one axis fewer, a `(T,)` signal or an `(H, W)` image, as one channel,
    `(1, T)` / `(1, H, W)`; any other array as it is. What the recipes, `pinet.predict` and
    the service all read a bare input as."""
    return x[None] if x.ndim == input_ndim(modality) - 1 else x


def check_channels_and_size(
    shape: tuple[int, ...],
    modality: Modality,
    *,
    channels: int,
    per_channel: bool,
    min_size: int,
    taker: str,
) -> None:
    """ValueError naming the mismatch unless a batch of `shape` `(N, C, *S)` has `channels`
    channels (any count when `per_channel`) and no spatial extent below `min_size`. `taker`
    names who refuses it in the message ("model 'signal-hapt'", "SignalPINet")."""
    if not per_channel and shape[1] != channels:
        raise ValueError(f"{modality} has {shape[1]} channels; {taker} expects {channels}")
    smallest = min(shape[2:])
    if smallest < min_size:
        raise ValueError(
            f"{modality} {SIZE_NAMES[modality]} is {smallest}; {taker} needs at least {min_size}"
        )
