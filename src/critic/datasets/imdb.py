"""The book's IMDB: Keras's ``load_data`` and ``get_word_index``, built from the raw reviews,
and the multi-hot matrices the book feeds its network.

The book's cells run unchanged with only the import changed::

    from critic.datasets import imdb
    (train_data, train_labels), (test_data, test_labels) = imdb.load_data(num_words=10000)
    word_index = imdb.get_word_index()

Differences from ``keras.datasets.imdb`` (whose preprocessed ``imdb.npz`` has no raw text):
the word ranking is computed here from the training reviews with the documented tokenizer in
:mod:`critic.text`, so indices differ from Keras's file. ``maxlen`` filters each split on its
own, as Keras 2.6 and later do (Keras 2.4 and earlier filtered train and test together). A
test word never seen in training is ``oov_char`` (dropped with ``oov_char=None``) even with
``num_words=None``: Keras's file ranks train and test words together, so there such a word
keeps an index of its own; critic does not look at the test text to rank words.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from critic._atomic import atomic_path
from critic._shim import moved
from critic.datasets.archive import fingerprint
from critic.datasets.corpus import cache_path, load_corpus
from critic.datasets.fetch import resolve_source
from critic.errors import ConfigError, DataError
from critic.text import TOKENIZER_VERSION, Ragged, Vocabulary, tokenize_texts

log = logging.getLogger(__name__)

#: ``keras.datasets.imdb.load_data``'s default shuffle seed, the book's order of the reviews.
LOAD_DATA_SEED = 113

PathLike = str | os.PathLike[str] | None


def load_data(
    path: PathLike = None,
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = LOAD_DATA_SEED,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The 25,000 training and 25,000 test reviews as word-index lists, with 0/1 labels.

    Args:
        path: the IMDB archive or folder (default: ``CRITIC_DATA``, cache, download).
        num_words: keep the ``num_words - index_from - 1`` most frequent words; others become
            ``oov_char``. Every index is then below ``num_words``.
        skip_top: leave out the ``skip_top`` most frequent words (as ``oov_char``), as Keras.
        maxlen: drop reviews whose encoded length is ``maxlen`` or more.
        seed: both splits are shuffled with ``np.random.RandomState(seed)``, as Keras does.
        start_char: the index each review starts with (``None``: none), as Keras.
        oov_char: the index of words left out (``None``: dropped instead), as Keras.
        index_from: the index of the most frequent word, as Keras.

    Returns:
        ``(train_data, train_labels), (test_data, test_labels)``: object arrays of ``list[int]``
        (shape ``(n,)``) and ``int64`` labels (1 positive), as Keras.

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
    return training_vocabulary(path).word_index()


def load_encoded(
    path: PathLike = None, *, seed: int | None = LOAD_DATA_SEED, **settings: int | None
) -> tuple[tuple[Ragged, np.ndarray], tuple[Ragged, np.ndarray]]:
    """Like :func:`load_data`, as flat :class:`Ragged` sequences (fast; no list per review).

    ``seed=None`` keeps the corpus order (train: negatives then positives, by review id).
    """
    return encode_splits(encoded_imdb(path), seed=seed, **settings)


def encode_splits(
    encoded: EncodedIMDB, *, seed: int | None = LOAD_DATA_SEED, **settings: int | None
) -> tuple[tuple[Ragged, np.ndarray], tuple[Ragged, np.ndarray]]:
    """Word indices of the train and test reviews with Keras's ``load_data`` settings."""
    vocab = Vocabulary(encoded.vocabulary.words, encoded.vocabulary.counts,
                       **settings)  # type: ignore[arg-type]
    train, test = vocab.encode_positions(encoded.train), vocab.encode_positions(encoded.test)
    if seed is None:
        return (train, encoded.train_labels), (test, encoded.test_labels)
    train_order, test_order = keras_orders(seed, len(train), len(test))
    return ((train.take(train_order), encoded.train_labels[train_order]),
            (test.take(test_order), encoded.test_labels[test_order]))


def keras_orders(seed: int, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The orders ``load_data`` puts the splits in: one ``RandomState(seed)`` shuffles the
    training indices, then the test indices, as Keras does."""
    rng = np.random.RandomState(seed)
    train_order, test_order = np.arange(n_train), np.arange(n_test)
    rng.shuffle(train_order)
    rng.shuffle(test_order)
    return train_order, test_order


def training_order(reviews: int = 25_000) -> np.ndarray:
    """Corpus positions of the training reviews in ``load_data``'s order (seed 113)."""
    return keras_orders(LOAD_DATA_SEED, reviews, 0)[0]


def training_movies(path: PathLike) -> np.ndarray:
    """The movie of each IMDB training review, in ``load_data`` order (-1: not named)."""
    corpus = load_corpus(path)
    movies = corpus.movies[corpus.splits == "train"]  # no copy of the texts, as subset makes
    return movies[training_order(len(movies))]


@dataclass(frozen=True)
class BookMatrices:
    """The labelled IMDB reviews as the book feeds them to its network: multi-hot rows in
    ``load_data(num_words, seed=113)`` order (built in corpus order, then rows shuffled, which
    is the same data for less work than shuffling the index lists)."""

    x_train: sp.csr_matrix
    y_train: np.ndarray
    x_test: sp.csr_matrix
    y_test: np.ndarray
    train_ids: Ragged  # word indices, corpus order
    test_ids: Ragged
    train_order: np.ndarray  # row i of x_train is train_ids[train_order[i]]
    test_order: np.ndarray
    words: list[str]  # the whole training vocabulary, by rank
    checksum: str  # of the data source

    def rows(self, train: slice | np.ndarray, held_out: slice | np.ndarray
             ) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix, np.ndarray]:
        """``(x_train, y_train, x_val, y_val)`` of the given training and held-out rows."""
        return (self.x_train[train], self.y_train[train], self.x_train[held_out],
                self.y_train[held_out])


