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
    from critic._train import TrainResult, train_bundle
    from critic.datasets.corpus import Corpus, load_corpus
    from critic.errors import BundleError, ConfigError, CriticError, DataError
    from critic.estimators import Featurizer, NetworkClassifier
    from critic.features import multi_hot
    from critic.fitting.options import TrainOptions
    from critic.models.nblr.estimator import NBLogisticRegression
    from critic.models.network.classifier import Classifier, History
    from critic.models.network.config import NetworkConfig, TrainConfig
    from critic.models.registry import options_for, recipe
    from critic.predict import Predictor
    from critic.text import Vocabulary, tokenize

#: Public names imported on first use, and the module each comes from. Every other module is
#: internal: its names may move between releases (the docs' architecture page says where).
_LAZY = {"Corpus": "critic.datasets.corpus", "load_corpus": "critic.datasets.corpus",
         "BundleError": "critic.errors", "ConfigError": "critic.errors",
         "CriticError": "critic.errors", "DataError": "critic.errors",
         # Training a bundle: options by recipe name and knobs, then one call.
         "TrainOptions": "critic.fitting.options", "TrainResult": "critic._train",
         "options_for": "critic.models.registry", "recipe": "critic.models.registry",
         "train_bundle": "critic._train",
         # The book's API: text to word ids to multi-hot vectors, and the Keras-style network.
         "Vocabulary": "critic.text", "tokenize": "critic.text", "multi_hot": "critic.features",
         "Classifier": "critic.models.network.classifier",
         "History": "critic.models.network.classifier",
         "NetworkConfig": "critic.models.network.config",
         "TrainConfig": "critic.models.network.config",
         # scikit-learn estimators: texts → features, features → labels.
         "Featurizer": "critic.estimators",
         "NBLogisticRegression": "critic.models.nblr.estimator",
         "NetworkClassifier": "critic.estimators"}


def load(path: str | os.PathLike[str]) -> Predictor:
    """Load a model bundle: ``critic.load("model").predict_proba(["Loved it."])``."""
    from critic.predict import load as load_bundle

    return load_bundle(path)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'critic' has no attribute {name!r}")


__all__ = ["BundleError", "Classifier", "ConfigError", "Corpus", "CriticError", "DataError",
           "Featurizer", "History", "NBLogisticRegression", "NetworkClassifier",
           "NetworkConfig", "TrainConfig", "TrainOptions", "TrainResult", "Vocabulary",
           "__version__", "load", "load_corpus", "multi_hot", "options_for", "recipe",
           "tokenize", "train_bundle"]
