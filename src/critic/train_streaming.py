"""``critic train`` in bounded memory: ``nblr`` (and, at the end, the networks on word
features: :func:`fit_streaming_network`) learned from a stream of reviews.

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
from typing import Any

import numpy as np
import scipy.sparse as sp

from critic.datasets.stream import Batch
from critic.errors import ConfigError
from critic.evaluation import evaluate_probabilities
from critic.features import FeatureConfig, FeatureSpace, mix64
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
    with _spills() as (train, validation):
        started = time.perf_counter()
        sums = _read_stream(stream, featurizer, validation_fraction, online, train,
                            validation)
        _check_split(train, validation)
        progress(f"read {train.reviews + validation.reviews:,} reviews "
                 f"({validation.reviews:,} held out) in {time.perf_counter() - started:.1f} s")
        ratios = sums.ratios(linear.alpha, online.min_count)
        learner = AdagradLogistic(ratios, online.learning_rate)
        rng = np.random.default_rng(online.seed)
        for epoch in range(1, online.epochs + 1):
            losses = [learner.step(batch) for batch in train.read(rng.permutation(len(train)))]
            progress(f"epoch {epoch}/{online.epochs}: loss {np.mean(losses):.4f}")
        fit = Fit(ratios, learner.weights, learner.bias, None)
        train_parts, y_train = _parts(learner, train)
        val_parts, y_val = _parts(learner, validation)
    chosen, table, val_logits = choose_interpolation(fit, train_parts, y_train, val_parts,
                                                     y_val, linear)
    metrics = {"chosen": {"C": None, "beta": chosen.beta}, "selection": table,
               "validation": evaluate_probabilities(y_val, sigmoid(val_logits))}
    training = linear.to_dict() | online.to_dict() | {
        "beta": chosen.beta, "solver": "Adagrad minibatches over a stream (critic.models.online)",
        "trained_on": train.reviews, "held_out": validation.reviews}
    return StreamFit(LinearModel.from_coefficients(chosen.coef, chosen.intercept), featurizer,
                     metrics,
                     training, train.reviews + validation.reviews, validation.reviews)


@dataclass(frozen=True)
class StreamNetworkFit:
    """What :func:`fit_streaming_network` returns."""

    classifier: Any  # critic.classifier.Classifier (PyTorch is imported only here)
    history: Any  # critic.classifier.History
    featurizer: FeatureSpace
    validation: dict[str, Any]
    reviews: int
    held_out: int


def fit_streaming_network(stream: Callable[[], Iterable[Batch]], *, features: FeatureConfig,
                          network: NetworkConfig, training: TrainConfig, epochs: int,
                          patience: int | None, validation_fraction: float,
                          callbacks: Sequence[Any] = (),
                          progress: Progress = lambda message: None) -> StreamNetworkFit:
    """Train a network on word features from a labelled ``stream`` in bounded memory: one
    pass counts the words (the vocabulary; a dictionary as large as the distinct words, not
    the reviews), one pass featurises, splits and spills minibatches, then every epoch reads
    them back in a new order. ``stream()`` starts a new pass over the same reviews."""
    from critic.classifier import Classifier

    if features.ngram_range != (1, 1) or features.weighting != "binary" or features.hashing:
        raise ConfigError("only word features (multi-hot, as the book's dense model) train "
                          "from a stream yet; give a larger --memory-budget",
                          parameter="memory_budget")
    started = time.perf_counter()
    featurizer = FeatureSpace.from_fitted(features, _streamed_vocabulary(stream(), features))
    online = OnlineConfig(batch_size=training.batch_size, seed=training.seed)
    with _spills() as (train, validation):
        _read_stream(stream(), featurizer, validation_fraction, online, train, validation)
        progress(f"read {train.reviews + validation.reviews:,} reviews twice "
                 f"({validation.reviews:,} held out) in {time.perf_counter() - started:.1f} s")
        _check_split(train, validation)
        width = featurizer.dimension
        classifier = Classifier(dataclasses.replace(network, input_dim=width), training)
        history = classifier.fit_batches(
            lambda rng: (_dense_rows(b, width) for b in train.read(rng.permutation(len(train)))),
            steps=len(train), epochs=epochs, patience=patience, callbacks=callbacks,
            validation_batches=lambda: (_dense_rows(b, width) for b in validation.read()))
        logits, labels = [], []
        for x, y in (_dense_rows(b, width) for b in validation.read()):
            logits.append(classifier.decision_function(x))
            labels.append(y)
    validation_metrics = evaluate_probabilities(
        np.concatenate(labels).astype(np.uint8), sigmoid(np.concatenate(logits)))
    return StreamNetworkFit(classifier, history, featurizer, validation_metrics,
                            train.reviews + validation.reviews, validation.reviews)


def _streamed_vocabulary(stream: Iterable[Batch], features: FeatureConfig) -> Vocabulary:
    """The vocabulary of every review in ``stream``, counted batch by batch: the same words,
    counts and ranks as :meth:`Vocabulary.fit` on all of them at once."""
    counts: Counter[str] = Counter()
    for batch in stream:
        tokens = tokenize_texts(batch.texts)
        counts.update(dict(zip(tokens.words.to_pylist(), tokens.counts().tolist(),
                               strict=True)))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return Vocabulary([w for w, _ in ranked], [c for _, c in ranked],
                      num_words=features.num_words, start_char=features.start_char,
                      oov_char=features.oov_char)


def _dense_rows(batch: Minibatch, width: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """A spilled minibatch as the network takes it: multi-hot rows of the full width."""
    local = batch.local
    x = sp.csr_matrix((local.data, batch.columns[local.indices], local.indptr),
                      shape=(len(batch), width))
    return x, batch.labels.astype(np.float32)


def _check_split(train: _Spill, validation: _Spill) -> None:
    """Both sides of the split hold reviews, and the training side both labels."""
    if not len(validation) or not len(train):
        raise ConfigError("the validation split left no reviews on one side; give more "
                          "reviews or another --validation-size")
    if train.positives in (0, train.reviews):
        raise ConfigError("the reviews have only one label; training needs both")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    from scipy.special import expit  # no overflow warning for large negative logits

    return np.asarray(expit(logits.astype(np.float64)))


def _parts(learner: AdagradLogistic, spill: _Spill
           ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Both score parts of every review in ``spill``, and their labels."""
    by_ratio, by_weight, labels = [], [], []
    for batch in spill.read():
        ratio, weight = learner.score_parts(batch)
        by_ratio.append(ratio)
        by_weight.append(weight)
        labels.append(batch.labels)
    return (np.concatenate(by_ratio), np.concatenate(by_weight)), np.concatenate(labels)


