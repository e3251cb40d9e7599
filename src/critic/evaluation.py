"""Metrics of probabilities against labels: the usual ones, calibration, and a threshold search;
and the same for a loaded bundle (:func:`evaluate_model`, :func:`store_best_threshold`).

The metrics themselves come from scikit-learn; this module only chooses and packages them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from critic.errors import ConfigError
from critic.text import split_sentences

if TYPE_CHECKING:
    from critic.datasets.files import Reviews
    from critic.datasets.stream import ReviewStream
    from critic.predict import Predictor

CALIBRATION_BINS = 10


def evaluate_probabilities(labels: np.ndarray, probabilities: np.ndarray, *,
                           threshold: float = 0.5) -> dict[str, Any]:
    """Loss, accuracy, precision, recall, F1, ROC-AUC, confusion matrix and calibration.

    Args:
        labels: ``(n,)`` 0/1; probabilities: ``(n,)`` probability of 1.
        threshold: predict 1 where the probability is at least this.
    """
    labels = np.asarray(labels).astype(int)
    if not np.isfinite(probabilities).all():
        raise ConfigError("the model gives probabilities that are not numbers (NaN): its "
                          "training diverged; train it with a lower learning rate",
                          parameter="learning_rate")
    predicted = (probabilities >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    return {
        "reviews": len(labels),
        "threshold": threshold,
        "loss": float(log_loss(labels, probabilities, labels=[0, 1])),
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both_classes else None,
        "confusion_matrix": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "calibration": calibration(labels, probabilities),
    }


def calibration(labels: np.ndarray, probabilities: np.ndarray,
                bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error over equal-width bins, and the bins themselves."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        if not inside.any():
            continue
        confidence, frequency = float(probabilities[inside].mean()), float(labels[inside].mean())
        ece += inside.mean() * abs(confidence - frequency)
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]),
                     "count": int(inside.sum()), "mean_probability": confidence,
                     "fraction_positive": frequency})
    return {"ece": float(ece), "bins": rows}


def find_threshold(labels: np.ndarray, probabilities: np.ndarray,
                   metric: Literal["accuracy", "f1"] = "accuracy") -> float:
    """The cut in (0, 1) that maximises ``metric`` on these (validation) reviews."""
    if metric not in ("accuracy", "f1"):
        raise ConfigError(f"`metric` must be 'accuracy' or 'f1'. Received: {metric!r}")
    present = np.unique(labels)
    if len(present) < 2:
        which = ("no reviews" if not len(present) else
                 f"only {('negative', 'positive')[int(present[0])]} reviews")
        raise ConfigError(f"the validation reviews hold {which}: a cut chosen on them puts "
                          "every review on one side; give reviews of both labels",
                          parameter="validation")
    candidates = np.unique(np.clip(probabilities, 1e-6, 1 - 1e-6))
    if len(candidates) > 2000:
        candidates = np.quantile(candidates, np.linspace(0, 1, 2001))
    score = accuracy_score if metric == "accuracy" else f1_score
    scores = [score(labels, (probabilities >= c).astype(int)) for c in candidates]
    return float(candidates[int(np.argmax(scores))])


def reliability_figure(report: dict[str, Any]) -> bytes:
    """PNG of the reliability diagram: mean probability against fraction positive per bin."""
    from matplotlib.figure import Figure

    bins = report["calibration"]["bins"]
    figure = Figure(figsize=(4.8, 4.8), dpi=100, layout="tight")
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], "k:", label="Perfectly calibrated")
    axes.plot([b["mean_probability"] for b in bins], [b["fraction_positive"] for b in bins],
              "bo-", label=f"Model (ECE {report['calibration']['ece']:.3f})")
    axes.set_xlabel("Mean predicted probability")
    axes.set_ylabel("Fraction of positive reviews")
    axes.set_title("Reliability")
    axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def short_texts(texts: Sequence[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The short-text check: the first and the last sentence (of 3 words or more) of each
    review, labelled by their review, once where they are the same sentence.

    Noisy by construction — a first sentence is often plot, not opinion — so it ranks
    models on short texts rather than measuring one; IMDB's test reviews give 49,784.
    """
    sentences, owners = split_sentences(texts)
    if not len(owners):
        return [], np.zeros(0, dtype=labels.dtype)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    ends = np.r_[starts[1:] - 1, len(owners) - 1]
    picked = np.unique(np.concatenate([starts, ends]))  # a one-sentence review counts once
    return [sentences[i] for i in picked], labels[owners[picked]]


