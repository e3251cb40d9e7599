"""Metrics of probabilities against labels: the usual ones, calibration, a threshold search,
and the one sigmoid every part of critic turns logits into probabilities with.

The metrics themselves come from scikit-learn; this module only chooses and packages them.
It needs no model, bundle or data source, so training (every model family, every mode) and
evaluation share it. scikit-learn (0.7 s to import) is imported by the metrics that use it, so
predicting, which needs only :func:`sigmoid`, never pays for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy.special import expit

from critic.errors import ConfigError


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Probabilities ``(n,)`` float64 from logits: SciPy's ``expit`` (no overflow warning for
    large negative logits)."""
    return np.asarray(expit(np.asarray(logits, dtype=np.float64)))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities ``(n, k)`` float64 from logits ``(n, k)``, each row summing to 1."""
    from scipy.special import softmax as scipy_softmax

    return np.asarray(scipy_softmax(np.asarray(logits, dtype=np.float64), axis=1))


def probabilities_of(logits: np.ndarray) -> np.ndarray:
    """A model's probabilities from its logits: the sigmoid of ``(n,)`` (two labels: the
    probability of the second), the softmax of ``(n, k)`` (more: one per label)."""
    return sigmoid(logits) if np.ndim(logits) == 1 else softmax(logits)


CALIBRATION_BINS = 10


def evaluate_probabilities(labels: np.ndarray, probabilities: np.ndarray, *,
                           threshold: float = 0.5, names: Sequence[Any] | None = None
                           ) -> dict[str, Any]:
    """Loss, accuracy, precision, recall, F1, ROC-AUC, confusion matrix and calibration;
    for probabilities ``(n, k)`` of more labels, :func:`evaluate_classes`'s.

    Args:
        labels: ``(n,)`` 0/1; probabilities: ``(n,)`` probability of 1.
        threshold: predict 1 where the probability is at least this.
        names: the labels' names (more than two labels).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    labels = np.asarray(labels).astype(int)
    if not np.isfinite(probabilities).all():
        raise ConfigError("the model gives probabilities that are not numbers (NaN): its "
                          "training diverged; train it with a lower learning rate",
                          parameter="learning_rate")
    if np.ndim(probabilities) == 2:
        return evaluate_classes(labels, probabilities, names)
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


def evaluate_classes(labels: np.ndarray, probabilities: np.ndarray,
                     names: Sequence[Any] | None = None) -> dict[str, Any]:
    """The metrics of more than two labels: loss, accuracy, macro- and weighted-F1, each
    label's precision, recall and support, the confusion matrix (rows: true labels, columns:
    predicted) and the top label's calibration; and, where ``names`` are all numbers (ordered
    labels: stars, ratings), the mean absolute error, the share within one step of the truth
    and the mean expected rating ``Σ p·k``.

    Args:
        labels: ``(n,)`` class indices; probabilities: ``(n, k)``, a row per review.
        names: the labels' names by index (default: the indices).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_recall_fscore_support,
    )

    k = probabilities.shape[1]
    names = list(range(k)) if names is None else list(names)
    indices = list(range(k))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0)
    top = probabilities.max(axis=1)
    out: dict[str, Any] = {
        "reviews": len(labels),
        "classes": [_plain(name) for name in names],
        "loss": float(log_loss(labels, np.clip(probabilities, 1e-15, 1.0), labels=indices)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, labels=indices, average="macro",
                                   zero_division=0)),
        "weighted_f1": float(f1_score(labels, predicted, labels=indices, average="weighted",
                                      zero_division=0)),
        "per_class": {str(name): {"precision": float(precision[i]), "recall": float(recall[i]),
                                  "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(names)},
        "confusion_matrix": confusion_matrix(labels, predicted, labels=indices).tolist(),
        "calibration": calibration((predicted == labels).astype(float), top),
    }
    if all(isinstance(name, int | float) and not isinstance(name, bool) for name in names):
        values = np.asarray(names, dtype=np.float64)
        error = np.abs(values[predicted] - values[labels])
        steps = np.abs(predicted - labels)  # within one place of the ordered labels
        out |= {"mae": float(error.mean()) if len(labels) else None,
                "within_one": float((steps <= 1).mean()) if len(labels) else None,
                "expected_rating_mae": float(np.abs(probabilities @ values
                                                    - values[labels]).mean())
                if len(labels) else None}
    return out


def _plain(name: Any) -> Any:
    """A label as JSON holds it (NumPy scalars as Python's)."""
    return name.item() if isinstance(name, np.generic) else name


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
    from sklearn.metrics import accuracy_score, f1_score

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
