"""Exact topology: persistence diagrams, legacy persistence images and named recipes."""

from pinet.tda.images import RESOLUTION, PersistenceImageGrid
from pinet.tda.persistence import sublevel_diagrams
from pinet.tda.recipes import RECIPES, Recipe, get_recipe

__all__ = [
    "RECIPES",
    "RESOLUTION",
    "PersistenceImageGrid",
    "Recipe",
    "get_recipe",
    "sublevel_diagrams",
]
