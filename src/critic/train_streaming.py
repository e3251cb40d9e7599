"""``critic train`` in bounded memory: ``nblr`` (and, at the end, the networks:
:func:`fit_streaming_network`) learned from a stream of reviews.

Used when the reviews do not fit the memory budget (:mod:`critic.train` decides). Memory
holds one batch of reviews and a few float64 arrays as wide as the feature space (2**22
hashed columns: ~170 MB), whatever the number of reviews:

1. one pass over the stream: each batch is tokenised and hashed (:mod:`critic.hashing`),
   its held-out reviews set aside by a hash of their position, the others mixed within a
   window, cut into minibatches, counted per class for the Naive Bayes ratios and spilled
   to a temporary file in their compact local form;
2. ``epochs`` passes over the spilled minibatches, in a new random order each time, fit
   the logistic regression by Adagrad (:mod:`critic.models.online`);
3. one pass scores training and held-out reviews and chooses NBSVM's interpolation on the
   held-out ones, as the in-memory path does.

The held-out reviews are those whose stream position ``i`` hashes below the validation
fraction: ``fmix64(i + seed) / 2**64 < fraction``. The choice depends on nothing but the
position, so it is the same for any batch size, any split of the data into files, and any
machine. The spill file lives in the system's temporary folder (``TMPDIR``) and is removed
at the end, failed runs included.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from critic.datasets.stream import Batch
from critic.errors import ConfigError, DataError
from critic.evaluation import evaluate_probabilities
from critic.features import (
    FeatureConfig,
    FeatureSpace,
    count_codes,
    idf_of,
    mix64,
    most_frequent,
)
from critic.hashing import HashedFeatureSpace
from critic.models.config import NetworkConfig, TrainConfig
from critic.models.linear import Fit, LinearConfig, choose_interpolation
from critic.models.online import AdagradLogistic, ClassSums, Minibatch, OnlineConfig
from critic.models.registry import LinearModel
from critic.text import Ragged, TextColumn, Vocabulary, tokenize_texts

#: The streaming ``nblr``'s features: words, bigrams and trigrams hashed into 2**22 columns.
STREAM_FEATURES = FeatureConfig(weighting="binary", num_words=1 << 22, ngram_range=(1, 3),
                                start_char=None, oov_char=None, hashing=True)
#: Training reviews mixed before they are cut into minibatches (a stream's order is often
#: by label or by product: minibatches must not be).
MIX_WINDOW = 65_536
_FEATURISE_SLICE = 2_048
#: Distinct n-grams a network's n-gram count holds at once: 2**24 codes and counts, 256 MB.
#: IMDB's 25,000 training reviews hold 2.4 million distinct word bigrams, so up to corpora
#: of a few hundred thousand distinct reviews the count is exact; beyond the cap the rarest
#: half is dropped each time it fills (lossy counting): an n-gram frequent enough to be kept
#: among the top ``max_ngrams`` is then counted from where it last came back.
NGRAM_COUNT_CAP = 1 << 24
_THREADS = min(4, os.cpu_count() or 1)

Progress = Callable[[str], None]


def held_out(positions: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Whether each review at stream ``positions`` is held out for validation."""
    mixed = mix64(positions.astype(np.uint64) + np.uint64(seed * 0x9E3779B97F4A7C15
                                                             % 2**64))
    return mixed < np.uint64(min(int(fraction * 2**64), 2**64 - 1))


@dataclass(frozen=True)
class StreamFit:
    """What :func:`fit_streaming_nblr` returns: the model and what it measured."""

    model: LinearModel
    featurizer: FeatureSpace
    metrics: dict[str, Any]
    training: dict[str, Any]
    reviews: int
    held_out: int


