"""``nblr`` in memory: the choice of C and beta on the held-out reviews, the refit on all
training reviews, and the two variants that add examples — each review's sentences
(``sentence_weight``) and unlabelled reviews the model is sure of (self-training)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from critic.fitting.data import Split, in_background
from critic.fitting.options import TrainOptions
from critic.fitting.result import Fitted
from critic.metrics import evaluate_probabilities, probabilities_of
from critic.models.nblr.estimator import NBLogisticRegression, select_nblr
from critic.models.nblr.inference import LinearModel
from critic.text import split_sentences

if TYPE_CHECKING:
    from critic.models.nblr.config import NblrSettings


@dataclass(frozen=True)
class _Sentences:
    """The sentences of the training and held-out reviews, featurised once: each an example
    of its review's label weighing ``weight``."""

    x: sp.csr_matrix
    owners: np.ndarray  # row of the review each came from (training rows, then held-out)
    weight: float

    @classmethod
    def of(cls, split: Split, weight: float) -> _Sentences | None:
        if not weight:
            return None
        train_texts, val_texts = split.texts()
        sentences, owners = split_sentences([*train_texts, *val_texts])
        return cls(split.featurizer.transform(sentences), owners, weight)

    def below(self, x: sp.csr_matrix, y: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray,
                                                             np.ndarray]:
        """The reviews ``x`` (the first ``len(y)`` rows) with their sentences below them:
        features, labels and row weights."""
        mine = self.owners < len(y)
        weights = np.concatenate([np.ones(len(y)), np.full(int(mine.sum()), self.weight)])
        return (sp.vstack([x, self.x[mine]], format="csr"),
                np.concatenate([y, y[self.owners[mine]]]), weights)


#: Self-training: an unlabelled review joins when the model is this sure of it (probability
#: above 0.95 or below 0.05), weighing as much as a labelled one. Chosen on the held-out
#: movies' validation accuracy among 0.3, 0.4 and 0.45 (docs: the unlabelled regime).
UNLABELLED_MARGIN = 0.45
UNLABELLED_WEIGHT = 1.0


@dataclass(frozen=True)
class _Unlabelled:
    """Unlabelled reviews, featurised once, for self-training."""

    x: sp.csr_matrix

    def confident(self, model: NBLogisticRegression) -> tuple[sp.csr_matrix, np.ndarray]:
        """The reviews ``model`` is sure of, and the labels it gives them."""
        positive = model.predict_proba(self.x)[:, 1]
        sure = np.abs(positive - 0.5) > UNLABELLED_MARGIN
        return self.x[sure], (positive[sure] > 0.5).astype(np.uint8)

    def self_trained(self, model: NBLogisticRegression, x: sp.csr_matrix, y: np.ndarray,
                     weights: np.ndarray | None) -> tuple[NBLogisticRegression, int]:
        """``model``'s settings fitted again on ``x`` with the confident unlabelled reviews
        below it under ``model``'s labels; and how many joined."""
        x_sure, y_sure = self.confident(model)
        weights = np.ones(len(y)) if weights is None else weights
        refit = clone(model).fit(
            sp.vstack([x, x_sure], format="csr"), np.concatenate([y, y_sure]),
            sample_weight=np.concatenate([weights, np.full(len(y_sure), UNLABELLED_WEIGHT)]))
        return refit, len(y_sure)


