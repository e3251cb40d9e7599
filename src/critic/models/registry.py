"""The model families critic knows, and everything asked of them by name.

The trainer, the bundle, the Predictor, the command line's ``--model`` choices, the
leaderboard and the contract tests ask this registry rather than knowing any family. Adding a
family is one folder under ``models/`` and one line in :data:`FAMILIES` (or, from outside the
package, one call to :func:`register`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from critic.errors import BundleError, ConfigError
from critic.fitting.options import FEATURE_KNOBS, SPLIT_KNOBS, TrainOptions
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
    # A bundle names its inference type: two families of one type name would load each
    # other's bundles.
    if family.model_type().name in model_types():
        raise ConfigError(f"family {family.name!r}'s model type "
                          f"{family.model_type().name!r} is another family's already")
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


def recipe(name: str, **changes: Any) -> TrainOptions:
    """The options of the model called ``name``, with ``changes`` applied.

    Example:
        >>> recipe("nblr").features.ngram_range
        (1, 3)
    """
    return dataclasses.replace(family_of(name).recipes()[name], **changes)


def options_for(model: str, **knobs: Any) -> TrainOptions:
    """The named model's options with the given knobs changed (``None`` means not given).

    Every model has the shared knobs ``ngram_range``, ``max_ngrams``, ``num_words``,
    ``validation_size``, ``validation_by`` and ``unlabelled``; its family has its own
    (``critic train --help`` lists them; a network's ``units``, nblr's ``sentence_weight``).
    A knob of another family is refused, naming the family.

    Example:
        >>> options_for("dense", units=32).settings.network.units
        32
    """
    given = {key: value for key, value in knobs.items() if value is not None}
    family = family_of(model)
    shared = {k.name for k in (*FEATURE_KNOBS, *SPLIT_KNOBS)} | {"unlabelled"}
    own = {k.name for k in family.knobs}
    unknown = sorted(set(given) - shared - own)
    if unknown:
        owners = sorted({f.name for f in FAMILIES.values() for k in f.knobs
                         if k.name in unknown})
        whose = f" (that is {' and '.join(owners)}'s)" if owners else ""
        raise ConfigError(f"{model} has no {', '.join(unknown)}{whose}", parameter=unknown[0])
    options = recipe(model).with_shared_knobs(given)
    options = dataclasses.replace(
        options, unlabelled=bool(given.get("unlabelled", options.unlabelled)),
        settings=family.with_knobs(options.settings, {k: given[k] for k in own if k in given}))
    check_unlabelled(options, family)
    family.check(options)
    return options


def check_unlabelled(options: TrainOptions, family: Family) -> None:
    """Refuse unlabelled reviews for a family that cannot learn from them."""
    if options.unlabelled and not family.learns_from_unlabelled:
        able = " and ".join(f.name for f in FAMILIES.values() if f.learns_from_unlabelled)
        raise ConfigError(f"`unlabelled` is {able}'s ({options.model} learns from labelled "
                          "reviews only)", parameter="unlabelled")