def fit_streaming_nblr(stream: Iterable[Batch], *, validation_fraction: float,
                       linear: LinearConfig | None = None, online: OnlineConfig | None = None,
                       features: FeatureConfig = STREAM_FEATURES,
                       progress: Progress = lambda message: None) -> StreamFit:
    """Fit ``nblr`` on a labelled ``stream`` in bounded memory (see the module docstring)."""
    linear, online = linear or LinearConfig(), online or OnlineConfig()
    featurizer = HashedFeatureSpace.from_config(features).fit([])
    with spills() as (train, validation):
        started = time.perf_counter()
        sums = spill_stream(stream, featurizer, validation_fraction, online, train,
                            validation)
        check_split(train.reviews, train.positives, validation.reviews,
                    validation.positives)
        if not (sums.positive.any() or sums.negative.any()):
            raise DataError("none of the reviews holds a word (letters or digits): there is "
                            "nothing to learn from; check the text column")
        progress(f"read {train.reviews + validation.reviews:,} reviews "
                 f"({validation.reviews:,} held out) in {time.perf_counter() - started:.1f} s")
        ratios = sums.ratios(linear.alpha, online.min_count)
        learner = AdagradLogistic(ratios, online.learning_rate)
        rng = np.random.default_rng(online.seed)
        for epoch in range(1, online.epochs + 1):
            losses = [learner.step(batch) for batch in train.read(rng.permutation(len(train)))]
            progress(f"epoch {epoch}/{online.epochs}: loss {np.mean(losses):.4f}")
        scores = (score_parts(learner, train), score_parts(learner, validation))
    return finish_nblr(Fit(ratios, learner.weights, learner.bias, None), *scores,
                       featurizer=featurizer, linear=linear, online=online,
                       solver="Adagrad minibatches over a stream (critic.models.online)")


Scored = tuple[tuple[np.ndarray, np.ndarray], np.ndarray]


def finish_nblr(fit: Fit, train: Scored, validation: Scored, *, featurizer: FeatureSpace,
                linear: LinearConfig, online: OnlineConfig, solver: str) -> StreamFit:
    """NBSVM's interpolation chosen on the held-out reviews' score parts, as in memory,
    and the fit as a model, with what was measured on the way."""
    (train_parts, y_train), (val_parts, y_val) = train, validation
    chosen, table, val_logits = choose_interpolation(fit, train_parts, y_train, val_parts,
                                                     y_val, linear)
    metrics = {"chosen": {"C": None, "beta": chosen.beta}, "selection": table,
               "validation": evaluate_probabilities(y_val, sigmoid(val_logits))}
    trained_on, held = len(y_train), len(y_val)
    training = linear.to_dict() | online.to_dict() | {
        "beta": chosen.beta, "solver": solver, "trained_on": trained_on, "held_out": held}
    return StreamFit(LinearModel.from_coefficients(chosen.coef, chosen.intercept), featurizer,
                     metrics, training, trained_on + held, held)


@dataclass(frozen=True)
class StreamNetworkFit:
    """What :func:`fit_streaming_network` returns."""

    classifier: Any  # critic.classifier.Classifier (PyTorch is imported only here)
    history: Any  # critic.classifier.History
    featurizer: FeatureSpace
    validation: dict[str, Any]
    reviews: int
    held_out: int


class Collective(Protocol):
    """What the workers that train one network share (:func:`fit_streaming_network`): on one
    machine the one process is all of them (:data:`ALONE`); on a cluster they are the ranks
    of a ``torch.distributed`` group (:class:`critic.cluster.TorchCollective`)."""

    #: How many workers there are; ``distributed``: whether their gradients are shared.
    size: int
    distributed: bool

    def gather(self, value: Any) -> list[Any]:
        """Every worker's ``value``, in rank order."""
        ...

    def sum(self, array: np.ndarray) -> np.ndarray:
        """``array`` summed over the workers."""
        ...


class _Alone:
    size, distributed = 1, False

    def gather(self, value: Any) -> list[Any]:
        return [value]

    def sum(self, array: np.ndarray) -> np.ndarray:
        return array


#: One process training alone.
ALONE: Collective = _Alone()


