"""Every held-out rule critic trains with, in one place, and the record each one leaves.

Which reviews are held out to choose epochs and settings on, by where the reviews come from:

- IMDB by review (:func:`book_split`): the book's first N in ``load_data`` order;
- IMDB by movie (:func:`movie_split`): whole movies, so no movie is on both sides;
- a file of the user's, in memory (:func:`shuffled_split`): the first N of a seeded permutation;
- a stream (:func:`stream_held_out`): a hash of each review's position in the stream, so the
  choice is the same for any batch size, any split of the data into files, any machine;
- a stream read by shards on a cluster: the same hash of :func:`shard_position` (file number
  and row), so it does not depend on how the stream was dealt to the shards.

The functions take plain arguments (counts, arrays, seeds). :func:`validation_record` is the
one shape every mode writes into the bundle's ``data.validation``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from critic.datasets.corpus import load_corpus
from critic.datasets.imdb import LOAD_DATA_SEED, training_movies, training_order
from critic.errors import ConfigError
from critic.features import mix64

PathLike = str | os.PathLike[str] | None

#: How the IMDB training reviews can be split for validation: the book's (the first N in
#: ``load_data`` order) or by movie (whole movies held out; see :func:`movie_split`).
VALIDATION_SPLITS = ("review", "movie")
#: What :func:`validation_record` says of each IMDB rule.
BOOK_ORDER = "load_data seed 113, first N"
MOVIE_ORDER = "whole movies in seed-113 order until N"
STREAMED_IMDB_ORDER = "load_data seed 113, then held out by a hash of the position"
#: A shard's reviews are numbered (file number << 40) + row.
_ROW_BITS = 40


def book_split(reviews: int, validation_size: int) -> tuple[slice, slice]:
    """The book's validation split of training reviews already in ``load_data`` order: the
    first ``validation_size`` are held out. Returns ``(training rows, held-out rows)``.

    Example:
        >>> book_split(25_000, 10_000)
        (slice(10000, None, None), slice(0, 10000, None))
    """
    if isinstance(validation_size, bool) or not isinstance(validation_size, (int, np.integer)) \
            or not 0 < validation_size < reviews:
        raise ConfigError(f"`validation_size` must leave reviews on both sides of the split: "
                          f"between 1 and {reviews - 1} for {reviews} training reviews. "
                          f"Received: validation_size={validation_size!r}")
    return slice(int(validation_size), None), slice(0, int(validation_size))


def check_validation_by(by: str, parameter: str = "validation_by") -> None:
    if by not in VALIDATION_SPLITS:
        raise ConfigError(f"`{parameter}` must be one of {', '.join(VALIDATION_SPLITS)}. "
                          f"Received: {parameter}={by!r}", parameter=parameter)


def require_movies(movies: np.ndarray, parameter: str, instead: str) -> None:
    """Refuse a split by movie of reviews whose movie is not named (-1): a copy of IMDB
    without ``urls_*.txt``; ``instead`` is the option to use then."""
    if (movies < 0).any():
        raise ConfigError("validation by movie needs every review's movie, and this IMDB copy "
                          "does not name them (no train/urls_pos.txt and urls_neg.txt); use "
                          f"{instead}", parameter=parameter)


def movie_split(movies: np.ndarray, validation_size: int, *, seed: int = LOAD_DATA_SEED
                ) -> tuple[np.ndarray, np.ndarray]:
    """Rows split so that no movie has reviews on both sides: whole movies, taken in a seeded
    random order, are held out until at least ``validation_size`` reviews are (the last movie
    taken may add a few more). Returns ``(training rows, held-out rows)``, each ascending.

    IMDB's test reviews are of other movies than its training reviews; a random split shares
    movies between training and validation, so it flatters what a model learned of those
    movies (their names, actors, plots) and can choose settings that cost test accuracy.

    Example:
        >>> movies = np.array([7, 7, 3, 5, 5, 5])
        >>> kept, held_out = movie_split(movies, 2, seed=0)
        >>> len(held_out) >= 2, set(movies[held_out]) & set(movies[kept])
        (True, set())
    """
    book_split(len(movies), validation_size)  # the same bounds
    require_movies(movies, "validation_by", "--validation-by review")
    names, of_review, sizes = np.unique(movies, return_inverse=True, return_counts=True)
    taken = np.random.RandomState(seed).permutation(len(names))
    enough = int(np.searchsorted(np.cumsum(sizes[taken]), validation_size)) + 1
    held_out = np.isin(of_review, taken[:enough])
    if held_out.all():
        raise ConfigError(f"`validation_size` ({validation_size}) holds out every movie; "
                          "choose fewer reviews", parameter="validation_size")
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


def shuffled_split(reviews: int, validation_size: int, seed: int
                   ) -> tuple[np.ndarray, slice, slice]:
    """A file of the user's, in memory: the reviews in a permutation seeded by ``seed``, the
    first ``validation_size`` of it held out. Returns ``(order, training rows, held-out
    rows)``, the rows as positions in ``order``."""
    order = np.random.RandomState(seed).permutation(reviews)
    return order, slice(validation_size, None), slice(0, validation_size)


def shuffled_order(seed: int) -> str:
    return f"seed {seed}"


def stream_held_out(positions: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Whether each review at stream ``positions`` is held out for validation:
    ``fmix64(position + seed·φ) / 2**64 < fraction``."""
    mixed = mix64(positions.astype(np.uint64) + np.uint64(seed * 0x9E3779B97F4A7C15
                                                             % 2**64))
    return mixed < np.uint64(min(int(fraction * 2**64), 2**64 - 1))


