"""The model families critic knows, and everything asked of them by name.

The trainer, the bundle, the Predictor, the command line's ``--model`` choices, the
leaderboard and the contract tests ask this registry rather than knowing any family. Adding a
family is one folder under ``models/`` and one line in :data:`FAMILIES` (or, from outside the
package, one call to :func:`register`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from critic.errors import BundleError, ConfigError
from critic.fitting.options import TrainOptions
from critic.models.family import Family
from critic.models.nblr.family import NblrFamily
from critic.models.network.family import NetworkFamily

if TYPE_CHECKING:
    import numpy as np

    from critic.models.base import ModelType

#: Every family, by name.
FAMILIES: dict[str, Family] = {family.name: family for family in (NetworkFamily(), NblrFamily())}


def register(family: Family) -> Family:
    """Add ``family`` (its recipes become ``--model`` choices, its bundles loadable)."""
    if tuple(family.recipes()) != family.recipe_names:
        raise ConfigError(f"family {family.name!r} names its recipes {family.recipe_names} "
                          f"but builds {tuple(family.recipes())}")
    clash = set(family.recipe_names) & set(recipe_names())
    if family.name in FAMILIES or clash:
        raise ConfigError(f"a family named {family.name!r} or a recipe of it "
                          f"({', '.join(sorted(clash))}) is registered already")
    FAMILIES[family.name] = family
    return family


def unregister(name: str) -> None:
    """Remove the family ``name`` (what :func:`register` added)."""
    FAMILIES.pop(name, None)


def recipes() -> dict[str, TrainOptions]:
    """Every named recipe (``critic train --model``), in registration order."""
    return {name: options for family in FAMILIES.values()
            for name, options in family.recipes().items()}


def recipe_names() -> tuple[str, ...]:
    """Every recipe's name, without building the recipes (nothing heavy is imported)."""
    return tuple(name for family in FAMILIES.values() for name in family.recipe_names)


def family_of(model: str) -> Family:
    """The family that trains the recipe named ``model``."""
    for family in FAMILIES.values():
        if model in family.recipe_names:
            return family
    raise ConfigError(f"unknown model {model!r}; choose one of {', '.join(recipe_names())}",
                      parameter="model")


def model_types() -> dict[str, type[ModelType]]:
    """Every inference type a bundle may hold, by ``config.json``'s ``model.type``."""
    types = (family.model_type() for family in FAMILIES.values())
    return {model_type.name: model_type for model_type in types}


def model_from_config(config: dict[str, Any], weights: dict[str, np.ndarray],
                      dimension: int) -> ModelType:
    """The model described by ``config.json``'s ``model`` table, with its weights."""
    kind, types = config.get("type"), model_types()
    if kind not in types:
        raise BundleError(f"unknown model type {kind!r}; this critic knows "
                          f"{', '.join(types)}")
    try:
        return types[kind].from_config(config, weights, dimension)
    except (ConfigError, KeyError, TypeError) as exc:
        raise BundleError(f"the model's configuration is invalid ({exc})") from exc
