"""Named ground-truth recipes, one module per family, and the one registry of them.

A recipe is an immutable value; its fields are all its parameters, so `recipe.params`
records exactly how an output was made and `get_recipe(name, params)` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from functools import cache
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

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
from pinet.validation import describe_validation_error

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
    "recipe_from_json",
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
        dimensions = params["homology_dimensions"]
        if not isinstance(dimensions, list | tuple):
            raise ValueError(
                f"homology_dimensions must be a list of dimensions, e.g. [0, 1]; got {dimensions!r}"
            )
        params["homology_dimensions"] = tuple(dimensions)
    return recipe_class(**params)


def recipe_from_json(name: str, params: Mapping[str, Any]) -> Recipe:
    """`get_recipe` for parameters from outside (a request's JSON, a command line's): every
    value must have its field's JSON type (strict: "0.1" is no number, true no 1.0) and fit
    in 64 bits if an integer, and the recipe's own checks apply; ValueError names the
    parameter otherwise."""
    if name not in RECIPES:
        return get_recipe(name)  # raises, listing the known recipes
    try:
        _parameter_types(name).validate_json(orjson.dumps(dict(params)), strict=True)
    except orjson.JSONEncodeError as error:  # an integer beyond 64 bits
        raise ValueError(f"recipe {name!r}: params {error}") from None
    except ValidationError as error:
        detail = describe_validation_error(error.errors())
        raise ValueError(f"recipe {name!r}: {detail}") from None
    return get_recipe(name, params)  # names an unknown parameter


@cache
def _parameter_types(name: str) -> TypeAdapter[Recipe]:
    return TypeAdapter(RECIPES[name])
