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
    """

    name = "linear"
    explanation_method = "additive"

    def __init__(self, weights: dict[str, np.ndarray], dimension: int,
                 unit_length: bool = False) -> None:
        self.dimension, self.unit_length = dimension, unit_length
        super().__init__(weights)
        self.coef = weights["linear.weight"]
        self.intercept = float(weights["linear.bias"][0])
        self.squared_ratios = weights.get("linear.squared_ratios")

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
        if self.unit_length:
            shapes["linear.squared_ratios"] = (self.dimension,)
        return shapes

    def to_config(self) -> dict[str, Any]:
        return {"unit_length": True} if self.unit_length else {}

    @classmethod
    def from_config(cls, config: dict[str, Any], weights: dict[str, np.ndarray],
                    dimension: int) -> LinearModel:
        unit_length = config.get("unit_length", False)
        if not isinstance(unit_length, bool):
            raise BundleError(f"model.unit_length must be true or false, not {unit_length!r}")
        return cls(weights, dimension, unit_length)

    def _lengths(self, features: sp.csr_matrix) -> np.ndarray | float:
        if self.squared_ratios is None:
            return 1.0
        return row_lengths(features, self.squared_ratios)

    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        scores = np.asarray(features @ self.coef, dtype=np.float64).ravel()
        return scores / self._lengths(features) + self.intercept

    def explain(self, tokens: list[str], featurizer: FeatureSpace
                ) -> tuple[float, list[WordContribution], float | None]:
        # The tokens joined by spaces tokenise back to themselves: the review's own counts.
        counts = featurizer.counts([" ".join(tokens)])
        occurrences = dict(zip(counts.indices.tolist(), counts.data.tolist(), strict=True))
        values = featurizer.weigh(counts.copy())
        contributions = values.data.astype(np.float64) * self.coef[values.indices]
        contributions = contributions / self._lengths(values)  # the review's length
        names = featurizer.column_names(tokens)
        words = [WordContribution(names.get(column) or featurizer.column_name(column),
                                  float(c), int(occurrences[column]), True)
                 for column, c in zip(values.indices.tolist(), contributions, strict=True)]
        return float(contributions.sum() + self.intercept), words, self.intercept
