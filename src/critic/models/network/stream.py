"""A network from a stream in bounded memory, on the same features the in-memory fit uses
(multi-hot words, counts, tf-idf, n-grams of a vocabulary).

One pass counts the words (the vocabulary: a dictionary as large as the distinct words, not
the reviews); with n-grams, one more counts them (:data:`NGRAM_COUNT_CAP`); one featurises,
holds out, spills minibatches of raw counts (:mod:`critic.fitting.spill`) and sums the
document frequencies for the idf; then every epoch reads the minibatches back in a new order
and weighs them (tf-idf, row norms) as it goes. On a cluster the same code runs on every Ray
Train worker, the counts and gradients shared through a :class:`Collective`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from critic.datasets.labels import Label
from critic.datasets.stream import Batch
from critic.errors import ConfigError, DataError
from critic.features import FeatureConfig, FeatureSpace, count_codes, idf_of, most_frequent
from critic.fitting.spill import (
    Minibatch,
    agreed_over,
    check_labels_split,
    spill_stream,
    spills,
)
from critic.metrics import evaluate_probabilities, probabilities_of
from critic.models.network.config import NetworkConfig, TrainConfig, outputs_for
from critic.text import Vocabulary, tokenize_texts

#: Distinct n-grams a network's n-gram count holds at once: 2**24 codes and counts, 256 MB.
#: IMDB's 25,000 training reviews hold 2.4 million distinct word bigrams, so up to corpora
#: of a few hundred thousand distinct reviews the count is exact; beyond the cap the rarest
#: half is dropped each time it fills (lossy counting): an n-gram frequent enough to be kept
#: among the top ``max_ngrams`` is then counted from where it last came back.
NGRAM_COUNT_CAP = 1 << 24

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StreamNetworkFit:
    """What :func:`fit_streaming_network` returns."""

    classifier: Any  # critic.models.network.classifier.Classifier (PyTorch imported there)
    history: Any  # its History
    featurizer: FeatureSpace
    validation: dict[str, Any]
    reviews: int
    held_out: int
    classes: tuple[Label, ...] | None = None  # the labels' names, learned from the stream


class Collective(Protocol):
    """What the workers that train one network share (:func:`fit_streaming_network`): on one
    machine the one process is all of them (:data:`ALONE`); on a cluster they are the ranks
    of a ``torch.distributed`` group (:class:`critic.models.network.cluster.TorchCollective`)."""

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
                          collective: Collective = ALONE,
                          spill_root: str | None = None) -> StreamNetworkFit:
    """Train a network from a labelled ``stream`` in bounded memory (see the module
    docstring); ``stream()`` starts a new pass.

    With a ``collective`` of several workers, each reads its own share of the reviews: the
    counts are summed over the workers, each worker's minibatches are ``1 / size`` of the
    batch size, and the gradients are averaged over the workers at every step (DDP), so a
    step learns from as many reviews as on one machine; every worker ends with the same
    model, history and validation figures.
    """
    from critic.models.network.classifier import Classifier

    if features.hashing:
        raise ConfigError("networks learn from a vocabulary's features, not hashed ones; "
                          "set hashing off", parameter="hashing")
    started = time.perf_counter()
    counting = _counting_featurizer(stream, features, collective)
    documents = np.zeros(counting.dimension, np.int64) if features.weighting == "tfidf" \
        else None
    with spills(spill_root) as (train, validation):
        agreed = spill_stream(
            stream(), counting, fraction=validation_fraction, seed=training.seed,
            batch_size=max(1, training.batch_size // collective.size), train=train,
            validation=validation, documents=documents,
            agree=agreed_over(collective.gather) if collective.size > 1 else None)
        assert agreed is not None  # every worker agreed
        classes = agreed[0]
        width = 2 if classes is None else len(classes)
        per_label = [collective.sum(spill.counts(width)) for spill in (train, validation)]
        trained, held = (int(counts.sum()) for counts in per_label)
        passes = 3 if features.ngram_range[1] >= 2 else 2
        progress(f"read {trained + held:,} reviews {passes} times ({held:,} held out) in "
                 f"{time.perf_counter() - started:.1f} s")
        check_labels_split(per_label[0], per_label[1], classes)
        featurizer = _final_featurizer(
            counting, features, None if documents is None else collective.sum(documents),
            trained + held)
        classifier = Classifier(dataclasses.replace(
            network, input_dim=featurizer.dimension, outputs=outputs_for(width, training)),
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
        scored = [(classifier.decision_function(_network_rows(b, featurizer)[0]), b.labels)
                  for b in validation.read()]
    logits, labels = (np.concatenate([pair[side] for share in collective.gather(scored)
                                      for pair in share]) for side in (0, 1))
    return StreamNetworkFit(classifier, history, featurizer,
                            evaluate_probabilities(labels, probabilities_of(logits),
                                                   names=classes),
                            trained + held, held, classes)



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
    # Two labels are the 0/1 targets of one logit; more, the class indices of a softmax.
    labels = batch.labels.astype(np.float32) if batch.labels.dtype == np.uint8 else \
        batch.labels
    return (x if batch.binary else featurizer.weigh(x)), labels