def fit_nblr(options: TrainOptions, split: Split,
             unlabelled_texts: Sequence[str] | None = None) -> Fitted:
    """``nblr`` in memory: C and beta chosen on the held-out reviews (with the training
    reviews' sentences, and self-trained on ``unlabelled_texts``, as the settings ask), then
    refitted on every training review with that choice."""
    settings: NblrSettings = options.settings
    if split.n_classes > 2:
        return fit_one_vs_rest(settings, split, unlabelled_texts)
    # The unlabelled reviews are featurised on the second core while the choice is made.
    unlabelled_x = (None if unlabelled_texts is None
                    else in_background(split.featurizer.transform, unlabelled_texts))
    sentences = _Sentences.of(split, settings.sentence_weight)
    x, y, weights = ((split.x_train, split.y_train, None) if sentences is None
                     else sentences.below(split.x_train, split.y_train))
    chosen, table = select_nblr(x, y, split.x_val, split.y_val, settings.linear, weights)
    validation = evaluate_probabilities(split.y_val, chosen.predict_proba(split.x_val)[:, 1])
    metrics: dict[str, Any] = {"chosen": {"C": chosen.C, "beta": chosen.beta},
                               "selection": table}
    unlabelled = None if unlabelled_x is None else _Unlabelled(unlabelled_x.result())
    if unlabelled is not None:  # the self-trained model, judged on the same held-out reviews
        chosen, joined = unlabelled.self_trained(chosen, x, y, weights)
        metrics["unlabelled"] = {"validation_without": validation,
                                 "joined_at_validation": joined}
        validation = evaluate_probabilities(split.y_val,
                                            chosen.predict_proba(split.x_val)[:, 1])
    metrics["validation"] = validation
    # The choice is made; now every training review, held-out ones included, trains the model.
    x = sp.vstack([split.x_train, split.x_val], format="csr")
    y = np.concatenate([split.y_train, split.y_val])
    x, y, weights = (x, y, None) if sentences is None else sentences.below(x, y)
    final = clone(chosen).fit(x, y, sample_weight=weights)
    reviews = len(split.y_train) + len(split.y_val)
    training = settings.linear.to_dict() | {
        "C": chosen.C, "beta": chosen.beta, "solver": "scikit-learn liblinear (dual)",
        "refit_on": reviews, "sentence_weight": settings.sentence_weight,
        "sentences": len(y) - reviews}
    if unlabelled is not None:  # labelled again by the refitted model, then fitted once more
        final, joined = unlabelled.self_trained(final, x, y, weights)
        training["unlabelled"] = {"reviews": unlabelled.x.shape[0], "joined": joined,
                                  "margin": UNLABELLED_MARGIN, "weight": UNLABELLED_WEIGHT}
        metrics["unlabelled"] |= {"reviews": unlabelled.x.shape[0], "joined": joined}
    metrics |= split.test_metrics(lambda x: final.predict_proba(x)[:, 1])
    model = LinearModel.from_coefficients(final.coef_, final.intercept_[0],
                                          getattr(final, "squared_ratios_", None))
    return Fitted(model, split.featurizer, metrics, training)


def fit_one_vs_rest(settings: NblrSettings, split: Split,
                    unlabelled_texts: Sequence[str] | None) -> Fitted:
    """More than two labels, as NBSVM's authors train them: one binary nblr per label (its
    reviews against all others, with that label's own NB ratios), C and beta chosen for each
    on the held-out reviews, then each refitted on every training review; a review's
    probabilities are the binary models' normalised (:class:`LinearModel`)."""
    from critic.errors import ConfigError

    if settings.sentence_weight or unlabelled_texts is not None:
        raise ConfigError("--sentence-weight and --unlabelled train two labels; with more, "
                          "leave them out", parameter="sentence_weight")
    x_all = sp.vstack([split.x_train, split.x_val], format="csr")
    y_all = np.concatenate([split.y_train, split.y_val])
    chosen_per_label, coefs, intercepts, ratios = [], [], [], []
    held_coefs, held_intercepts, held_ratios = [], [], []  # fitted on the training rows only
    for label in range(split.n_classes):
        chosen, _ = select_nblr(split.x_train, (split.y_train == label).astype(np.int64),
                                split.x_val, (split.y_val == label).astype(np.int64),
                                settings.linear)
        chosen_per_label.append({"C": chosen.C, "beta": chosen.beta})
        held_coefs.append(chosen.coef_[0])
        held_intercepts.append(chosen.intercept_[0])
        held_ratios.append(getattr(chosen, "squared_ratios_", None))
        final = clone(chosen).fit(x_all, (y_all == label).astype(np.int64))
        coefs.append(final.coef_[0])
        intercepts.append(final.intercept_[0])
        ratios.append(getattr(final, "squared_ratios_", None))
    # A unit-length model measures each review's length with one label's ratios (the first):
    # lengths only rescale the scores, and one vector keeps the bundle's layout.
    model = LinearModel.one_vs_rest(np.vstack(coefs), np.array(intercepts), ratios[0])
    held_out = LinearModel.one_vs_rest(np.vstack(held_coefs), np.array(held_intercepts),
                                       held_ratios[0])
    validation = evaluate_probabilities(split.y_val,
                                        probabilities_of(held_out.logits(split.x_val)),
                                        names=split.classes)
    # Each label's own choice, C and beta listed in the order of the labels.
    metrics: dict[str, Any] = {"chosen": {key: [c[key] for c in chosen_per_label]
                                          for key in ("C", "beta")},
                               "validation": validation}
    metrics |= split.test_metrics(lambda x: probabilities_of(model.logits(x)))
    training = settings.linear.to_dict() | {
        "one_vs_rest": chosen_per_label, "solver": "scikit-learn liblinear (dual)",
        "refit_on": len(y_all)}
    return Fitted(model, split.featurizer, metrics, training)

