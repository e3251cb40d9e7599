"""Reviews in memory, featurised and split for training: IMDB (the book's way or by movie) or
the user's own reviews, with the record of what was read.

Vocabulary, n-grams and idf are fitted on the training reviews (held-out ones included, as in
the book), never on test reviews; labels of held-out reviews are used only to choose.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from critic.datasets.files import Reviews
from critic.datasets.imdb import BookMatrices, book_matrices, training_movies, training_order
from critic.datasets.labels import check_classes, encode_labels, is_coded
from critic.datasets.stream import ContentChecksum, ReviewStream
from critic.errors import ConfigError
from critic.features import FeatureConfig, FeatureSpace
from critic.fitting.options import TrainOptions, check_target
from critic.fitting.splits import (
    BOOK_ORDER,
    MOVIE_ORDER,
    book_split,
    movie_split,
    shuffled_order,
    shuffled_split,
    validation_count,
    validation_record,
)
from critic.text import TextColumn, Vocabulary


@dataclass(frozen=True)
class Split:
    """Featurised training and held-out reviews, and what the bundle records of them."""

    x_train: sp.csr_matrix
    y_train: np.ndarray
    x_val: sp.csr_matrix
    y_val: np.ndarray
    featurizer: FeatureSpace
    data: dict[str, Any]
    test: Callable[[], tuple[sp.csr_matrix, np.ndarray]] | None  # IMDB's test split, when ready
    # The texts of the training and held-out rows, in row order (for nblr's sentences).
    texts: Callable[[], tuple[Sequence[str], Sequence[str]]] = lambda: ((), ())
    # The labels' names when learned from the data (class ``i`` is ``classes[i]``); ``None``:
    # critic's own two, negative and positive.
    classes: tuple[str | int | float, ...] | None = None

    @property
    def n_classes(self) -> int:
        return 2 if self.classes is None else len(self.classes)

    def test_metrics(self, probabilities: Callable[[sp.csr_matrix], np.ndarray]
                     ) -> dict[str, Any]:
        """``{"test": metrics}`` of ``probabilities`` on IMDB's test reviews; ``{}`` else."""
        from critic.metrics import evaluate_probabilities

        if self.test is None:
            return {}
        x_test, y_test = self.test()
        return {"test": evaluate_probabilities(y_test, probabilities(x_test),
                                               names=self.classes)}


def featurized_imdb_split(options: TrainOptions, data: Any, trained_on_after_choice: bool
                          ) -> Split:
    """IMDB's training reviews featurised as ``options.features`` and held out as the options
    say; the test reviews featurised on the second core meanwhile."""
    if options.features == FeatureConfig(num_words=options.features.num_words) and \
            options.target == "sentiment":
        return _imdb_book_split(options, data, trained_on_after_choice)
    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(data)
    train, test = corpus.subset("train"), corpus.subset("test")
    order = training_order(len(train))
    featurizer = FeatureSpace.from_config(options.features)
    x = featurizer.fit_transform(train.texts)[order]  # fitted on training reviews only
    y, classes = imdb_targets(options.target, train.labels[order], train.ratings[order])
    n_val = validation_count(options.validation_size, len(y), options.imdb_validation)
    by, kept, held_out = _imdb_held_out(options, lambda: train.movies[order], len(y), n_val)
    # The test reviews are featurised on the second core while the model trains on the first
    # (training is single-threaded; the featurizer's work is mostly outside the GIL): the
    # 2 s it takes for nblr then costs nothing.
    test_features = in_background(featurizer.transform, test.texts)
    test_labels, _ = imdb_targets(options.target, test.labels, test.ratings)

    def texts() -> tuple[Sequence[str], Sequence[str]]:
        ordered = train.texts.take(order)  # a copy of the texts, made only for sentences
        return rows_of(ordered, kept), rows_of(ordered, held_out)

    return Split(x[kept], y[kept], x[held_out], y[held_out], featurizer,
                 _imdb_data(corpus.checksum, len(y[held_out]), by, trained_on_after_choice),
                 lambda: (test_features.result(), test_labels), texts, classes)


