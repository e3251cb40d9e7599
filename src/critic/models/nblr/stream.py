"""``nblr`` from a stream in bounded memory: hashed n-grams, Naive Bayes ratios as running
per-class sums, Adagrad minibatches over the spill, NBSVM's interpolation on the held-out
reviews.

Memory holds one batch of reviews and a few float64 arrays as wide as the feature space
(2**22 hashed columns: ~170 MB), whatever the number of reviews:

1. one pass over the stream (:func:`critic.fitting.spill.spill_stream`): featurise, hold out,
   mix, count per class for the Naive Bayes ratios and spill;
2. ``epochs`` passes over the spilled minibatches, in a new random order each time, fit the
   logistic regression by Adagrad (:mod:`critic.models.nblr.online`);
3. one pass scores training and held-out reviews and chooses NBSVM's interpolation on the
   held-out ones, as the in-memory fit does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable

import numpy as np

from critic.datasets.labels import Label
from critic.datasets.stream import Batch
from critic.features import FeatureConfig, FeatureSpace
from critic.fitting.result import Fitted
from critic.fitting.spill import Minibatch, Spill, check_labels_split, spill_stream, spills
from critic.hashing import HashedFeatureSpace
from critic.metrics import evaluate_probabilities, probabilities_of, sigmoid
from critic.models.nblr.config import LinearConfig
from critic.models.nblr.estimator import Fit, choose_interpolation
from critic.models.nblr.inference import LinearModel
from critic.models.nblr.online import (
    AdagradLogistic,
    ClassSums,
    OnlineConfig,
)

#: The streaming ``nblr``'s features: words, bigrams and trigrams hashed into 2**22 columns.
STREAM_FEATURES = FeatureConfig(weighting="binary", num_words=1 << 22, ngram_range=(1, 3),
                                start_char=None, oov_char=None, hashing=True)

Scored = tuple[tuple[np.ndarray, np.ndarray], np.ndarray]


def fit_streaming_nblr(stream: Iterable[Batch], *, validation_fraction: float,
                       linear: LinearConfig | None = None, online: OnlineConfig | None = None,
                       features: FeatureConfig = STREAM_FEATURES,
                       progress: Callable[[str], None] = lambda message: None) -> Fitted:
    """Fit ``nblr`` on a labelled ``stream`` in bounded memory (see the module docstring);
    more than two labels one-vs-rest, one learner per label."""
    linear, online = linear or LinearConfig(), online or OnlineConfig()
    featurizer = HashedFeatureSpace.from_config(features).fit([])
    with spills() as (train, validation):
        started = time.perf_counter()
        sums = ClassSums(featurizer.dimension)
        agreed = spill_stream(stream, featurizer, fraction=validation_fraction,
                              seed=online.seed, batch_size=online.batch_size, train=train,
                              validation=validation, on_minibatch=sums.add)
        assert agreed is not None  # one reader: its own labels
        classes, remap = agreed
        width = 2 if classes is None else len(classes)
        check_labels_split(train.counts(width), validation.counts(width), classes)
        sums = sums.relabel(remap)
        sums.check_words()
        progress(f"read {train.reviews + validation.reviews:,} reviews "
                 f"({validation.reviews:,} held out) in {time.perf_counter() - started:.1f} s")
        labels = learner_labels(width)
        learners = [AdagradLogistic(sums.ratios(linear.alpha, online.min_count, label),
                                    online.learning_rate) for label in labels]
        del sums  # as wide as the learners: memory for them
        rng = np.random.default_rng(online.seed)
        for epoch in range(1, online.epochs + 1):
            losses = adagrad_epoch(learners, labels, train.read(rng.permutation(len(train))))
            progress(f"epoch {epoch}/{online.epochs}: loss {np.mean(losses):.4f}")
        fits = [(Fit(learner.ratios, learner.weights, learner.bias, None),
                 score_parts(learner, train, label, len(labels)),
                 score_parts(learner, validation, label, len(labels)))
                for label, learner in zip(labels, learners, strict=True)]
        held_labels = np.concatenate([batch.labels for batch in validation.read()])
    return finish_labels(fits, held_labels, classes, featurizer=featurizer, linear=linear,
                         online=online,
                         solver="Adagrad minibatches over a stream (critic.models.nblr.online)")


def learner_labels(width: int) -> list[int]:
    """The labels that get a learner: label 1 (against 0) for two, every label for more."""
    return [1] if width == 2 else list(range(width))


def adagrad_epoch(learners: list[AdagradLogistic], labels: list[int],
                  batches: Iterable[Minibatch]) -> list[float]:
    """One Adagrad step of every label's learner on each batch; the steps' losses."""
    return [learner.step(one_against_rest(batch, label, len(labels)))
            for batch in batches for label, learner in zip(labels, learners, strict=True)]


def finish_labels(fits: list[tuple[Fit, Scored, Scored]], held_labels: np.ndarray,
                  classes: tuple[Label, ...] | None, *, featurizer: FeatureSpace,
                  linear: LinearConfig, online: OnlineConfig, solver: str) -> Fitted:
    """The fitted model of one learner (:func:`finish_nblr`) or of one per label
    (:func:`finish_one_vs_rest`), with the labels' names."""
    if len(fits) == 1:
        fitted = finish_nblr(*fits[0], featurizer=featurizer, linear=linear, online=online,
                             solver=solver)
    else:
        fitted = finish_one_vs_rest(fits, held_labels, classes, featurizer=featurizer,
                                    linear=linear, online=online, solver=solver)
    fitted.classes = classes
    return fitted


