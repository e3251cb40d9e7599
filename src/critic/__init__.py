"""critic: fast, lean sentiment classification of reviews."""

from critic.datasets import Corpus, load_corpus
from critic.errors import ConfigError, CriticError, DataError

__version__ = "0.1.0"

__all__ = ["ConfigError", "Corpus", "CriticError", "DataError", "__version__", "load_corpus"]