#: IMDB's ratings: the file names' 1-4 (negative reviews) and 7-10 (positive ones).
IMDB_RATINGS = (1, 2, 3, 4, 7, 8, 9, 10)


def imdb_targets(target: str, labels: np.ndarray, ratings: np.ndarray
                 ) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """What an IMDB model learns: the 0/1 sentiment, or the rating's place among
    :data:`IMDB_RATINGS` (and those ratings, the labels' names)."""
    if target == "sentiment":
        return labels.astype(np.uint8), None
    return np.searchsorted(IMDB_RATINGS, ratings).astype(np.int64), IMDB_RATINGS


def book_with_target(book: BookMatrices, data: Any, target: str
                     ) -> tuple[BookMatrices, tuple[int, ...] | None]:
    """The book's matrices labelled for ``target`` (:func:`imdb_targets`, in ``load_data``'s
    order, test reviews too), and the labels' names (``None``: the 0/1 sentiment)."""
    check_target(target)
    if target == "sentiment":
        return book, None
    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(data)
    train, test = corpus.subset("train"), corpus.subset("test")
    y_train, classes = imdb_targets(target, train.labels[book.train_order],
                                    train.ratings[book.train_order])
    y_test, _ = imdb_targets(target, test.labels[book.test_order],
                             test.ratings[book.test_order])
    return dataclasses.replace(book, y_train=y_train, y_test=y_test), classes


def multi_hot_reviews(reviews: Reviews, num_words: int
                      ) -> tuple[sp.csr_matrix, np.ndarray, tuple[Any, ...] | None]:
    """The user's labelled reviews as the book makes IMDB's: multi-hot rows of their
    ``num_words`` most frequent words; their labels and the labels' names (``None``: 0/1)."""
    if reviews.labels is None:
        raise ConfigError(f"{reviews.source} has no labels to learn from")
    check_classes(reviews.labels, reviews.classes, reviews.source)
    featurizer = FeatureSpace.from_config(FeatureConfig(num_words=num_words))
    return featurizer.fit_transform(reviews.texts), reviews.labels, reviews.classes


def _imdb_book_split(options: TrainOptions, data: Any, trained_on_after_choice: bool
                     ) -> Split:
    """The book's multi-hot vectors, from the cached token ids (no tokenising)."""
    num_words = options.features.num_words
    book = book_matrices(data, num_words)
    n_val = validation_count(options.validation_size, len(book.y_train),
                             options.imdb_validation)
    featurizer = FeatureSpace.from_fitted(options.features,
                                          Vocabulary(book.words, num_words=num_words))
    by, kept, held_out = _imdb_held_out(options, lambda: training_movies(data),
                                        len(book.y_train), n_val)
    parts = book.rows(kept, held_out)

    def texts() -> tuple[Sequence[str], Sequence[str]]:
        from critic.datasets.corpus import load_corpus

        train = load_corpus(data).subset("train")
        ordered = train.texts.take(training_order(len(train)))
        return rows_of(ordered, kept), rows_of(ordered, held_out)

    return Split(*parts, featurizer,
                 _imdb_data(book.checksum, len(parts[3]), by, trained_on_after_choice),
                 lambda: (book.x_test, book.y_test), texts)


def _imdb_held_out(options: TrainOptions, movies_of: Callable[[], np.ndarray], reviews: int,
                   n_val: int) -> tuple[str, slice | np.ndarray, slice | np.ndarray]:
    """How IMDB's training reviews are held out, and the training and held-out rows: as
    asked, else the recipe's default, but by review where the copy of IMDB names no movies
    (a folder without ``urls_*.txt``). ``movies_of`` gives the training reviews' movies in
    ``load_data`` order (asked only for a split by movie)."""
    if options.imdb_validation_by == "movie":
        movies = movies_of()
        if options.validation_by is not None or (movies >= 0).all():
            return "movie", *movie_split(movies, n_val)
    return "review", *book_split(reviews, n_val)


