"""The nblr family's inference type: one weight per feature column and a bias, scored and
explained exactly (each n-gram's contribution adds up to the logit)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from critic.errors import BundleError
from critic.features import FeatureSpace
from critic.models.base import ModelType, WordContribution, row_lengths


class LinearModel(ModelType):
    """One weight per feature column and a bias (``nblr``: NB ratios folded into the weights).

    A unit-length model (``nblr --unit-length``) also holds each column's squared NB ratio,
    ``linear.squared_ratios``: its logit is ``x @ w / ‖x ∘ r‖ + b``.

    More than two labels (``classes`` > 2): one-vs-rest, a weight row ``(classes, dimension)``
    and a bias per label; label ``k``'s score ``z_k`` is its own binary model's logit, and its
    probability is ``σ(z_k) / Σ_j σ(z_j)``: :meth:`logits` gives ``log σ(z_k)``, whose softmax
    that is.
    """

    name = "linear"
    explanation_method = "additive"

    def __init__(self, weights: dict[str, np.ndarray], dimension: int,
                 unit_length: bool = False, classes: int = 2) -> None:
        self.dimension, self.unit_length, self.classes = dimension, unit_length, classes
        super().__init__(weights)
        self.coef = weights["linear.weight"]
        self.biases = weights["linear.bias"].astype(np.float64)
        self.intercept = float(weights["linear.bias"][0])
        self.squared_ratios = weights.get("linear.squared_ratios")

    @property
    def n_classes(self) -> int:
        return self.classes

    def column_weights(self) -> np.ndarray:
        """How much each feature column can move a score: ``|w|``, the largest over the labels
        for more than two (what pruning a column would cost a review that holds it)."""
        return np.abs(self.coef).max(axis=0) if self.coef.ndim == 2 else np.abs(self.coef)

    def keeping_columns(self, columns: np.ndarray) -> LinearModel:
        """The model over the feature columns ``columns`` only (sorted positions), the others'
        weights dropped: what scoring a review through a pruned featurizer needs."""
        weights = {name: (array[..., columns] if name != "linear.bias" else array)
                   for name, array in self.weights.items()}
        return LinearModel(weights, len(columns), self.unit_length, self.classes)

    @classmethod
    def one_vs_rest(cls, coefs: np.ndarray, intercepts: np.ndarray,
                    squared_ratios: np.ndarray | None = None) -> LinearModel:
        """From one binary model per label: ``coefs`` ``(classes, dimension)``,
        ``intercepts`` ``(classes,)``."""
        weights = {"linear.weight": np.asarray(coefs, dtype=np.float32),
                   "linear.bias": np.asarray(intercepts, dtype=np.float32).ravel()}
        if squared_ratios is not None:
            weights["linear.squared_ratios"] = np.asarray(squared_ratios, np.float32).ravel()
        return cls(weights, coefs.shape[1], unit_length=squared_ratios is not None,
                   classes=coefs.shape[0])

    @classmethod
    def from_coefficients(cls, coef: np.ndarray, intercept: float,
                          squared_ratios: np.ndarray | None = None) -> LinearModel:
        """From a fitted linear model's ``coef_`` ``(dimension,)`` and ``intercept_`` (and,
        for unit-length rows, the squared NB ratios ``(dimension,)``)."""
        coef = np.asarray(coef, dtype=np.float32).ravel()
        weights = {"linear.weight": coef, "linear.bias": np.array([intercept], dtype=np.float32)}
        if squared_ratios is not None:
            weights["linear.squared_ratios"] = np.asarray(squared_ratios, np.float32).ravel()
        return cls(weights, len(coef), unit_length=squared_ratios is not None)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {"linear.weight": (self.dimension,),
                                              "linear.bias": (1,)}
        if self.classes > 2:
            shapes = {"linear.weight": (self.classes, self.dimension),
                      "linear.bias": (self.classes,)}
        if self.unit_length:
            shapes["linear.squared_ratios"] = (self.dimension,)
        return shapes

    def to_config(self) -> dict[str, Any]:
        return ({"unit_length": True} if self.unit_length else {}) | (
            {"classes": self.classes} if self.classes > 2 else {})

    @classmethod
    def from_config(cls, config: dict[str, Any], weights: dict[str, np.ndarray],
                    dimension: int) -> LinearModel:
        unit_length = config.get("unit_length", False)
        if not isinstance(unit_length, bool):
            raise BundleError(f"model.unit_length must be true or false, not {unit_length!r}")
        classes = config.get("classes", 2)
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 2:
            raise BundleError(f"model.classes must be a count of labels, not {classes!r}")
        return cls(weights, dimension, unit_length, classes)

    def _lengths(self, features: sp.csr_matrix) -> np.ndarray | float:
        if self.squared_ratios is None:
            return 1.0
        return row_lengths(features, self.squared_ratios)

    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        if self.classes > 2:
            scores = self.scores(features)
            return -np.logaddexp(0.0, -scores)  # log σ(z): their softmax normalises the σ
        scores = np.asarray(features @ self.coef, dtype=np.float64).ravel()
        return scores / self._lengths(features) + self.intercept

    def scores(self, features: sp.csr_matrix) -> np.ndarray:
        """Each label's one-vs-rest logit ``(n, classes)`` (more than two labels)."""
        scores = np.asarray(features @ self.coef.T, dtype=np.float64)
        lengths = self._lengths(features)
        if not isinstance(lengths, float):
            scores = scores / lengths[:, np.newaxis]
        return scores + self.biases

    def explain(self, tokens: list[str], featurizer: FeatureSpace, label: int | None = None
                ) -> tuple[float, list[WordContribution], float | None]:
        # More than two labels: the one-vs-rest logit of ``label`` (default: the most
        # probable), which the contributions and the intercept add up to.
        # The tokens joined by spaces tokenise back to themselves: the review's own counts.
        counts = featurizer.counts([" ".join(tokens)])
        occurrences = dict(zip(counts.indices.tolist(), counts.data.tolist(), strict=True))
        values = featurizer.weigh(counts.copy())
        coef, intercept = self.coef, self.intercept
        if self.classes > 2:
            label = int(np.argmax(self.scores(values))) if label is None else label
            coef, intercept = self.coef[label], float(self.biases[label])
        contributions = values.data.astype(np.float64) * coef[values.indices]
        contributions = contributions / self._lengths(values)  # the review's length
        names = featurizer.column_names(tokens)
        words = [WordContribution(names.get(column) or featurizer.column_name(column),
                                  float(c), int(occurrences[column]), True)
                 for column, c in zip(values.indices.tolist(), contributions, strict=True)]
        return float(contributions.sum() + intercept), words, intercept
