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

import time
from collections.abc import Callable, Iterable

import numpy as np

from critic.datasets.stream import Batch
from critic.features import FeatureConfig, FeatureSpace
from critic.fitting.result import Fitted
from critic.fitting.spill import Spill, check_split, spill_stream, spills
from critic.hashing import HashedFeatureSpace
from critic.metrics import evaluate_probabilities, sigmoid
from critic.models.nblr.config import LinearConfig
from critic.models.nblr.estimator import Fit, choose_interpolation
from critic.models.nblr.inference import LinearModel
from critic.models.nblr.online import AdagradLogistic, ClassSums, OnlineConfig

#: The streaming ``nblr``'s features: words, bigrams and trigrams hashed into 2**22 columns.
STREAM_FEATURES = FeatureConfig(weighting="binary", num_words=1 << 22, ngram_range=(1, 3),
                                start_char=None, oov_char=None, hashing=True)

Scored = tuple[tuple[np.ndarray, np.ndarray], np.ndarray]


def fit_streaming_nblr(stream: Iterable[Batch], *, validation_fraction: float,
                       linear: LinearConfig | None = None, online: OnlineConfig | None = None,
                       features: FeatureConfig = STREAM_FEATURES,
                       progress: Callable[[str], None] = lambda message: None) -> Fitted:
    """Fit ``nblr`` on a labelled ``stream`` in bounded memory (see the module docstring)."""
    linear, online = linear or LinearConfig(), online or OnlineConfig()
    featurizer = HashedFeatureSpace.from_config(features).fit([])
    with spills() as (train, validation):
        started = time.perf_counter()
        sums = ClassSums(featurizer.dimension)
        spill_stream(stream, featurizer, fraction=validation_fraction, seed=online.seed,
                     batch_size=online.batch_size, train=train, validation=validation,
                     on_minibatch=sums.add)
        check_split(train.reviews, train.positives, validation.reviews,
                    validation.positives)
        sums.check_words()
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
                       solver="Adagrad minibatches over a stream (critic.models.nblr.online)")


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


def score_parts(learner: AdagradLogistic, spill: Spill) -> Scored:
    """Both score parts of every review in ``spill``, and their labels."""
    by_ratio, by_weight, labels = [], [], []
    for batch in spill.read():
        ratio, weight = learner.score_parts(batch)
        by_ratio.append(ratio)
        by_weight.append(weight)
        labels.append(batch.labels)
    return (np.concatenate(by_ratio), np.concatenate(by_weight)), np.concatenate(labels)
