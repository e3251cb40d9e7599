"""Metrics of probabilities against labels: the usual ones, calibration, a threshold search,
and the one sigmoid every part of critic turns logits into probabilities with.

The metrics themselves come from scikit-learn; this module only chooses and packages them.
It needs no model, bundle or data source, so training (every model family, every mode) and
evaluation share it. scikit-learn (0.7 s to import) is imported by the metrics that use it, so
predicting, which needs only :func:`sigmoid`, never pays for it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import expit

from critic.errors import ConfigError


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Probabilities ``(n,)`` float64 from logits: SciPy's ``expit`` (no overflow warning for
    large negative logits)."""
    return np.asarray(expit(np.asarray(logits, dtype=np.float64)))


CALIBRATION_BINS = 10


def evaluate_probabilities(labels: np.ndarray, probabilities: np.ndarray, *,
                           threshold: float = 0.5) -> dict[str, Any]:
    """Loss, accuracy, precision, recall, F1, ROC-AUC, confusion matrix and calibration.

    Args:
        labels: ``(n,)`` 0/1; probabilities: ``(n,)`` probability of 1.
        threshold: predict 1 where the probability is at least this.
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
