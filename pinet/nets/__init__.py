"""PI-Net architectures by family, and the one registry that builds them.

A family is a way of turning raw inputs into PIs (the released PI-Net, a student with a
cheaper head, ...), with one `PINet` subclass per modality it supports. A checkpoint card
names the family and records its options (`PINet.architecture`), so adding a family means
adding its module and a line here; the loader never changes.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pinet.modality import Modality, check_modality
from pinet.nets.base import HeadActivation, PINet
from pinet.nets.layers import TRUNK_WIDTHS, Widths, minimum_input_size, reversed_spatially
from pinet.nets.lowrank import LowRankImagePINet, LowRankSignalPINet
from pinet.nets.pinet import ImagePINet, SignalPINet
from pinet.nets.raster import RasterImagePINet

__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "TRUNK_WIDTHS",
    "HeadActivation",
    "ImagePINet",
    "LowRankImagePINet",
    "LowRankSignalPINet",
    "PINet",
    "RasterImagePINet",
    "SignalPINet",
    "Widths",
    "build_network",
    "minimum_input_size",
    "network_class",
    "reversed_spatially",
]

DEFAULT_FAMILY = "pinet"
FAMILIES: Mapping[str, Mapping[Modality, type[PINet]]] = MappingProxyType(
    {
        "pinet": {"signal": SignalPINet, "image": ImagePINet},
        "lowrank": {"signal": LowRankSignalPINet, "image": LowRankImagePINet},
        "raster": {"image": RasterImagePINet},
    }
)
# What every family's constructor takes besides its own options: the input contract.
_CONTRACT = ("self", "in_channels", "per_channel")
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def network_class(family: str, modality: str) -> type[PINet]:
    """The class of `family` for `modality`; ValueError naming what exists otherwise."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    by_modality = FAMILIES[family]
    modality = check_modality(modality)
    if modality not in by_modality:
        raise ValueError(
            f"model family {family!r} has no {modality} network; "
            f"it has {', '.join(sorted(by_modality))}"
        )
    return by_modality[modality]


def _family_options(network: type[PINet]) -> list[str]:
    """The options `network`'s constructor takes besides the input contract: its own, then
    those its family passes on to the classes above it (`PINet`'s, which every family takes)."""
    options: dict[str, None] = {}
    for cls in network.__mro__:
        if issubclass(cls, PINet) and "__init__" in vars(cls):
            for parameter in inspect.signature(cls.__init__).parameters.values():
                if parameter.kind in _NAMED and parameter.name not in _CONTRACT:
                    options.setdefault(parameter.name)
    return list(options)


def build_network(
    modality: str,
    in_channels: int,
    *,
    family: str = DEFAULT_FAMILY,
    per_channel: bool = False,
    **architecture: Any,
) -> PINet:
    """The `family` network for `modality` ('signal' takes (N, C, T), 'image' (N, C, H, W)),
    returning (N, C, 50, 50) with C = in_channels, built with the family's `architecture`
    options (for "pinet": head, widths, average_reversed; defaults: the release).

    `per_channel` builds the network for one channel and applies it to each channel in turn:
    every recipe computes channel c's PI from channel c alone, so one set of weights serves
    all channels, sees C times the examples, and takes inputs of any channel count.
    """
    network = network_class(family, modality)
    options = _family_options(network)
    unknown = sorted(set(architecture) - set(options))
    if unknown:
        raise ValueError(
            f"model family {family!r} has no option(s) {', '.join(unknown)}; "
            f"its options are {', '.join(options)}"
        )
    if "widths" in architecture:
        architecture["widths"] = tuple(architecture["widths"])
    return network(in_channels, per_channel=per_channel, **architecture)
