"""critic: fast, lean sentiment classification of reviews."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from critic.datasets import Corpus, load_corpus
from critic.errors import ConfigError, CriticError, DataError

if TYPE_CHECKING:
    from critic.predict import Predictor


def load(path: str | os.PathLike[str]) -> Predictor:
    """Load a model bundle: ``critic.load("model").predict_proba(["Loved it."])``."""
    from critic.predict import load as load_bundle

    return load_bundle(path)


__all__ = ["ConfigError", "Corpus", "CriticError", "DataError", "__version__", "load",
           "load_corpus"]