def one_against_rest(batch: Minibatch, label: int, labels: int) -> Minibatch:
    """``batch`` as one label's learner sees it: 1 for that label, 0 for the others."""
    if labels == 1:
        return batch
    return dataclasses.replace(batch, labels=(batch.labels == label).astype(np.uint8))


def finish_one_vs_rest(fits: list[tuple[Fit, Scored, Scored]], y_val: np.ndarray,
                        classes: tuple[Label, ...] | None, *, featurizer: FeatureSpace,
                        linear: LinearConfig, online: OnlineConfig, solver: str) -> Fitted:
    """Each label's interpolation chosen on the held-out reviews, as for two labels; the
    labels' models as one (:meth:`LinearModel.one_vs_rest`), judged on the held-out reviews
    by its normalised probabilities."""
    chosen, scores = [], []
    for fit, (train_parts, y_train), (val_parts, y_label) in fits:
        best, _, val_logits = choose_interpolation(fit, train_parts, y_train, val_parts,
                                                   y_label, linear)
        chosen.append(best)
        scores.append(val_logits)
    model = LinearModel.one_vs_rest(np.vstack([c.coef for c in chosen]),
                                    np.array([c.intercept for c in chosen]))
    logits = -np.logaddexp(0.0, -np.column_stack(scores))  # log σ, as the model gives
    metrics = {"chosen": {"C": None, "beta": [c.beta for c in chosen]},
               "validation": evaluate_probabilities(y_val, probabilities_of(logits),
                                                    names=classes)}
    trained_on, held = len(fits[0][1][1]), len(y_val)
    training = linear.to_dict() | online.to_dict() | {
        "one_vs_rest": [{"C": None, "beta": c.beta} for c in chosen], "solver": solver,
        "trained_on": trained_on, "held_out": held, "streamed": True}
    return Fitted(model, featurizer, metrics, training, reviews=trained_on + held,
                  held_out=held)


def finish_nblr(fit: Fit, train: Scored, validation: Scored, *, featurizer: FeatureSpace,
                linear: LinearConfig, online: OnlineConfig, solver: str) -> Fitted:
    """NBSVM's interpolation chosen on the held-out reviews' score parts, as in memory,
    and the fit as a model, with what was measured on the way."""
    (train_parts, y_train), (val_parts, y_val) = train, validation
    chosen, table, val_logits = choose_interpolation(fit, train_parts, y_train, val_parts,
                                                     y_val, linear)
    metrics = {"chosen": {"C": None, "beta": chosen.beta}, "selection": table,
               "validation": evaluate_probabilities(y_val, sigmoid(val_logits))}
    trained_on, held = len(y_train), len(y_val)
    training = linear.to_dict() | online.to_dict() | {
        "beta": chosen.beta, "solver": solver, "trained_on": trained_on, "held_out": held,
        "streamed": True}
    return Fitted(LinearModel.from_coefficients(chosen.coef, chosen.intercept), featurizer,
                  metrics, training, reviews=trained_on + held, held_out=held)


def score_parts(learner: AdagradLogistic, spill: Spill, label: int = 1, labels: int = 1
                ) -> Scored:
    """Both score parts of every review in ``spill``, and their labels: as they are for
    two labels (``labels`` 1), 1 for ``label`` and 0 for the others' when there are more
    (what :func:`choose_interpolation` is given for that label's learner)."""
    by_ratio, by_weight, ys = [], [], []
    for batch in spill.read():
        ratio, weight = learner.score_parts(batch)
        by_ratio.append(ratio)
        by_weight.append(weight)
        ys.append(batch.labels)
    y = np.concatenate(ys)
    return (np.concatenate(by_ratio), np.concatenate(by_weight)), \
        (y if labels == 1 else (y == label).astype(np.uint8))
