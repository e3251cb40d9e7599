"""Predictions written as they are made: TSV, JSON lines or Parquet, in constant memory.

:func:`score_stream` scores a :class:`~critic.datasets.stream.ReviewStream` batch by batch
and hands each batch's verdicts to a writer, so ``critic predict`` holds one batch of reviews
whatever the size of its input. A file is written under a temporary name in its folder and
renamed when the last review is scored: bad input met half way (or Ctrl-C) leaves no output
that looks complete, and what was there before stays.

The lines are those of :meth:`critic.predict.Prediction.to_line`, made for a whole batch at
once (one review's Python objects would cost more than its scoring).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from critic._atomic import atomic_path
from critic.datasets.stream import Batch
from critic.errors import OutputError
from critic.predict import Predictor, tsv_field

#: Output names that ask for JSON lines without --json (as ``.parquet`` asks for Parquet).
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True)
class Verdicts:
    """One batch's predictions as columns."""

    ids: list[str | None] | None  # None: a review without an id
    positive: np.ndarray  # P(positive), float64; more labels: (n, labels), each one's
    words: np.ndarray  # words found per review (0: scored from the prior)
    labels: tuple[str, ...]  # (negative, positive), or more in the model's order
    threshold: float

    @property
    def is_positive(self) -> np.ndarray:
        return self.positive >= self.threshold

    @property
    def scores(self) -> np.ndarray:
        """Confidence in each verdict (Hugging Face's ``score``)."""
        if self.positive.ndim == 2:
            return self.positive.max(axis=1)
        return np.where(self.is_positive, self.positive, 1.0 - self.positive)

    def names(self) -> list[str]:
        if self.positive.ndim == 2:
            return [self.labels[k] for k in self.positive.argmax(axis=1).tolist()]
        negative, positive = self.labels
        return [positive if p else negative for p in self.is_positive.tolist()]


def score_stream(predictor: Predictor, batches: Iterable[Batch]) -> Iterator[Verdicts]:
    """The :class:`Verdicts` of each batch of reviews, in order."""
    for batch in batches:
        probabilities, words = predictor.score(batch.texts)
        yield Verdicts(batch.ids, probabilities, words, predictor.labels, predictor.threshold)


class Writer(Protocol):
    def write(self, verdicts: Verdicts) -> None: ...


class LinesWriter:
    """TSV (id, label, score, P(positive)) or JSON lines, as ``Prediction.to_line``."""

    def __init__(self, out: IO[str], *, as_json: bool) -> None:
        self.out, self.as_json = out, as_json

    def write(self, verdicts: Verdicts) -> None:
        self.out.write("".join(self._json_lines(verdicts) if self.as_json
                               else self._tsv_lines(verdicts)))

    @staticmethod
    def _tsv_lines(v: Verdicts) -> Iterator[str]:
        ids = ([("" if i is None else tsv_field(i)) + "\t" for i in v.ids]  # no id: empty
               if v.ids is not None else None)
        for k, (name, score, positive) in enumerate(zip(
                v.names(), v.scores.tolist(), v.positive.tolist(), strict=True)):
            each = ("\t".join(f"{p:.6f}" for p in positive) if isinstance(positive, list)
                    else f"{positive:.6f}")  # more labels: each one's probability
            yield f"{ids[k] if ids else ''}{name}\t{score:.6f}\t{each}\n"

    @staticmethod
    def _json_lines(v: Verdicts) -> Iterator[str]:
        for k, (name, score, positive) in enumerate(zip(
                v.names(), v.scores.tolist(), v.positive.tolist(), strict=True)):
            record: dict[str, object] = {"id": v.ids[k]} if v.ids is not None else {}
            each = (dict(zip(v.labels, positive, strict=True)) if isinstance(positive, list)
                    else {v.labels[0]: 1.0 - positive, v.labels[1]: positive})
            record |= {"label": name, "score": round(score, 6),
                       "probabilities": {label: round(p, 6) for label, p in each.items()}}
            yield json.dumps(record) + "\n"


def _schema(with_ids: bool, labels: tuple[str, ...] | None = None) -> pa.Schema:
    """The columns of predictions as Parquet: ``id`` (``with_ids``), ``label``, ``score``,
    ``positive_probability`` (more than two ``labels``: ``probability_<label>`` for each),
    ``words``."""
    fields = [("id", pa.string())] if with_ids else []
    each = ([("positive_probability", pa.float64())] if labels is None
            else [(f"probability_{label}", pa.float64()) for label in labels])
    return pa.schema([*fields, ("label", pa.string()), ("score", pa.float64()),
                      *each, ("words", pa.int32())])


def _record_batch(verdicts: Verdicts, schema: pa.Schema) -> pa.RecordBatch:
    """``verdicts`` as a record batch of ``schema`` (:func:`_schema`)."""
    columns = []
    if "id" in schema.names:  # a file of the input without ids: nulls
        columns.append(pa.array(verdicts.ids, pa.string()) if verdicts.ids is not None
                       else pa.nulls(len(verdicts.positive), pa.string()))
    each = ([pa.array(verdicts.positive)] if verdicts.positive.ndim == 1 else
            [pa.array(column) for column in verdicts.positive.T])
    columns += [pa.array(verdicts.names(), pa.string()), pa.array(verdicts.scores),
                *each, pa.array(verdicts.words.astype(np.int32))]
    return pa.record_batch(columns, schema=schema)


class ParquetWriter:
    """Columns ``id`` (``with_ids``; by default when the first batch has ids), ``label``,
    ``score``, ``positive_probability`` and ``words``; one row group per batch."""

    def __init__(self, path: Path, *, with_ids: bool | None = None) -> None:
        self.path, self.with_ids = path, with_ids
        self._writer: pq.ParquetWriter | None = None

    def write(self, verdicts: Verdicts) -> None:
        if self._writer is None:
            with_ids = verdicts.ids is not None if self.with_ids is None else self.with_ids
            self._writer = pq.ParquetWriter(self.path, _schema(
                with_ids, verdicts.labels if verdicts.positive.ndim == 2 else None))
        self._writer.write_batch(_record_batch(verdicts, self._writer.schema))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def write_stream(verdicts: Iterable[Verdicts], output: Path | None, *, as_json: bool,
                 stdout: IO[str],
                 on_batch: Callable[[Verdicts], None] = lambda verdicts: None,
                 with_ids: bool | None = None) -> int:
    """Write every batch of ``verdicts`` to ``output`` (by its suffix: ``.parquet``,
    ``.jsonl``/``.ndjson``/``.json`` for JSON lines, else TSV, or JSON lines with ``as_json``)
    atomically, or to ``stdout`` as they come; return the number written.
    ``with_ids`` fixes whether Parquet has an id column (see :class:`ParquetWriter`)."""
    written = 0

    def each(writer: Writer) -> int:
        count = 0
        for batch in verdicts:
            writer.write(batch)
            count += len(batch.positive)
            on_batch(batch)
        return count

    if output is None:
        return each(LinesWriter(stdout, as_json=as_json))
    try:
        with atomic_path(output) as part:
            if output.suffix.lower() == ".parquet":
                parquet = ParquetWriter(part, with_ids=with_ids)
                with contextlib.closing(parquet):
                    written = each(parquet)
            else:
                lines = as_json or output.suffix.lower() in JSON_SUFFIXES
                with open(part, "w", encoding="utf-8") as out:
                    written = each(LinesWriter(out, as_json=lines))
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from exc
    return written
