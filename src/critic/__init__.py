"""critic: fast, lean sentiment classification of reviews.

``import critic`` loads nothing heavy: the names below are imported when first used, so
``critic --version`` and ``critic --help`` need neither pyarrow, Rich nor PyTorch.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

#: The one place the version is written (``pyproject.toml`` reads it from here).
__version__ = "0.7.0"

if TYPE_CHECKING:
    from critic.datasets.corpus import Corpus, load_corpus
    from critic.errors import BundleError, ConfigError, CriticError, DataError
    from critic.estimators import Featurizer, NetworkClassifier
    from critic.models.linear import NBLogisticRegression
    from critic.predict import Predictor

#: Public names imported on first use, and the module each comes from.
_LAZY = {"Corpus": "critic.datasets.corpus", "load_corpus": "critic.datasets.corpus",
         "BundleError": "critic.errors", "ConfigError": "critic.errors",
         "CriticError": "critic.errors", "DataError": "critic.errors",
         # scikit-learn estimators: texts → features, features → labels.
         "Featurizer": "critic.estimators", "NBLogisticRegression": "critic.models.linear",
         "NetworkClassifier": "critic.estimators"}


def load(path: str | os.PathLike[str]) -> Predictor:
    """Load a model bundle: ``critic.load("model").predict_proba(["Loved it."])``."""
    from critic.predict import load as load_bundle

    return load_bundle(path)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'critic' has no attribute {name!r}")


__all__ = ["BundleError", "ConfigError", "Corpus", "CriticError", "DataError", "Featurizer",
           "NBLogisticRegression", "NetworkClassifier", "__version__", "load", "load_corpus"]
