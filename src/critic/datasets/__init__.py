"""Datasets: where reviews come from (the IMDB archive, a folder) and the Corpus they become."""

from critic.datasets.corpus import Corpus, load_corpus

__all__ = ["Corpus", "load_corpus"]