def evaluate_model(predictor: Predictor, reviews: Reviews | ReviewStream | None = None, *,
                   data: str | os.PathLike[str] | None = None,
                   threshold: float | None = None) -> dict[str, Any]:
    """:func:`evaluate_probabilities` of a loaded bundle on labelled ``reviews`` (by default the
    25,000 IMDB test reviews from ``data``), at ``threshold`` (default: the bundle's); the
    report's ``data`` says what was evaluated. A :class:`ReviewStream` is scored batch by
    batch: memory holds one batch and a probability and a label per review."""
    from critic.bundle import check_threshold
    from critic.datasets.stream import ReviewStream

    cut = predictor.threshold if threshold is None else threshold
    check_threshold(cut)
    if isinstance(reviews, ReviewStream):
        labels, probabilities = _scored_stream(predictor, reviews)
        return evaluate_probabilities(labels, probabilities, threshold=cut) | {
            "data": reviews.source}
    if reviews is None:
        from critic.datasets.corpus import load_corpus

        test = load_corpus(data).subset("test")
        texts: Sequence[str] = test.texts
        labels, source = test.labels.astype(np.uint8), "IMDB test split"
    else:
        if reviews.labels is None:
            raise ConfigError(f"{reviews.source} has no labels to evaluate against",
                              parameter="label_column")
        texts, labels, source = reviews.texts, reviews.labels, reviews.source
    return evaluate_probabilities(labels, predictor.predict_proba(texts), threshold=cut) | {
        "data": source}


def _scored_stream(predictor: Predictor, stream: ReviewStream) -> tuple[np.ndarray, np.ndarray]:
    """Every review's label and P(positive), batch by batch."""
    labels, probabilities = [], []
    for batch in stream:
        if batch.labels is None:
            raise ConfigError(f"{batch.source} has no labels to evaluate against",
                              parameter="label_column")
        labels.append(batch.labels.astype(np.uint8))
        probabilities.append(predictor.score(batch.texts)[0])
    return np.concatenate(labels), np.concatenate(probabilities)


def choose_threshold(predictor: Predictor, metric: Literal["accuracy", "f1"] = "accuracy", *,
                     validation: Reviews | None = None,
                     data: str | os.PathLike[str] | None = None) -> float:
    """The cut that maximises ``metric`` on labelled ``validation`` reviews, or, by default, on
    the IMDB training reviews the bundle held out (refused when the model was refitted on
    them: they would not choose honestly)."""
    if metric not in ("accuracy", "f1"):
        raise ConfigError(f"`metric` must be 'accuracy' or 'f1'. Received: metric={metric!r}",
                          parameter="metric")
    if validation is not None:
        if validation.labels is None:
            raise ConfigError(f"{validation.source} has no labels to choose a threshold with")
        texts, labels = validation.texts, validation.labels
    else:
        texts, labels = _held_out_reviews(predictor, data)
    return find_threshold(labels, predictor.predict_proba(texts), metric)


def _held_out_reviews(predictor: Predictor, data: str | os.PathLike[str] | None
                      ) -> tuple[Sequence[str], np.ndarray]:
    from critic.datasets.imdb import held_out_texts

    trained_on = predictor.bundle.config.get("data", {})
    held_out = trained_on.get("validation", {})
    if trained_on.get("source") != "imdb" or "reviews" not in held_out:
        raise ConfigError("this bundle was not trained on IMDB with held-out reviews; give "
                          "labelled validation reviews", parameter="validation")
    if held_out.get("trained_on_after_choice"):
        raise ConfigError(f"this {predictor.bundle.model_name} model was refitted on its "
                          "held-out reviews, so they cannot choose a threshold honestly; give "
                          "other labelled reviews", parameter="validation")
    return held_out_texts(data, int(held_out["reviews"]), held_out.get("by", "review"))


def store_best_threshold(path: str | os.PathLike[str],
                         metric: Literal["accuracy", "f1"] = "accuracy", *,
                         validation: Reviews | None = None,
                         data: str | os.PathLike[str] | None = None) -> Predictor:
    """:func:`choose_threshold` for the bundle at ``path``, stored in it (rewritten
    atomically); returns the bundle loaded with its new threshold."""
    from critic.bundle import with_threshold
    from critic.predict import Predictor, load

    cut = choose_threshold(load(path), metric, validation=validation, data=data)
    return Predictor(with_threshold(path, cut))
