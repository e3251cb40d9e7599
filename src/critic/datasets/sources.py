"""What a command's inputs name, resolved the same way for every command: ``--input`` (a
stream of record batches, or pos/ and neg/ folders read whole), reviews given as arguments
or on stdin, and ``--unlabelled``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from critic.datasets.files import (
    Reviews,
    read_labelled,
    read_reviews_file,
    reviews_from_arguments,
)
from critic.datasets.stream import Batch, ReviewStream, reviews_batches
from critic.errors import DataError


def is_label_folders(source: str) -> bool:
    """A folder of pos/ and neg/ text files (read whole, as IMDB's own layout)."""
    path = Path(source)
    return "://" not in source and path.is_dir() and (
        (path / "pos").is_dir() or (path / "neg").is_dir())


def labelled_source(source: str | None, *, text_column: str = "text",
                    label_column: str = "label") -> ReviewStream | Reviews | None:
    """The labelled reviews ``source`` names: a stream of record batches (its columns
    checked now, before a cluster is joined or anything is read), or, for a folder of pos/
    and neg/ text files, the reviews read whole; ``None`` for none."""
    if source is None or is_label_folders(source):
        return read_labelled(source, text_column=text_column, label_column=label_column)
    stream = ReviewStream(source, text_column=text_column, label_column=label_column,
                          require_labels=True)
    stream.check_columns()
    return stream


def unlabelled_texts(source: str | None, *, text_column: str = "text"
                     ) -> Sequence[str] | None:
    """The texts an ``unlabelled`` source names: ``None`` for IMDB's own (``imdb``) or none."""
    if source is None or source == "imdb":
        return None
    if not source.strip():
        raise DataError("--unlabelled needs imdb or a file of reviews", parameter="unlabelled")
    texts = read_reviews_file(source, text_column=text_column).texts
    if not len(texts):
        raise DataError(f"{source} holds no reviews to learn from", parameter="unlabelled")
    return texts


def review_batches(texts: Sequence[str] | None, source: str | None, *, text_column: str,
                   id_column: str | None, batch_size: int, stdin: BinaryIO | None
                   ) -> tuple[Iterable[Batch], int | None]:
    """The reviews to score, as batches, and their number when known: ``source`` read as a
    stream, or the ``texts`` themselves (``["-"]``: ``stdin``)."""
    if source is not None and not texts and not is_label_folders(source):
        stream = ReviewStream(source, text_column=text_column, id_column=id_column,
                              batch_reviews=batch_size)
        stream.check_columns()
        return stream, stream.count()
    reviews = reviews_from_arguments(texts, source, text_column=text_column,
                                     id_column=id_column, stdin=stdin)
    return reviews_batches(reviews, batch_size), len(reviews)
