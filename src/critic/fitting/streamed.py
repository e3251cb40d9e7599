"""What every streamed fit is given and leaves, whatever the family: passes over a stream
(the user's, reviews already in memory, or IMDB in ``load_data`` order), the first pass
checksummed; the held-out fraction; and the record of what was read. On a cluster, the
same record of the parts its workers read."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from critic.datasets.files import Reviews
from critic.datasets.stream import (
    Batch,
    ContentChecksum,
    ReviewStream,
    array_batches,
    reviews_batches,
)
from critic.fitting.options import TrainOptions
from critic.fitting.result import Fitted
from critic.fitting.splits import (
    STREAMED_IMDB_ORDER,
    shard_order,
    stream_fraction,
    stream_order,
    validation_record,
)
from critic.metrics import evaluate_probabilities, probabilities_of

#: A family's streamed fit: passes over the stream and the held-out fraction → the model.
StreamedFit = Callable[[Callable[[], Iterable[Batch]], float], Fitted]


def streamed(options: TrainOptions, fit: StreamedFit, *, data: Any, reviews: Reviews | None,
             stream: ReviewStream | None) -> tuple[Fitted, dict[str, Any]]:
    """``fit`` on ``stream``, the user's ``reviews`` or (neither) IMDB; the model and the
    record of the data it read."""
    if stream is None and reviews is None:
        return _imdb_streamed(options, fit, data)
    read: Callable[[], Iterable[Batch]]
    if stream is not None:
        source, total, read = stream.source, stream.count(), lambda: iter(stream)
    else:
        assert reviews is not None
        held = reviews
        source, total, read = held.source, len(held), lambda: reviews_batches(held)
    fraction = stream_fraction(options.validation_size, total, 0.2)
    checksum = ContentChecksum()
    # The first pass is checksummed, the others not.
    first = [checksum.watch(read())]

    def passes() -> Iterable[Batch]:
        return first.pop() if first else read()

    fitted = fit(passes, fraction)
    return fitted, {"source": source, "reviews": fitted.reviews,
                    "checksum": checksum.hexdigest(),
                    "validation": _record(fitted, fraction, stream_order(options.seed))}


def _imdb_streamed(options: TrainOptions, fit: StreamedFit, data: Any
                   ) -> tuple[Fitted, dict[str, Any]]:
    """IMDB's training reviews streamed in ``load_data`` order; its test reviews scored by
    the trained model."""
    from critic.datasets.corpus import load_corpus
    from critic.datasets.imdb import training_order
    from critic.fitting.data import imdb_targets

    corpus = load_corpus(data)
    train, test = corpus.subset("train"), corpus.subset("test")
    order = training_order(len(train))
    texts = train.texts.take(order).arrow
    # The sentiment as critic's 0/1; the ratings as written (numbers: the stream learns them).
    labels = train.labels[order].astype(np.uint8) if options.target == "sentiment" else \
        train.ratings[order].astype(np.int64)
    fraction = stream_fraction(options.validation_size, len(train), options.imdb_validation)
    fitted = fit(lambda: array_batches(texts, labels, source="imdb"), fraction)
    logits = np.concatenate([fitted.logits(fitted.featurizer.transform(batch.texts))
                             for batch in array_batches(test.texts.arrow, None, source="imdb")])
    test_labels, _ = imdb_targets(options.target, test.labels, test.ratings)
    fitted.metrics["test"] = evaluate_probabilities(test_labels, probabilities_of(logits),
                                                    names=fitted.classes)
    return fitted, {"source": "imdb", "checksum": corpus.checksum,
                    "validation": _record(fitted, fraction, STREAMED_IMDB_ORDER)}


def on_cluster(options: TrainOptions, stream: ReviewStream,
               fit: Callable[[ReviewStream, float], Fitted]) -> tuple[Fitted, dict[str, Any]]:
    """``fit`` of ``stream``'s parts on a cluster; the model and the record of what its
    workers read (the checksum of every part's checksum, in input order)."""
    fraction = stream_fraction(options.validation_size, stream.count(), 0.2)
    fitted = fit(stream, fraction)
    return fitted, {"source": stream.source, "reviews": fitted.reviews,
                    "checksum": fitted.checksum,
                    "checksum_of": "the SHA-256 of each part's, in order",
                    "validation": _record(fitted, fraction, shard_order(options.seed))}


def _record(fitted: Fitted, fraction: float, order: str) -> dict[str, Any]:
    # Streamed fits choose on the held-out reviews and never train on them afterwards.
    return validation_record(reviews=int(fitted.held_out or 0), fraction=fraction, order=order,
                             trained_on_after_choice=False)