def _imdb_data(checksum: str, n_val: int, by: str, trained_on_after_choice: bool
               ) -> dict[str, Any]:
    return {"source": "imdb", "checksum": checksum,
            "validation": validation_record(
                reviews=n_val, by=by, order=MOVIE_ORDER if by == "movie" else BOOK_ORDER,
                trained_on_after_choice=trained_on_after_choice)}


def file_split(options: TrainOptions, reviews: Reviews, trained_on_after_choice: bool
               ) -> Split:
    """The user's reviews featurised, shuffled with the options' seed and split."""
    if reviews.labels is None:
        raise ConfigError(f"{reviews.source} has no labels to train on")
    check_classes(reviews.labels, reviews.classes, reviews.source)
    n_val = validation_count(options.validation_size, len(reviews), 0.2)
    order, kept, held_out = shuffled_split(len(reviews), n_val, options.seed)
    featurizer = FeatureSpace.from_config(options.features)
    x = featurizer.fit_transform(reviews.texts)[order]
    y = reviews.labels[order]
    return Split(x[kept], y[kept], x[held_out], y[held_out], featurizer,
                 {"source": reviews.source, "reviews": len(reviews),
                  "checksum": content_checksum(reviews),
                  "validation": validation_record(
                      reviews=n_val, order=shuffled_order(options.seed),
                      trained_on_after_choice=trained_on_after_choice)},
                 None, lambda: (rows_of(reviews.texts, order[kept]),
                                rows_of(reviews.texts, order[held_out])), reviews.classes)


def content_checksum(reviews: Reviews) -> str:
    """SHA-256 of the texts and labels trained on (whatever file or folder held them)."""
    checksum = ContentChecksum()
    checksum.add(reviews.texts, reviews.labels)
    return checksum.hexdigest()


def rows_of(texts: Sequence[str], rows: slice | np.ndarray) -> Sequence[str]:
    """The texts at ``rows`` (a slice, or positions), in that order."""
    if isinstance(rows, slice):
        return texts[rows]
    if isinstance(texts, TextColumn):
        return texts.take(rows)
    return [texts[int(i)] for i in rows]


def read_stream(stream: ReviewStream) -> Reviews:
    """All of ``stream``'s reviews in memory (what the in-memory path trains on), their
    labels learned from the data (:func:`critic.datasets.labels.encode_labels`)."""
    reviews = _read_stream(stream)
    if reviews is None:  # critic's 0/1 words in some batches, other labels in others
        stream.raw_labels = True
        reviews = _read_stream(stream)
    assert reviews is not None
    return reviews


def _read_stream(stream: ReviewStream) -> Reviews | None:
    texts, labels, ids = [], [], []
    for batch in stream:
        if batch.labels is None:
            raise ConfigError(f"{batch.source} has no labels to train on")
        texts.append(batch.texts.arrow)
        labels.append(batch.labels)
        ids.append(batch.ids)
    all_ids = None if any(part is None for part in ids) else [i for p in ids for i in p or []]
    coded = {is_coded(part) for part in labels}
    if len(coded) > 1 and not stream.raw_labels and any(
            part.dtype == object for part in labels):
        return None
    encoded, classes = encode_labels(labels, stream.source)
    return Reviews(TextColumn(pa.chunked_array(texts)), encoded, all_ids, stream.source,
                   classes)


def text_bytes(texts: Sequence[str]) -> int:
    """UTF-8 bytes of ``texts`` (what the memory estimates count)."""
    if isinstance(texts, TextColumn):
        return int(texts.arrow.nbytes)
    return sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)


def in_background(work: Callable[[Sequence[str]], sp.csr_matrix], texts: Sequence[str]
                  ) -> Future[sp.csr_matrix]:
    """``work(texts)`` started on a thread of its own (featurising is mostly outside the
    GIL, so it runs on the second core while the first one trains)."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(work, texts)
    pool.shutdown(wait=False)  # the thread finishes its one task, then ends
    return future
