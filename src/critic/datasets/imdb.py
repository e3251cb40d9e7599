"""Keras-compatible IMDB API: ``load_data`` and ``get_word_index``, built from the raw reviews.

The book's cells run unchanged with only the import changed::

    from critic.datasets import imdb
    (train_data, train_labels), (test_data, test_labels) = imdb.load_data(num_words=10000)
    word_index = imdb.get_word_index()

Differences from ``keras.datasets.imdb`` (whose preprocessed ``imdb.npz`` has no raw text):
the word ranking is computed here from the training reviews with the documented tokenizer in
:mod:`critic.text`, so indices differ from Keras's file, and ``maxlen`` filters each split on
its own (Keras filters the concatenation, which shifts reviews across the split boundary).
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from critic.datasets.corpus import Corpus, load_corpus
from critic.errors import ConfigError
from critic.text import Ragged, Vocabulary, token_lists

PathLike = str | os.PathLike[str] | None


def load_data(
    path: PathLike = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The 25,000 training and 25,000 test reviews as word-index lists, with 0/1 labels.

    Args:
        path: the IMDB archive or folder (default: ``CRITIC_DATA``, cache, download).
        num_words: keep the ``num_words - index_from - 1`` most frequent words; others become
            ``oov_char``. Every index is then below ``num_words``.
        skip_top, start_char, oov_char, index_from: as in ``keras.datasets.imdb``.
        maxlen: drop reviews whose encoded length is ``maxlen`` or more.
        seed: both splits are shuffled with ``np.random.RandomState(seed)``, as Keras does.

    Returns:
        ``(train_data, train_labels), (test_data, test_labels)``: object arrays of ``list[int]``
        (shape ``(n,)``) and ``uint8`` labels (1 positive).

    Example:
        >>> (x, y), _ = load_data(num_words=10000)  # doctest: +SKIP
        >>> max(max(s) for s in x)  # doctest: +SKIP
        9999
    """
    train, test = load_encoded(path, num_words=num_words, skip_top=skip_top, seed=seed,
                               start_char=start_char, oov_char=oov_char, index_from=index_from)
    return _as_keras(*train, maxlen), _as_keras(*test, maxlen)


def get_word_index(path: PathLike = None) -> dict[str, int]:
    """Word → frequency rank (1 = most frequent in the training reviews), as in Keras."""
    return training_vocabulary(load_corpus(path)).word_index()


def load_encoded(
    path: PathLike = None, *, seed: int | None = 113, **settings: int | None
) -> tuple[tuple[Ragged, np.ndarray], tuple[Ragged, np.ndarray]]:
    """Like :func:`load_data`, as flat :class:`Ragged` sequences (fast; no list per review).

    ``seed=None`` keeps the corpus order (train: negatives then positives, by review id).
    """
    corpus = load_corpus(path)
    base = training_vocabulary(corpus)
    vocab = Vocabulary(base.words, base.counts, **settings)  # type: ignore[arg-type]
    rng = np.random.RandomState(seed) if seed is not None else None
    out = []
    for split in ("train", "test"):
        part = corpus.subset(split)
        encoded = vocab.encode_ragged(part.texts)
        labels = part.labels.astype(np.uint8)
        if rng is not None:
            order = np.arange(len(labels))
            rng.shuffle(order)
            encoded, labels = encoded.take(order), labels[order]
        out.append((encoded, labels))
    return out[0], out[1]


def training_vocabulary(corpus: Corpus) -> Vocabulary:
    """The vocabulary ranked on the corpus's training split only (memoised per source)."""
    return _vocabulary_for(corpus.checksum, _TextsRef(corpus))


class _TextsRef:
    """Hashes by checksum only, so the memo key is cheap while the texts stay reachable."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def __hash__(self) -> int:
        return hash(self.corpus.checksum)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _TextsRef) and other.corpus.checksum == self.corpus.checksum


@lru_cache(maxsize=2)
def _vocabulary_for(checksum: str, ref: _TextsRef) -> Vocabulary:
    return Vocabulary.fit(ref.corpus.subset("train").texts)


def _as_keras(encoded: Ragged, labels: np.ndarray, maxlen: int | None) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    if maxlen is not None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            raise ConfigError(f"`maxlen` must be a positive integer or None. Received: {maxlen=}")
        (keep,) = np.nonzero(encoded.lengths < maxlen)
        if keep.size == 0:
            raise ConfigError(f"maxlen={maxlen} removes every review; the shortest has "
                              f"{int(encoded.lengths.min())} indices")
        encoded, labels = encoded.take(keep), labels[keep]
    data = np.empty(len(encoded), dtype=object)
    data[:] = encoded.to_lists()
    return data, labels


__all__ = ["get_word_index", "load_data", "load_encoded", "token_lists"]
