"""Recipes, one file per method, registered by name (see base.py)."""

from .base import RECIPES, Phase, Recipe, StepContext, get_recipe, load_all, register, resolve_config

__all__ = ["RECIPES", "Phase", "Recipe", "StepContext", "get_recipe", "load_all", "register", "resolve_config"]