def stream_order(seed: int) -> str:
    return f"stream position hashed with seed {seed}"


def shard_position(file_number: int, row: int) -> int:
    """The stream position of row ``row`` of the stream's file ``file_number``, as the
    shards of a cluster number their reviews (independent of how files were dealt)."""
    return (file_number << _ROW_BITS) + row


def shard_order(seed: int) -> str:
    return f"(file number << {_ROW_BITS}) + row hashed with seed {seed}"


def validation_count(size: int | float | None, total: int, default: int | float) -> int:
    """Reviews to hold out of ``total``: ``size`` (a count, or a fraction), else ``default``."""
    size = size if size is not None else default
    count = round(size * total) if isinstance(size, float) else int(size)
    if not 0 < count < total:
        raise ConfigError(f"`validation_size` ({size}) must leave reviews on both sides of the "
                          f"split; there are {total} training reviews")
    return count


def stream_fraction(size: int | float | None, total: int | None, default: int | float
                    ) -> float:
    """The held-out fraction of a stream: ``size`` as a fraction, or as a count of a stream
    whose size is known."""
    size = size if size is not None else default
    if isinstance(size, float):
        return size
    if total is None:
        raise ConfigError("a stream of CSV or JSON lines does not know its length: give "
                          "--validation-size as a fraction (e.g. 0.05)",
                          parameter="validation_size")
    return validation_count(size, total, size) / total


def validation_record(*, reviews: int, order: str, trained_on_after_choice: bool,
                      by: str | None = None, fraction: float | None = None) -> dict[str, Any]:
    """What a bundle's ``data.validation`` says of the held-out reviews, in every mode."""
    record: dict[str, Any] = {"reviews": reviews}
    if by is not None:
        record["by"] = by
    if fraction is not None:
        record["fraction"] = fraction
    return record | {"order": order, "trained_on_after_choice": trained_on_after_choice}


def imdb_split(path: PathLike, reviews: int, validation_size: int, by: str = "review"
               ) -> tuple[slice | np.ndarray, slice | np.ndarray]:
    """``(training rows, held-out rows)`` of the IMDB training reviews in ``load_data``
    order: the book's :func:`book_split` (``by="review"``) or :func:`movie_split`."""
    check_validation_by(by)
    if by == "review":
        return book_split(reviews, validation_size)
    return movie_split(training_movies(path), validation_size)


def held_out_texts(path: PathLike, validation_size: int, by: str = "review"
                   ) -> tuple[list[str], np.ndarray]:
    """The raw text and labels of the training reviews :func:`imdb_split` holds out."""
    train = load_corpus(path).subset("train")
    chosen = training_order(len(train))[imdb_split(path, len(train), validation_size, by)[1]]
    return [train.texts[int(i)] for i in chosen], train.labels[chosen].astype(np.uint8)
