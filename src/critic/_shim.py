"""Old import paths kept for one release: each name is looked up where it lives now, with a
:class:`DeprecationWarning` saying where to import it from."""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def moved(old: str, names: dict[str, str]) -> Any:
    """A module ``__getattr__`` for the module ``old``: ``names`` maps each name it still
    answers to the module that holds it now."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        public = name in _PUBLIC  # else the module it lives in now (internal: may move)
        warnings.warn(f"{old}.{name} is deprecated and will be removed in critic 0.9; "
                      f"use {'critic' if public else names[name]}.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(names[name]), name)

    return __getattr__


#: Names ``critic`` itself exports (the deprecation message points there).
_PUBLIC = {"Classifier", "History", "NetworkConfig", "TrainConfig", "NBLogisticRegression",
           "TrainOptions", "TrainResult", "options_for", "recipe", "train_bundle"}
