"""What every model family shares to learn from a stream in bounded memory: one pass that
featurises, holds out, mixes and spills minibatches to disk, then passes over the spill.

Used when a model trains from a stream (:mod:`critic._train` chooses the mode: asked for
with ``--mode stream``, or the reviews do not fit the memory budget). Memory
holds one batch of reviews and what the family keeps per feature column, whatever the number
of reviews:

1. :func:`spill_stream` reads the stream once: each batch is featurised (on every core), its
   held-out reviews set aside by a hash of their position
   (:func:`critic.fitting.splits.stream_held_out`), the others mixed within a window, cut
   into :class:`Minibatch` es, shown to the family (``on_minibatch``: nblr counts its Naive
   Bayes sums there) and spilled to a temporary file in their compact local form;
2. the family then reads the spilled minibatches back as often as it needs (epochs), in any
   order.

The spill files live in the system's temporary folder (``TMPDIR``) and are removed at the end,
failed runs included.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from critic.datasets.labels import MAX_CLASSES, Label, StreamLabels
from critic.datasets.stream import Batch
from critic.errors import ConfigError, DataError
from critic.features import FeatureSpace
from critic.fitting.splits import stream_held_out
from critic.text import Ragged, TextColumn

#: Training reviews mixed before they are cut into minibatches (a stream's order is often
#: by label or by product: minibatches must not be).
MIX_WINDOW = 65_536
_FEATURISE_SLICE = 2_048
_THREADS = min(4, os.cpu_count() or 1)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Minibatch:
    """Feature rows in local form: row ``i`` holds ``columns[local[i]]``.

    The values are 1 (binary features, what ``nblr`` learns from) unless the minibatch was
    made with ``values`` (raw counts, which a tf-idf network weighs when it reads them).
    """

    columns: np.ndarray  # int64, the distinct feature columns the rows touch, sorted
    local: sp.csr_matrix  # (rows, len(columns)) float32, indices into ``columns``
    labels: np.ndarray  # (rows,) each review's label (uint8 0/1 for two; see spill_stream)
    binary: bool = True

    @classmethod
    def from_ragged(cls, rows: Ragged, labels: np.ndarray,
                    values: np.ndarray | None = None) -> Minibatch:
        """From each row's distinct feature columns (and their ``values``, row by row)."""
        columns, local = np.unique(rows.values, return_inverse=True)
        return cls.from_local(columns, rows.offsets, local, labels, values)

    @classmethod
    def from_local(cls, columns: np.ndarray, offsets: np.ndarray, local: np.ndarray,
                   labels: np.ndarray, values: np.ndarray | None = None) -> Minibatch:
        """From the distinct ``columns`` and each row's ``local`` indices into them."""
        data = np.ones(len(local), dtype=np.float32) if values is None else values
        matrix = sp.csr_matrix((data.astype(np.float32, copy=False),
                                local.astype(np.int32, copy=False), offsets),
                               shape=(len(offsets) - 1, len(columns)))
        return cls(columns.astype(np.int64, copy=False), matrix, labels, values is None)

    def __len__(self) -> int:
        return self.local.shape[0]


def check_split(trained: int, positives: int, held_out: int,
                held_positives: int | None = None) -> None:
    """Both sides of the split hold reviews, and the ``trained`` ones both labels; the
    message says whether the reviews have one label or only the training side does (when
    ``held_positives``, the held-out positives, is known)."""
    _check_sides(trained, held_out)
    if positives in (0, trained):
        which = "negative" if positives == 0 else "positive"
        if held_positives is not None and positives + held_positives not in (
                0, trained + held_out):
            raise ConfigError(
                f"the reviews have both labels, but the {trained:,} left to train on after "
                f"holding out {held_out:,} for validation are all {which}: training needs "
                "both; give more reviews of the rarer label or hold fewer out",
                parameter="validation_size")
        raise ConfigError(f"the reviews trained on have only one label (all {which}); "
                          "training needs both")


def _check_sides(trained: int, held_out: int) -> None:
    if not held_out or not trained:
        raise ConfigError("the validation split left no reviews on one side; give more "
                          "reviews or another --validation-size")


def check_labels_split(train: np.ndarray, held_out: np.ndarray,
                       classes: Sequence[Label] | None) -> None:
    """:func:`check_split` of the reviews per label on each side (:meth:`Spill.counts`,
    summed over a cluster's workers); with more than two labels: both sides hold reviews,
    the trained ones at least two labels, and every label two reviews (as
    :func:`critic.datasets.labels.check_classes` asks of reviews in memory)."""
    trained, held = int(train.sum()), int(held_out.sum())
    if classes is None or len(classes) == 2:
        check_split(trained, int(train[1]), held, int(held_out[1]))
        return
    _check_sides(trained, held)
    total = train + held_out
    if np.count_nonzero(total) < 2:
        raise DataError(f"every review has the same label ({classes[int(total.argmax())]!r}); "
                        "training needs at least two")
    single = [name for name, count in zip(classes, total, strict=True) if count < 2]
    if single:
        raise DataError(f"label {single[0]!r} has a single review; every label needs at "
                        "least two (one to learn from, one to check)")
    if np.count_nonzero(train) < 2:
        raise ConfigError("the reviews left to train on after holding some out for "
                          "validation have a single label; training needs two or more",
                          parameter="validation_size")


