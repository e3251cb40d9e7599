"""What critic's scikit-learn classifiers share: any two labels in, two-column probabilities out.

Every model here tells two classes apart from one logit. ``classes_`` holds the two labels
sorted (as scikit-learn's own classifiers do), the logit leans towards ``classes_[1]``, and
the labels are encoded 0/1 before any fitting, so ``"neg"``/``"pos"``, −1/+1 or 1/2 train the
same model as 0/1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.multiclass import type_of_target

from critic.metrics import sigmoid


class BinaryClassifierMixin(ClassifierMixin):
    """``predict_proba`` and ``predict`` from a ``decision_function`` that returns logits."""

    classes_: np.ndarray

    def decision_function(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, 2)``: the probability of ``classes_[0]``, then of ``classes_[1]``."""
        positive = sigmoid(np.asarray(self.decision_function(X)))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """The more likely of ``classes_`` for each row."""
        leans_second = self.decision_function(X) > 0  # first: it raises NotFittedError
        return self.classes_[leans_second.astype(int)]

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


def encode_two_classes(estimator: BinaryClassifierMixin, y: Any) -> np.ndarray:
    """Set ``estimator.classes_`` from ``y`` and return ``y`` as 0/1 (int64).

    Raises:
        ValueError: ``y`` is continuous, multi-output, or has other than two labels.
    """
    kind = type_of_target(y, input_name="y", raise_unknown=True)
    if kind not in ("binary", "multiclass"):  # "multiclass": one label only, or three or more
        raise ValueError(f"Unknown label type: y is {kind}; give one class label per row")
    classes, encoded = np.unique(y, return_inverse=True)
    if len(classes) != 2:
        raise ValueError(f"Only binary classification is supported: {type(estimator).__name__} "
                         f"tells two classes apart; y has {len(classes)} class(es): "
                         f"{classes[:5].tolist()}")
    estimator.classes_ = classes
    return encoded.astype(np.int64)