def fit_streaming_network(stream: Callable[[], Iterable[Batch]], *, features: FeatureConfig,
                          network: NetworkConfig, training: TrainConfig, epochs: int,
                          patience: int | None, validation_fraction: float,
                          callbacks: Sequence[Any] = (),
                          progress: Progress = lambda message: None,
                          collective: Collective = ALONE) -> StreamNetworkFit:
    """Train a network from a labelled ``stream`` in bounded memory, on the same features
    the in-memory path fits (multi-hot words, counts, tf-idf, n-grams of a vocabulary).

    One pass counts the words (the vocabulary: a dictionary as large as the distinct words,
    not the reviews); with n-grams, one more counts them (:data:`NGRAM_COUNT_CAP`); one
    featurises, splits and spills minibatches of raw counts and sums the document
    frequencies for the idf; then every epoch reads the minibatches back in a new order and
    weighs them (tf-idf, row norms) as it goes. ``stream()`` starts a new pass.

    With a ``collective`` of several workers, each reads its own share of the reviews: the
    counts are summed over the workers, each worker's minibatches are ``1 / size`` of the
    batch size, and the gradients are averaged over the workers at every step (DDP), so a
    step learns from as many reviews as on one machine; every worker ends with the same
    model, history and validation figures.
    """
    from critic.classifier import Classifier

    if features.hashing:
        raise ConfigError("networks learn from a vocabulary's features, not hashed ones; "
                          "set hashing off", parameter="hashing")
    started = time.perf_counter()
    counting = _counting_featurizer(stream, features, collective)
    documents = np.zeros(counting.dimension, np.int64) if features.weighting == "tfidf" \
        else None
    online = OnlineConfig(batch_size=max(1, training.batch_size // collective.size),
                          seed=training.seed)
    with spills() as (train, validation):
        spill_stream(stream(), counting, validation_fraction, online, train, validation,
                     documents)
        trained, positives, held = (int(n) for n in collective.sum(np.array(
            [train.reviews, train.positives, validation.reviews], dtype=np.int64)))
        passes = 3 if features.ngram_range[1] >= 2 else 2
        progress(f"read {trained + held:,} reviews {passes} times ({held:,} held out) in "
                 f"{time.perf_counter() - started:.1f} s")
        check_split(trained, positives, held)
        featurizer = _final_featurizer(
            counting, features, None if documents is None else collective.sum(documents),
            trained + held)
        classifier = Classifier(dataclasses.replace(network, input_dim=featurizer.dimension),
                                training)
        # Shared gradients need as many steps on every worker: one with fewer minibatches
        # than the most takes some of its own twice in that epoch.
        steps = max(collective.gather(len(train)))
        history = classifier.fit_batches(
            lambda rng: (_network_rows(b, featurizer)
                         for b in train.read(_epoch_order(rng, len(train), steps))),
            steps=steps, epochs=epochs, patience=patience, callbacks=callbacks,
            validation_batches=lambda: (_network_rows(b, featurizer)
                                        for b in validation.read()),
            distributed=collective.distributed)
        scored = [(classifier.decision_function(x), y.astype(np.uint8))
                  for x, y in (_network_rows(b, featurizer) for b in validation.read())]
    logits, labels = (np.concatenate([pair[side] for share in collective.gather(scored)
                                      for pair in share]) for side in (0, 1))
    return StreamNetworkFit(classifier, history, featurizer,
                            evaluate_probabilities(labels, sigmoid(logits)), trained + held,
                            held)


def _epoch_order(rng: np.random.Generator, minibatches: int, steps: int) -> np.ndarray:
    """The spilled minibatches in a new random order, topped up to ``steps`` from another."""
    order = rng.permutation(minibatches)
    if steps <= minibatches:
        return order
    return np.concatenate([order, np.resize(rng.permutation(minibatches), steps - minibatches)])


def _counting_featurizer(stream: Callable[[], Iterable[Batch]], features: FeatureConfig,
                         collective: Collective = ALONE) -> FeatureSpace:
    """``features``' vocabulary and n-grams, counted from the stream (every worker's), in a
    featurizer that gives raw counts (binary features stay binary): what the spill holds."""
    raw = dataclasses.replace(features, sublinear_tf=False,
                              weighting="binary" if features.weighting == "binary" else "count")
    vocabulary = _streamed_vocabulary(stream(), features, collective)
    if not vocabulary.words:
        raise DataError("none of the reviews holds a word (letters or digits): there is "
                        "nothing to learn from; check the text column")
    featurizer = FeatureSpace.from_fitted(raw, vocabulary)
    if features.ngram_range[1] < 2:
        return featurizer
    ngrams = _streamed_ngrams(stream(), featurizer, features.max_ngrams, collective)
    return FeatureSpace.from_fitted(raw, vocabulary, {"ngrams": ngrams})


def _final_featurizer(counting: FeatureSpace, features: FeatureConfig,
                      documents: np.ndarray | None, reviews: int) -> FeatureSpace:
    """The featurizer the bundle keeps: ``features`` with the counted vocabulary, n-grams and
    (tf-idf) the idf of every review read, held-out ones included as in memory."""
    arrays = counting.arrays() | ({} if documents is None else
                                  {"idf": idf_of(documents, reviews)})
    return FeatureSpace.from_fitted(features, counting.vocabulary_, arrays)


def _streamed_ngrams(stream: Iterable[Batch], featurizer: FeatureSpace, keep: int,
                     collective: Collective = ALONE) -> np.ndarray:
    """The ``keep`` most frequent n-grams of the stream's reviews (every worker's), as
    sorted codes: those :meth:`FeatureSpace.fit` keeps, while the distinct n-grams of each
    worker fit the cap."""
    counter = _NgramCounter(NGRAM_COUNT_CAP)
    for batch in stream:
        counter.add(featurizer.ngram_codes(batch.texts))
    shares = collective.gather(counter.totals())
    codes, counts = shares[0] if len(shares) == 1 else count_codes(
        np.concatenate([c for c, _ in shares]), np.concatenate([n for _, n in shares]))
    return codes[most_frequent(counts, keep)]


class _NgramCounter:
    """How often each n-gram code occurs, merged batch by batch, at most ``cap`` codes."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.codes = np.zeros(0, dtype=np.int64)
        self.counts = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_size = 0

    def add(self, codes: np.ndarray) -> None:
        self._pending.append(count_codes(codes))
        self._pending_size += len(self._pending[-1][0])
        # Merged once the batches hold as many codes as the table: a merge costs the table's
        # size, so this keeps counting linear in the codes read.
        if self._pending_size >= max(len(self.codes), self.cap // 4):
            self._merge()

    def totals(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct codes, sorted, and their counts."""
        self._merge()
        return self.codes, self.counts

    def _merge(self) -> None:
        if not self._pending:
            return
        codes = np.concatenate([self.codes, *(c for c, _ in self._pending)])
        counts = np.concatenate([self.counts, *(n for _, n in self._pending)])
        self._pending, self._pending_size = [], 0
        self.codes, self.counts = count_codes(codes, counts)
        if len(self.codes) > self.cap:
            kept = most_frequent(self.counts, self.cap // 2)
            self.codes, self.counts = self.codes[kept], self.counts[kept]


def _streamed_vocabulary(stream: Iterable[Batch], features: FeatureConfig,
                         collective: Collective = ALONE) -> Vocabulary:
    """The vocabulary of every review in ``stream`` (every worker's), counted batch by
    batch: the same words, counts and ranks as :meth:`Vocabulary.fit` on all at once."""
    counts: Counter[str] = Counter()
    for batch in stream:
        tokens = tokenize_texts(batch.texts)
        counts.update(dict(zip(tokens.words.to_pylist(), tokens.counts().tolist(),
                               strict=True)))
    if collective.size > 1:
        shares, counts = collective.gather(counts), Counter()
        for share in shares:
            counts.update(share)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Vocabulary([w for w, _ in ranked], [c for _, c in ranked],
                      num_words=features.num_words, start_char=features.start_char,
                      oov_char=features.oov_char)


def _network_rows(batch: Minibatch, featurizer: FeatureSpace
                  ) -> tuple[sp.csr_matrix, np.ndarray]:
    """A spilled minibatch as the network takes it: rows of the full width, weighed as
    ``featurizer`` weighs counts (tf-idf, sublinear tf, unit rows)."""
    local = batch.local
    x = sp.csr_matrix((local.data, batch.columns[local.indices], local.indptr),
                      shape=(len(batch), featurizer.dimension))
    return (x if batch.binary else featurizer.weigh(x)), batch.labels.astype(np.float32)


def check_split(trained: int, positives: int, held_out: int,
                held_positives: int | None = None) -> None:
    """Both sides of the split hold reviews, and the ``trained`` ones both labels; the
    message says whether the reviews have one label or only the training side does (when
    ``held_positives``, the held-out positives, is known)."""
    if not held_out or not trained:
        raise ConfigError("the validation split left no reviews on one side; give more "
                          "reviews or another --validation-size")
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


def sigmoid(logits: np.ndarray) -> np.ndarray:
    from scipy.special import expit  # no overflow warning for large negative logits

    return np.asarray(expit(logits.astype(np.float64)))


def score_parts(learner: AdagradLogistic, spill: _Spill) -> Scored:
    """Both score parts of every review in ``spill``, and their labels."""
    by_ratio, by_weight, labels = [], [], []
    for batch in spill.read():
        ratio, weight = learner.score_parts(batch)
        by_ratio.append(ratio)
        by_weight.append(weight)
        labels.append(batch.labels)
    return (np.concatenate(by_ratio), np.concatenate(by_weight)), np.concatenate(labels)


def spill_stream(stream: Iterable[Batch], featurizer: FeatureSpace, fraction: float,
                 online: OnlineConfig, train: _Spill, validation: _Spill,
                 documents: np.ndarray | None = None) -> ClassSums:
    """The one pass over the stream: featurise, split, mix, count and spill; add each
    column's document frequency over all reviews to ``documents`` when given."""
    sums = ClassSums(featurizer.dimension)
    rng = np.random.default_rng(online.seed)
    window: list[_Rows] = []
    for rows, positions in _featurised(stream, featurizer):
        if documents is not None:  # columns are distinct within a review
            documents += np.bincount(rows.columns.values, minlength=len(documents))
        aside = held_out(positions, fraction, online.seed)
        if aside.any():
            validation.append(rows.take(np.flatnonzero(aside)).minibatch())
        window.append(rows.take(np.flatnonzero(~aside)))
        if sum(len(part) for part in window) >= MIX_WINDOW:
            _spill_window(window, rng, online.batch_size, sums, train)
            window = []
    if window:
        _spill_window(window, rng, online.batch_size, sums, train)
    return sums


@dataclass(frozen=True)
class _Rows:
    """Featurised reviews: each one's distinct feature columns, their values (``None``:
    all 1, binary features) and the labels."""

    columns: Ragged
    values: np.ndarray | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

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
                ) -> Iterator[tuple[_Rows, np.ndarray]]:
    """Each batch's featurised rows and stream positions, in order; the next batches are
    featurised on every core while this one is split and spilled (NumPy and Arrow release
    the GIL)."""
    def featurise(batch: Batch) -> tuple[_Rows, np.ndarray]:
        if batch.labels is None:
            raise ConfigError(f"{batch.source} has no labels to train on")
        positions = np.arange(batch.position, batch.position + len(batch), dtype=np.int64)
        return _rows(featurizer, batch.texts, batch.labels), positions

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        pending: deque[Future[tuple[_Rows, np.ndarray]]] = deque()
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
                  sums: ClassSums, train: _Spill) -> None:
    """Mix the window's reviews, cut them into minibatches, count and spill each."""
    rows = _Rows.concatenate(window)
    window.clear()
    order = rng.permutation(len(rows))
    for start in range(0, len(order), batch_size):
        batch = rows.take(order[start:start + batch_size]).minibatch()
        sums.add(batch)
        train.append(batch)