def spill_stream(stream: Iterable[Batch], featurizer: FeatureSpace, *, fraction: float,
                 seed: int, batch_size: int, train: Spill, validation: Spill,
                 documents: np.ndarray | None = None,
                 on_minibatch: Callable[[Minibatch], None] | None = None,
                 agree: Agree | None = None) -> Labels | None:
    """The one pass over the stream: featurise, hold out ``fraction`` (by a hash of the
    position, seeded by ``seed``, which also seeds the mixing), mix, cut into minibatches of
    ``batch_size``, show each training minibatch to ``on_minibatch`` and spill it; add each
    column's document frequency over all reviews to ``documents`` when given.

    The label set is learned on the way (:class:`~critic.datasets.labels.StreamLabels`):
    ``on_minibatch`` sees each label's provisional code, the spills are read back with the
    final ones. Returns the label set (``None``: critic's negative, positive) and ``remap``,
    the final label of each provisional code. Workers that each spill their share of one
    stream agree on the label set through ``agree`` (:func:`agreed_over`); one that returns
    ``None`` leaves the spills' labels provisional, for its caller to set ``remap``."""
    rng = np.random.default_rng(seed)
    labels, source = StreamLabels(), "the stream"
    window: list[_Rows] = []
    for rows, positions, source in _featurised(stream, featurizer):
        rows = rows.with_labels(labels.code(rows.labels, source))
        if documents is not None:  # columns are distinct within a review
            documents += np.bincount(rows.columns.values, minlength=len(documents))
        aside = stream_held_out(positions, fraction, seed)
        if aside.any():
            validation.append(rows.take(np.flatnonzero(aside)).minibatch())
        window.append(rows.take(np.flatnonzero(~aside)))
        if sum(len(part) for part in window) >= MIX_WINDOW:
            _spill_window(window, rng, batch_size, on_minibatch, train)
            window = []
    if window:
        _spill_window(window, rng, batch_size, on_minibatch, train)
    agreed = labels.finish(source) if agree is None else agree(labels, source)
    if agreed is not None:
        train.remap = validation.remap = agreed[1]
    return agreed


#: What :func:`spill_stream` learned of the labels: their names (``None``: critic's
#: negative, positive) and the final label of each provisional code.
Labels = tuple[tuple[Label, ...] | None, np.ndarray]
#: How a worker's labels become the label set of the whole stream (see :func:`agreed_over`).
Agree = Callable[[StreamLabels, str], Labels | None]


def agreed_over(gather: Callable[[StreamLabels], list[StreamLabels]]) -> Agree:
    """Workers that each spill their share of one stream agree on one label set: the union
    of what every worker saw (``gather`` gives every worker's, as a collective does), each
    worker's provisional codes mapped onto it."""
    def agree(own: StreamLabels, where: str) -> Labels:
        return StreamLabels.union(gather(own), where).finish(where, own=own)
    return agree


@dataclass(frozen=True)
class _Rows:
    """Featurised reviews: each one's distinct feature columns, their values (``None``:
    all 1, binary features) and the labels."""

    columns: Ragged
    values: np.ndarray | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def with_labels(self, labels: np.ndarray) -> _Rows:
        return _Rows(self.columns, self.values, labels)

    def take(self, rows: np.ndarray) -> _Rows:
        offsets, at = self.columns.gather(rows)  # once, for the columns and their values
        return _Rows(Ragged(self.columns.values[at], offsets),
                     None if self.values is None else self.values[at], self.labels[rows])

    def minibatch(self) -> Minibatch:
        return Minibatch.from_ragged(self.columns, self.labels, self.values)

    @staticmethod
    def concatenate(parts: Sequence[_Rows]) -> _Rows:
        values = None if parts[0].values is None else \
            np.concatenate([part.values for part in parts if part.values is not None])
        return _Rows(Ragged.concatenate([part.columns for part in parts]), values,
                     np.concatenate([part.labels for part in parts]))


