"""The data sources of the batch ground-truth job, by name, and how to build one from CLI options.

`get_source("hapt", {"sensor": "both"})` turns `--option key=value` strings into a source's
typed options, with errors that list what would have been valid.
"""

from __future__ import annotations

import dataclasses
import typing

from data_prep.sources.aeon_archives import UeaUcrSeries
from data_prep.sources.aeon_recordings import AeonRecordingWindows
from data_prep.sources.base import Sample, Source
from data_prep.sources.basicmotions import BasicMotions
from data_prep.sources.cifar10 import Cifar10
from data_prep.sources.errors import SourceUnavailable
from data_prep.sources.fashion_mnist import FashionMnist
from data_prep.sources.files import FileFolder
from data_prep.sources.gaitpy_walk import GaitpyWalkWindows
from data_prep.sources.hapt import HaptWindows
from data_prep.sources.photos import GreyPictureCrops, PhotoCrops
from data_prep.sources.ppg import PpgWindows
from data_prep.sources.synthetic import SyntheticImages, SyntheticSignals
from pinet.modality import Modality

__all__ = [
    "DEFAULT_SOURCES",
    "SOURCES",
    "Sample",
    "Source",
    "SourceUnavailable",
    "get_source",
]

SOURCES: dict[str, type[Source]] = {
    source.name: source
    for source in (
        HaptWindows,
        BasicMotions,
        UeaUcrSeries,
        AeonRecordingWindows,
        PpgWindows,
        GaitpyWalkWindows,
        FashionMnist,
        Cifar10,
        FileFolder,
        PhotoCrops,
        GreyPictureCrops,
        SyntheticSignals,
        SyntheticImages,
    )
}

# The sources that need nothing but packages, one per modality.
DEFAULT_SOURCES: dict[Modality, str] = {"signal": HaptWindows.name, "image": PhotoCrops.name}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse_option(kind: type, text: str) -> object:
    """`text` as a value of `kind` (int, float, bool or str); ValueError if it is not one."""
    if kind is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")
    if kind in (int, float, str):
        return kind(text)
    raise TypeError(f"options of type {kind!r} are not supported")


def get_source(name: str, options: dict[str, str]) -> Source:
    """Source `name` configured by string `options`, each converted to its field's type.

    Raises ValueError naming the problem for an unknown source or option, a value of the
    wrong type, a missing required option, or a value the source rejects.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; known sources: {', '.join(sorted(SOURCES))}")
    source_class = SOURCES[name]
    fields = {field.name: field for field in dataclasses.fields(source_class)}
    types = typing.get_type_hints(source_class)
    unknown = sorted(set(options) - set(fields))
    if unknown:
        valid = ", ".join(fields) or "none"
        raise ValueError(
            f"source {name!r} has no option {', '.join(unknown)}; valid options: {valid}"
        )
    missing = [
        field.name
        for field in fields.values()
        if field.name not in options
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"source {name!r} needs option {', '.join(missing)} (--option key=value)")
    values = {}
    for key, text in options.items():
        kind = types[key]
        try:
            values[key] = _parse_option(kind, text)
        except ValueError as exc:
            raise ValueError(
                f"option {key!r} of source {name!r} expects {kind.__name__}, got {text!r} ({exc})"
            ) from exc
    return source_class(**values)
