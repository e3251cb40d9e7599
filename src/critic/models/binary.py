"""What critic's scikit-learn classifiers share: any labels in, scikit-learn's multi-class
conventions out.

``classes_`` holds the labels sorted (as scikit-learn's own classifiers do) and they are
encoded 0 … K−1 before any fitting, so ``"neg"``/``"pos"``, −1/+1 or 1/2 train the same model
as 0/1. Two labels: one logit, leaning towards ``classes_[1]``, and the sigmoid; more: a logit
per label (``decision_function`` is ``(n, K)``) turned into probabilities by the model's own
rule (:meth:`LogitClassifierMixin.probabilities_of`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import type_of_target

from critic.metrics import sigmoid


class LogitClassifierMixin(ClassifierMixin):
    """``predict_proba`` and ``predict`` from a ``decision_function`` that returns logits:
    ``(n,)`` for two labels, ``(n, K)`` for more."""

    classes_: np.ndarray

    def decision_function(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def probabilities_of(self, logits: np.ndarray) -> np.ndarray:
        """Each label's probability from ``(n, K)`` logits (more than two labels)."""
        raise NotImplementedError

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, K)``: the probability of each of ``classes_``, in their order."""
        logits = np.asarray(self.decision_function(X))
        if logits.ndim == 2:
            return self.probabilities_of(logits)
        positive = sigmoid(logits)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """The most likely of ``classes_`` for each row."""
        logits = np.asarray(self.decision_function(X))  # first: it raises NotFittedError
        best = logits.argmax(axis=1) if logits.ndim == 2 else (logits > 0).astype(int)
        return self.classes_[best]


def encode_classes(estimator: LogitClassifierMixin, y: Any) -> np.ndarray:
    """Set ``estimator.classes_`` from ``y`` and return ``y`` as class indices (int64).

    Raises:
        ValueError: ``y`` is continuous or multi-output, or holds a single label.
    """
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: y is {kind}; give one class label per row")
    classes, encoded = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"Classifier can't train when only one class is present: "
                         f"{type(estimator).__name__} needs two labels or more; y has "
                         f"{len(classes)} class(es): {classes[:5].tolist()}")
    estimator.classes_ = classes
    return encoded.astype(np.int64)