def _featurised(stream: Iterable[Batch], featurizer: FeatureSpace
                ) -> Iterator[tuple[_Rows, np.ndarray, str]]:
    """Each batch's featurised rows, stream positions and file, in order; the next batches are
    featurised on every core while this one is split and spilled (NumPy and Arrow release
    the GIL)."""
    def featurise(batch: Batch) -> tuple[_Rows, np.ndarray, str]:
        if batch.labels is None:
            raise ConfigError(f"{batch.source} has no labels to train on")
        positions = np.arange(batch.position, batch.position + len(batch), dtype=np.int64)
        return _rows(featurizer, batch.texts, batch.labels), positions, batch.source

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        pending: deque[Future[tuple[_Rows, np.ndarray, str]]] = deque()
        for batch in stream:
            pending.append(pool.submit(featurise, batch))
            if len(pending) > _THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _rows(featurizer: FeatureSpace, texts: TextColumn, labels: np.ndarray) -> _Rows:
    """The distinct feature columns of each text (and, unless binary, their values),
    featurised a slice at a time: hashing's temporaries (several int64 per token) stay those
    of a few thousand reviews."""
    binary = featurizer.weighting == "binary"
    columns, values, offsets, total = [], [], [np.zeros(1, dtype=np.int64)], 0
    for start in range(0, len(texts), _FEATURISE_SLICE):
        x = featurizer.transform(texts.take(np.arange(start, min(start + _FEATURISE_SLICE,
                                                                  len(texts)))))
        columns.append(x.indices.astype(np.int32, copy=False))
        if not binary:
            values.append(x.data.astype(np.float32, copy=False))
        offsets.append(x.indptr[1:].astype(np.int64) + total)
        total += x.nnz
    return _Rows(Ragged(np.concatenate(columns), np.concatenate(offsets)),
                 None if binary else np.concatenate(values), labels)


def _spill_window(window: list[_Rows], rng: np.random.Generator, batch_size: int,
                  on_minibatch: Callable[[Minibatch], None] | None, train: Spill) -> None:
    """Mix the window's reviews, cut them into minibatches, show and spill each."""
    rows = _Rows.concatenate(window)
    window.clear()
    order = rng.permutation(len(rows))
    for start in range(0, len(order), batch_size):
        batch = rows.take(order[start:start + batch_size]).minibatch()
        if on_minibatch is not None:
            on_minibatch(batch)
        train.append(batch)


@contextlib.contextmanager
def spills(root: str | None = None) -> Iterator[tuple[Spill, Spill]]:
    """The training and the held-out spill, in a temporary folder (in ``root``, default the
    system's) removed at the end."""
    with tempfile.TemporaryDirectory(prefix="critic-spill-", dir=root) as folder, \
            Spill(os.path.join(folder, "train")) as train, \
            Spill(os.path.join(folder, "validation")) as validation:
        yield train, validation


class Spill:
    """Minibatches written one after another to a file, read back in any order: the
    training reviews' features cost disk, not memory. Labels are written as the provisional
    codes :func:`spill_stream` gives and read back as ``remap`` says, once it is set."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "w+b")  # noqa: SIM115  # closed by __exit__
        # offset, columns, nnz, rows, whether values follow the indices
        self._index: list[tuple[int, int, int, int, bool]] = []
        # Reviews per provisional code: at most MAX_CLASSES labels as written, and 0 and 1.
        self._codes = np.zeros(MAX_CLASSES + 2, dtype=np.int64)
        self.reviews = 0
        self.remap: np.ndarray | None = None

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._index)

    def counts(self, labels: int = 2) -> np.ndarray:
        """Reviews per label (per provisional code until ``remap`` is set), as many as
        ``labels`` at least."""
        if self.remap is None:
            return self._codes[:max(labels, 2)]
        return np.bincount(self.remap, weights=self._codes[:len(self.remap)],
                           minlength=max(labels, int(self.remap.max()) + 1)).astype(np.int64)

    @property
    def positives(self) -> int:
        """Reviews labelled 1: the positive ones, when there are two labels."""
        return int(self.counts()[1])

    def append(self, batch: Minibatch) -> None:
        rows, (columns,) = len(batch), batch.columns.shape
        offset = self._file.seek(0, os.SEEK_END)
        values = () if batch.binary else (batch.local.data.astype(np.float32),)
        codes = batch.labels.astype(np.int16)
        for array in (batch.columns.astype(np.int32), batch.local.indptr.astype(np.int32),
                      batch.local.indices.astype(np.int32), *values, codes):
            self._file.write(np.ascontiguousarray(array).tobytes())
        self._index.append((offset, columns, batch.local.nnz, rows, not batch.binary))
        self.reviews += rows
        self._codes += np.bincount(codes, minlength=len(self._codes))

    def read(self, order: Iterable[int] | None = None) -> Iterator[Minibatch]:
        for i in range(len(self)) if order is None else order:
            offset, columns, nnz, rows, valued = self._index[int(i)]
            self._file.seek(offset)
            cols = np.fromfile(self._file, dtype=np.int32, count=columns)
            indptr = np.fromfile(self._file, dtype=np.int32, count=rows + 1)
            indices = np.fromfile(self._file, dtype=np.int32, count=nnz)
            values = np.fromfile(self._file, dtype=np.float32, count=nnz) if valued else None
            codes = np.fromfile(self._file, dtype=np.int16, count=rows)
            labels = codes if self.remap is None else self.remap[codes]
            yield Minibatch.from_local(cols, indptr, indices, labels, values)