@contextlib.contextmanager
def spills() -> Iterator[tuple[_Spill, _Spill]]:
    """The training and the held-out spill, in a temporary folder removed at the end."""
    with tempfile.TemporaryDirectory(prefix="critic-spill-") as folder, \
            _Spill(os.path.join(folder, "train")) as train, \
            _Spill(os.path.join(folder, "validation")) as validation:
        yield train, validation


class _Spill:
    """Minibatches written one after another to a file, read back in any order: the
    training reviews' features cost disk, not memory."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "w+b")  # noqa: SIM115  # closed by __exit__
        # offset, columns, nnz, rows, whether values follow the indices
        self._index: list[tuple[int, int, int, int, bool]] = []
        self.reviews = self.positives = 0

    def __enter__(self) -> _Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def __len__(self) -> int:
        return len(self._index)

    def append(self, batch: Minibatch) -> None:
        rows, (columns,) = len(batch), batch.columns.shape
        offset = self._file.seek(0, os.SEEK_END)
        values = () if batch.binary else (batch.local.data.astype(np.float32),)
        for array in (batch.columns.astype(np.int32), batch.local.indptr.astype(np.int32),
                      batch.local.indices.astype(np.int32), *values, batch.labels):
            self._file.write(np.ascontiguousarray(array).tobytes())
        self._index.append((offset, columns, batch.local.nnz, rows, not batch.binary))
        self.reviews += rows
        self.positives += int(batch.labels.sum())

    def read(self, order: Iterable[int] | None = None) -> Iterator[Minibatch]:
        for i in range(len(self)) if order is None else order:
            offset, columns, nnz, rows, valued = self._index[int(i)]
            self._file.seek(offset)
            cols = np.fromfile(self._file, dtype=np.int32, count=columns)
            indptr = np.fromfile(self._file, dtype=np.int32, count=rows + 1)
            indices = np.fromfile(self._file, dtype=np.int32, count=nnz)
            values = np.fromfile(self._file, dtype=np.float32, count=nnz) if valued else None
            labels = np.fromfile(self._file, dtype=np.uint8, count=rows)
            yield Minibatch.from_local(cols, indptr, indices, labels, values)