def book_matrices(path: PathLike, num_words: int) -> BookMatrices:
    """:class:`BookMatrices` for the IMDB data at ``path`` (resolved as ``load_data`` does)."""
    encoded = encoded_imdb(path)
    (train, y_train), (test, y_test) = encode_splits(encoded, seed=None, num_words=num_words)
    train_order, test_order = keras_orders(LOAD_DATA_SEED, len(y_train), len(y_test))
    return BookMatrices(train.count_matrix(num_words, binary=True)[train_order],
                        y_train[train_order],
                        test.count_matrix(num_words, binary=True)[test_order],
                        y_test[test_order], train, test, train_order, test_order,
                        encoded.vocabulary.words, encoded.checksum)


@dataclass(frozen=True)
class EncodedIMDB:
    """The labelled reviews tokenised once: each token's rank in the training vocabulary.

    ``train``/``test`` are in corpus order; a rank of -1 marks a word never seen in training.
    """

    vocabulary: Vocabulary
    checksum: str  # of the source (archive SHA-256 or folder fingerprint)
    train: Ragged
    train_labels: np.ndarray
    test: Ragged
    test_labels: np.ndarray


def encoded_imdb(path: PathLike = None) -> EncodedIMDB:
    """Tokenise and rank the labelled IMDB reviews, or read the result from the cache.

    The cache sits beside the corpus cache, keyed by the source checksum and the tokenizer
    version, so a warm run never touches the review texts.
    """
    source = resolve_source(path)
    checksum = fingerprint(source)
    cache = cache_path(checksum).with_suffix(f".tokens-v{TOKENIZER_VERSION}.npz")
    if cache.exists():
        try:
            return _read_encoded(cache, checksum)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable token cache %s (%s)", cache, exc)
    corpus = load_corpus(source)
    train, test = corpus.subset("train"), corpus.subset("test")
    # Train then test is one contiguous, zero-copy slice of the corpus.
    tokens = tokenize_texts(corpus.texts.take(np.nonzero(corpus.splits != "unsup")[0]))
    train_tokens, test_tokens = tokens.slice(0, len(train)), tokens.slice(len(train))
    vocabulary = Vocabulary.fit_tokens(train_tokens)  # ranked on training reviews only
    encoded = EncodedIMDB(vocabulary, checksum, vocabulary.positions(train_tokens),
                          train.labels.astype(np.uint8), vocabulary.positions(test_tokens),
                          test.labels.astype(np.uint8))
    _write_encoded(encoded, cache)
    return encoded


def training_vocabulary(path: PathLike = None) -> Vocabulary:
    """Every word of the training reviews, ranked by frequency (Keras ``get_word_index``)."""
    return encoded_imdb(path).vocabulary


def _write_encoded(encoded: EncodedIMDB, cache: Path) -> None:
    try:
        with atomic_path(cache) as tmp, tmp.open("wb") as handle:
            np.savez(handle, words=np.asarray(encoded.vocabulary.words, dtype=str),
                     counts=np.asarray(encoded.vocabulary.counts, dtype=np.int64),
                     train_values=encoded.train.values, train_offsets=encoded.train.offsets,
                     train_labels=encoded.train_labels,
                     test_values=encoded.test.values, test_offsets=encoded.test.offsets,
                     test_labels=encoded.test_labels)
    except OSError as exc:
        raise DataError(f"cannot write the token cache {cache}: {exc.strerror or exc}; set "
                        "CRITIC_HOME to a writable folder") from exc


def _read_encoded(cache: Path, checksum: str) -> EncodedIMDB:
    with np.load(cache, allow_pickle=False) as data:
        vocabulary = Vocabulary(data["words"].tolist(), data["counts"].tolist())
        return EncodedIMDB(vocabulary, checksum,
                           Ragged(data["train_values"], data["train_offsets"]),
                           data["train_labels"],
                           Ragged(data["test_values"], data["test_offsets"]),
                           data["test_labels"])


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
    # int64, as Keras's arrays: with uint8, the common ``2 * y - 1`` wraps to 255.
    return data, labels.astype(np.int64)




def describe(path: PathLike = None) -> dict[str, object]:
    """Where the IMDB data is, its checksum, reviews per split and label, and the cache."""
    from critic.datasets.fetch import CANONICAL_SHA256

    corpus = load_corpus(path)
    return {"source": corpus.source, "checksum": corpus.checksum,
            "official_archive": corpus.checksum == CANONICAL_SHA256,
            "counts": corpus.counts(), "vocabulary_size": len(training_vocabulary(path)),
            "cache": str(cache_path(corpus.checksum))}


# Held-out rules that lived here until 0.7: one release of forwarding (critic.fitting.splits).
__getattr__ = moved("critic.datasets.imdb", {name: "critic.fitting.splits" for name in (
    "book_split", "check_validation_by", "held_out_texts", "imdb_split", "movie_split",
    "require_movies")})

__all__ = [
    "BookMatrices",
    "EncodedIMDB",
    "book_matrices",
    "describe",
    "encode_splits",
    "encoded_imdb",
    "get_word_index",
    "keras_orders",
    "load_data",
    "load_encoded",
    "training_movies",
    "training_order",
]
