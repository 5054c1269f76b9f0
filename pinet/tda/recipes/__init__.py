"""Named ground-truth recipes, one module per family, and the one registry of them.

A recipe is an immutable value; its fields are all its parameters, so `recipe.params`
records exactly how an output was made and `get_recipe(name, params)` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from types import MappingProxyType
from typing import Any

from pinet.modality import Modality
from pinet.tda.recipes.base import Diagrams, Recipe, SpatialSymmetries
from pinet.tda.recipes.cubical import ImageCubical
from pinet.tda.recipes.rips import ImageRips
from pinet.tda.recipes.sublevel import (
    HAPT_ACC_MAX_DEVIATION,
    RASTER_NOISE_CUT,
    ImageRaster,
    SignalSublevel,
    SignalSublevelTPKD,
)
from pinet.tda.recipes.takens import SignalTakens

__all__ = [
    "HAPT_ACC_MAX_DEVIATION",
    "RASTER_NOISE_CUT",
    "RECIPES",
    "RELEASED_RECIPES",
    "Diagrams",
    "ImageCubical",
    "ImageRaster",
    "ImageRips",
    "Recipe",
    "SignalSublevel",
    "SignalSublevelTPKD",
    "SignalTakens",
    "SpatialSymmetries",
    "get_recipe",
]

RECIPES: Mapping[str, type[Recipe]] = MappingProxyType(
    {
        r.name: r
        for r in (
            ImageRaster,
            SignalSublevel,
            ImageCubical,
            ImageRips,
            SignalTakens,
            SignalSublevelTPKD,
        )
    }
)

# Each modality's recipe in PI-Net's release (SPEC 2): what a job, a topology request or a
# PI request that names none gets.
RELEASED_RECIPES: Mapping[Modality, str] = MappingProxyType(
    {"signal": SignalSublevel.name, "image": ImageRaster.name}
)


def get_recipe(name: str, params: Mapping[str, Any] | None = None) -> Recipe:
    """The recipe called `name`, with its defaults overridden by `params` (e.g. from a store)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(sorted(RECIPES))}")
    recipe_class = RECIPES[name]
    params = dict(params or {})
    known = {f.name for f in fields(recipe_class)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"recipe {name!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters are {', '.join(sorted(known))}"
        )
    if "homology_dimensions" in params:
        params["homology_dimensions"] = tuple(params["homology_dimensions"])
    return recipe_class(**params)
