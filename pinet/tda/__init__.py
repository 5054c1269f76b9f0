"""Exact topology: persistence diagrams, legacy persistence images and named recipes."""

from pinet.tda.images import PI_SIZE, PersistenceImageGrid
from pinet.tda.persistence import sublevel_diagrams
from pinet.tda.recipes import RECIPES, RELEASED_RECIPES, Recipe, get_recipe, recipe_from_json

__all__ = [
    "PI_SIZE",
    "RECIPES",
    "RELEASED_RECIPES",
    "PersistenceImageGrid",
    "Recipe",
    "get_recipe",
    "recipe_from_json",
    "sublevel_diagrams",
]