def _read_stream(stream: Iterable[Batch], featurizer: FeatureSpace, fraction: float,
                 online: OnlineConfig, train: _Spill, validation: _Spill) -> ClassSums:
    """The one pass over the stream: featurise, split, mix, count and spill."""
    sums = ClassSums(featurizer.dimension)
    rng = np.random.default_rng(online.seed)
    window: list[tuple[Ragged, np.ndarray]] = []
    for columns, labels, positions in _featurised(stream, featurizer):
        aside = held_out(positions, fraction, online.seed)
        if aside.any():
            kept = np.flatnonzero(aside)
            validation.append(Minibatch.from_ragged(columns.take(kept), labels[kept]))
        kept = np.flatnonzero(~aside)
        window.append((columns.take(kept), labels[kept]))
        if sum(len(y) for _, y in window) >= MIX_WINDOW:
            _spill_window(window, rng, online.batch_size, sums, train)
            window = []
    if window:
        _spill_window(window, rng, online.batch_size, sums, train)
    return sums


def _featurised(stream: Iterable[Batch], featurizer: FeatureSpace
                ) -> Iterator[tuple[Ragged, np.ndarray, np.ndarray]]:
    """Each batch's feature columns per review, labels and positions, in order; the next
    batches are featurised on every core while this one is split and spilled (NumPy and
    Arrow release the GIL)."""
    def featurise(batch: Batch) -> tuple[Ragged, np.ndarray, np.ndarray]:
        if batch.labels is None:
            raise ConfigError(f"{batch.source} has no labels to train on")
        positions = np.arange(batch.position, batch.position + len(batch), dtype=np.int64)
        return _columns(featurizer, batch.texts), batch.labels, positions

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        pending: deque[Future[tuple[Ragged, np.ndarray, np.ndarray]]] = deque()
        for batch in stream:
            pending.append(pool.submit(featurise, batch))
            if len(pending) > _THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _columns(featurizer: FeatureSpace, texts: TextColumn) -> Ragged:
    """The distinct feature columns of each text, featurised a slice at a time: hashing's
    temporaries (several int64 per token) stay those of a few thousand reviews."""
    values, offsets, total = [], [np.zeros(1, dtype=np.int64)], 0
    for start in range(0, len(texts), _FEATURISE_SLICE):
        x = featurizer.transform(texts.take(np.arange(start, min(start + _FEATURISE_SLICE,
                                                                  len(texts)))))
        values.append(x.indices.astype(np.int32, copy=False))
        offsets.append(x.indptr[1:].astype(np.int64) + total)
        total += x.nnz
    return Ragged(np.concatenate(values), np.concatenate(offsets))


def _spill_window(window: list[tuple[Ragged, np.ndarray]], rng: np.random.Generator,
                  batch_size: int, sums: ClassSums, train: _Spill) -> None:
    """Mix the window's reviews, cut them into minibatches, count and spill each."""
    columns = _concatenate([rows for rows, _ in window])
    labels = np.concatenate([y for _, y in window])
    window.clear()
    order = rng.permutation(len(labels))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = Minibatch.from_ragged(columns.take(rows), labels[rows])
        sums.add(batch)
        train.append(batch)


def _concatenate(parts: list[Ragged]) -> Ragged:
    offsets, total = [np.zeros(1, dtype=np.int64)], 0
    for part in parts:
        offsets.append(part.offsets[1:] + total)
        total += int(part.offsets[-1])
    return Ragged(np.concatenate([part.values for part in parts]), np.concatenate(offsets))


@contextlib.contextmanager
def _spills() -> Iterator[tuple[_Spill, _Spill]]:
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
        self._index: list[tuple[int, int, int, int]] = []  # offset, columns, nnz, rows
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
        for array in (batch.columns.astype(np.int32), batch.local.indptr.astype(np.int32),
                      batch.local.indices.astype(np.int32), batch.labels):
            self._file.write(np.ascontiguousarray(array).tobytes())
        self._index.append((offset, columns, batch.local.nnz, rows))
        self.reviews += rows
        self.positives += int(batch.labels.sum())

    def read(self, order: Iterable[int] | None = None) -> Iterator[Minibatch]:
        for i in range(len(self)) if order is None else order:
            offset, columns, nnz, rows = self._index[int(i)]
            self._file.seek(offset)
            cols = np.fromfile(self._file, dtype=np.int32, count=columns)
            indptr = np.fromfile(self._file, dtype=np.int32, count=rows + 1)
            indices = np.fromfile(self._file, dtype=np.int32, count=nnz)
            labels = np.fromfile(self._file, dtype=np.uint8, count=rows)
            yield Minibatch.from_local(cols, indptr, indices, labels)
