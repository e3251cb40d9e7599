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
from critic.fitting.result import Fitted
from critic.fitting.spill import check_split, spill_stream, spills
from critic.hashing import HashedFeatureSpace
from critic.models.nblr.config import LinearConfig
from critic.models.nblr.estimator import Fit
from critic.models.nblr.online import AdagradLogistic, ClassSums, OnlineConfig
from critic.models.nblr.stream import STREAM_FEATURES, finish_nblr, score_parts


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
        """Featurise and spill the shard; its class sums, counts and per-part checksums."""
        digests: list[str] = []
        sums = ClassSums(self.featurizer.dimension)
        _, remap = spill_stream(shard_batches(self.parts, self.files, self.text_column,
                                              self.label_column, digests),
                                self.featurizer, fraction=self.fraction,
                                seed=self.online.seed, batch_size=self.online.batch_size,
                                train=self.train, validation=self.validation,
                                on_minibatch=sums.add)
        sums = sums.relabel(remap)  # the shard's two labels are coded 0/1: unchanged
        return (sums.positive, sums.negative, self.train.reviews, self.train.positives,
                self.validation.reviews, self.validation.positives, digests)

    def epoch(self, ratios: Any, weights: Any, squares: Any, bias: float, seed: list[int]
              ) -> tuple[Any, Any, float, float]:
        """One Adagrad pass over the shard from the given state; the state after it and
        the mean loss."""
        learner = self._learner(ratios, weights, bias)
        learner.squares = np.array(squares)
        order = np.random.default_rng(seed).permutation(len(self.train))
        losses = [learner.step(batch) for batch in self.train.read(order)]
        return learner.weights, learner.squares, learner.bias, float(np.mean(losses))

    def scores(self, ratios: Any, weights: Any, bias: float) -> tuple[Any, Any]:
        """The score parts of the shard's training and held-out reviews."""
        learner = self._learner(ratios, weights, bias)
        return score_parts(learner, self.train), score_parts(learner, self.validation)

    def _learner(self, ratios: Any, weights: Any, bias: float) -> Any:
        learner = AdagradLogistic(ratios, self.online.learning_rate)
        learner.weights, learner.bias = np.array(weights), bias  # a copy: refs are read-only
        return learner

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
    parts, count, files = shards(ray, stream)
    shard = ray.remote(num_cpus=1)(_NblrShard)
    with job_folder() as folder:  # the shards spill in it: removed even if one is killed
        actors = [shard.remote(parts[k::count], files, stream.text_column, stream.label_column,
                               features, validation_fraction, online, folder)
                  for k in range(count)]
        try:
            quiet()
            read = gather(ray, [actor.read.remote() for actor in actors])
            sums = ClassSums(len(read[0][0]), {1: sum(r[0] for r in read),
                                               0: sum(r[1] for r in read)})
            trained, positives, held, held_positives = (sum(r[i] for r in read)
                                                        for i in (2, 3, 4, 5))
            check_split(trained, positives, held, held_positives)
            sums.check_words()
            progress(f"read {trained + held:,} reviews ({held:,} held out) on {count} shards")
            ratios = ray.put(sums.ratios(linear.alpha, online.min_count))
            width = len(sums.positive)
            weights, squares, bias = np.zeros(width), np.full(width, 1e-8), 0.0
            for epoch in range(1, online.epochs + 1):
                state = ray.put(weights), ray.put(squares)
                done = gather(ray, [a.epoch.remote(ratios, *state, bias, [online.seed, epoch, k])
                                     for k, a in enumerate(actors)])
                weights, squares = (np.mean([d[i] for d in done], axis=0) for i in (0, 1))
                bias = float(np.mean([d[2] for d in done]))
                progress(f"epoch {epoch}/{online.epochs}: loss {np.mean([d[3] for d in done]):.4f}")
            scored = gather(ray, [a.scores.remote(ratios, ray.put(weights), bias)
                                   for a in actors])
        finally:
            for actor in actors:
                with contextlib.suppress(Exception):
                    ray.get(actor.close.remote())
                    ray.kill(actor)

    def joined(side: int) -> Any:
        by_ratio = np.concatenate([s[side][0][0] for s in scored])
        by_weight = np.concatenate([s[side][0][1] for s in scored])
        return (by_ratio, by_weight), np.concatenate([s[side][1] for s in scored])

    fit = finish_nblr(Fit(ray.get(ratios), weights, bias, None), joined(0), joined(1),
                      featurizer=HashedFeatureSpace.from_config(features).fit([]),
                      linear=linear, online=online,
                      solver=f"Adagrad on {count} Ray shards, weights averaged each epoch")
    fit.checksum = checksum_of_parts([r[6] for r in read], len(parts))
    return fit
