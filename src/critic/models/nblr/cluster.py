"""``nblr`` on a Ray cluster: the streamed fit (:mod:`critic.models.nblr.stream`) with its
stream dealt to one shard actor per CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from critic.cluster.connect import gather, quiet
from critic.cluster.shards import (
    checksum_of_parts,
    job_folder,
    shard_batches,
    shards,
    spill_root,
)
from critic.datasets.labels import StreamLabels
from critic.fitting.result import Fitted
from critic.fitting.spill import check_labels_split, spill_stream, spills
from critic.hashing import HashedFeatureSpace
from critic.models.nblr.config import LinearConfig
from critic.models.nblr.estimator import Fit
from critic.models.nblr.online import (
    AdagradLogistic,
    ClassSums,
    OnlineConfig,
    check_learners_fit,
)
from critic.models.nblr.stream import (
    STREAM_FEATURES,
    adagrad_epoch,
    finish_labels,
    learner_labels,
    score_parts,
)


class _NblrShard:
    """A Ray actor holding one shard of the training reviews: some parts of the stream,
    featurised, split and spilled to its own node's disk once, then an Adagrad epoch over
    them at a time from the weights the driver sends."""

    def __init__(self, parts: list[Any], files: dict[str, int], text_column: str,
                 label_column: str, features: Any, fraction: float, online: Any,
                 folder: str) -> None:
        self.parts, self.files = parts, files
        self.text_column, self.label_column = text_column, label_column
        self.featurizer = HashedFeatureSpace.from_config(features).fit([])
        self.fraction, self.online = fraction, online
        self._stack = contextlib.ExitStack()
        self.train, self.validation = self._stack.enter_context(spills(spill_root(folder)))

    def read(self) -> tuple[Any, ...]:
        """Featurise and spill the shard: the labels it saw, its class sums by their
        provisional codes, and its parts' checksums."""
        digests: list[str] = []
        self.sums = ClassSums(self.featurizer.dimension)
        seen: list[StreamLabels] = []
        # The label set is agreed by the driver, over every shard (relabel).
        spill_stream(shard_batches(self.parts, self.files, self.text_column,
                                   self.label_column, digests),
                     self.featurizer, fraction=self.fraction, seed=self.online.seed,
                     batch_size=self.online.batch_size, train=self.train,
                     validation=self.validation, on_minibatch=self.sums.add,
                     agree=lambda own, where: seen.append(own))
        return seen[0], digests

    def relabel(self, remap: Any, width: int) -> tuple[Any, ...]:
        """The shard's labels as the driver agreed them over every shard: its class sums
        by label, and its reviews per label on each side."""
        self.train.remap = self.validation.remap = np.asarray(remap)
        sums = self.sums.relabel(self.train.remap)
        del self.sums  # as wide as the hashed space: gone before the learners come
        return sums.by_label, self.train.counts(width), self.validation.counts(width)

    def epoch(self, ratios: list[Any], weights: list[Any], squares: list[Any],
              biases: list[float], labels: list[int], seed: list[int]
              ) -> tuple[Any, Any, list[float], float]:
        """One Adagrad pass over the shard from the given state of each label's learner; the
        states after it and the mean loss."""
        learners = self._learners(ratios, weights, biases)
        for learner, own in zip(learners, squares, strict=True):
            learner.squares = np.array(own)
        order = np.random.default_rng(seed).permutation(len(self.train))
        losses = adagrad_epoch(learners, labels, self.train.read(order))
        return ([learner.weights for learner in learners],
                [learner.squares for learner in learners],
                [learner.bias for learner in learners], float(np.mean(losses)))

    def scores(self, ratios: list[Any], weights: list[Any], biases: list[float],
               labels: list[int]) -> tuple[Any, ...]:
        """Each label's score parts of the shard's training and held-out reviews, and the
        held-out reviews' labels."""
        learners = self._learners(ratios, weights, biases)
        return ([(score_parts(learner, self.train, label, len(labels)),
                  score_parts(learner, self.validation, label, len(labels)))
                 for label, learner in zip(labels, learners, strict=True)],
                np.concatenate([batch.labels for batch in self.validation.read()]))

    def _learners(self, ratios: list[Any], weights: list[Any], biases: list[float]
                  ) -> list[AdagradLogistic]:
        learners = []
        for own_ratios, own_weights, bias in zip(ratios, weights, biases, strict=True):
            learner = AdagradLogistic(own_ratios, self.online.learning_rate)
            learner.weights = np.array(own_weights)  # a copy: refs are read-only
            learner.bias = bias
            learners.append(learner)
        return learners

    def close(self) -> None:
        self._stack.close()


def fit_nblr_on_cluster(ray: Any, stream: Any, *, validation_fraction: float,
                        linear: Any = None, online: Any = None, features: Any = None,
                        progress: Callable[[str], None] = lambda message: None) -> Fitted:
    """The streamed ``nblr`` (:func:`critic.models.nblr.stream.fit_streaming_nblr`) on the
    connected cluster: the stream's parts dealt round-robin to one shard actor per CPU;
    the Naive Bayes class sums summed over the shards (a map-reduce: exact); then each
    epoch every shard runs Adagrad over its own reviews from the same weights and the
    driver averages what they return (iterative parameter mixing, McDonald et al. 2010);
    NBSVM's interpolation is chosen on the held-out reviews of all shards, as on one
    machine. Returns the :class:`~critic.fitting.result.Fitted` model, with the checksum of the
    parts the shards read."""
    linear, online = linear or LinearConfig(), online or OnlineConfig()
    features = features or STREAM_FEATURES
    featurizer = HashedFeatureSpace.from_config(features).fit([])
    features_width = featurizer.dimension
    parts, count, files = shards(ray, stream)
    shard = ray.remote(num_cpus=1)(_NblrShard)
    with job_folder() as folder:  # the shards spill in it: removed even if one is killed
        actors = [shard.remote(parts[k::count], files, stream.text_column, stream.label_column,
                               features, validation_fraction, online, folder)
                  for k in range(count)]
        try:
            quiet()
            read = gather(ray, [actor.read.remote() for actor in actors])
            agreed = StreamLabels.union([labels for labels, _ in read], stream.source)
            remaps = [agreed.finish(stream.source, own=labels) for labels, _ in read]
            classes = remaps[0][0]
            width = 2 if classes is None else len(classes)
            shared = gather(ray, [a.relabel.remote(remap, width)
                                  for a, (_, remap) in zip(actors, remaps, strict=True)])
            trained, held = (sum(s[side] for s in shared) for side in (1, 2))
            check_labels_split(trained, held, classes)
            sums = _summed(features_width, [s[0] for s in shared])
            sums.check_words()
            progress(f"read {trained.sum() + held.sum():,} reviews ({held.sum():,} held out) "
                     f"on {count} shards")
            labels = learner_labels(width)
            check_learners_fit(len(labels), features_width)  # on the driver, as on a shard
            # One object each (a list of arrays): Ray resolves a reference given as an
            # argument, not references inside a list.
            ratios = ray.put([sums.ratios(linear.alpha, online.min_count, label)
                              for label in labels])
            del sums
            weights = [np.zeros(features_width) for _ in labels]
            squares = [np.full(features_width, 1e-8) for _ in labels]
            biases = [0.0 for _ in labels]
            for epoch in range(1, online.epochs + 1):
                state = ray.put(weights), ray.put(squares)
                done = gather(ray, [a.epoch.remote(ratios, *state, biases, labels,
                                                   [online.seed, epoch, k])
                                    for k, a in enumerate(actors)])
                weights, squares = ([np.mean([d[part][i] for d in done], axis=0)
                                     for i in range(len(labels))] for part in (0, 1))
                biases = [float(np.mean([d[2][i] for d in done])) for i in range(len(labels))]
                progress(f"epoch {epoch}/{online.epochs}: loss {np.mean([d[3] for d in done]):.4f}")
            scored = gather(ray, [a.scores.remote(ratios, ray.put(weights), biases, labels)
                                  for a in actors])
            fits = [(Fit(ray.get(ratios)[i], weights[i], biases[i], None),
                     *(_joined([s[0][i][side] for s in scored]) for side in (0, 1)))
                    for i in range(len(labels))]
        finally:
            for actor in actors:
                with contextlib.suppress(Exception):
                    ray.get(actor.close.remote())
                    ray.kill(actor)

    fit = finish_labels(fits, np.concatenate([s[1] for s in scored]), classes,
                        featurizer=featurizer, linear=linear, online=online,
                        solver=f"Adagrad on {count} Ray shards, weights averaged each epoch")
    fit.checksum = checksum_of_parts([digests for _, digests in read], len(parts))
    return fit


def _summed(width: int, shards: list[dict[int, Any]]) -> ClassSums:
    """The shards' class sums added label by label."""
    labels = sorted({label for by_label in shards for label in by_label})
    return ClassSums(width, {label: sum(by_label.get(label, np.zeros(width))
                                        for by_label in shards)
                             for label in labels})


def _joined(shares: list[Any]) -> Any:
    """The shards' score parts and labels of one side, in shard order."""
    by_ratio = np.concatenate([share[0][0] for share in shares])
    by_weight = np.concatenate([share[0][1] for share in shares])
    return (by_ratio, by_weight), np.concatenate([share[1] for share in shares])
