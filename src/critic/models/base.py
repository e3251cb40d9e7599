"""What every model family's inference type is: what a bundle stores of a trained model and
how it scores, in NumPy.

A model type owns its weight names and shapes, its configuration in ``config.json``, its
forward pass from sparse features to logits, and its explanation of one review. The bundle
and the Predictor ask it; each family (:mod:`critic.models.registry`) brings its own.

Nothing here imports PyTorch: a bundle is read and scored without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from critic.errors import BundleError
from critic.features import FeatureSpace


@dataclass(frozen=True)
class WordContribution:
    """How much one word (or n-gram) moved the logit.

    Networks (``method="occlusion"``): ``logit(text) - logit(text without the word)``.
    Linear models (``method="additive"``): the n-gram's weight times its feature value; the
    contributions plus the intercept add up to the logit exactly.
    """

    word: str
    contribution: float
    occurrences: int
    in_vocabulary: bool


class ModelType(ABC):
    """A trained model as a bundle holds it: a configuration and named NumPy tensors."""

    #: ``model.type`` in ``config.json``.
    name: ClassVar[str]
    #: How :meth:`explain` attributes the logit to words.
    explanation_method: ClassVar[str]

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        expected = self.expected_shapes()
        found = {key: tuple(array.shape) for key, array in weights.items()}
        if found != expected:
            raise BundleError(f"the weights do not fit a {self.name} model of this "
                              f"configuration (expected {expected}, found {found})")
        for key, array in weights.items():
            if array.dtype != np.float32:
                raise BundleError(f"weight {key!r} is {array.dtype}, not float32")
            if not np.isfinite(array).all():
                raise BundleError(f"weight {key!r} holds NaN or infinite values")
        self.weights = weights

    @property
    def n_classes(self) -> int:
        """How many labels it tells apart: 2 (one logit, the sigmoid's) or more (a logit per
        label, the softmax's)."""
        return 2

    @abstractmethod
    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Tensor names and shapes this configuration must have."""

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """What ``config.json`` records under ``model`` (besides its name)."""

    @classmethod
    @abstractmethod
    def from_config(cls, config: dict[str, Any], weights: dict[str, np.ndarray],
                    dimension: int) -> ModelType:
        """Rebuild from ``config.json``'s ``model`` table, checking it against the weights and
        the number of feature columns."""

    @abstractmethod
    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        """Logits ``(n,)`` float64 for feature rows ``(n, dimension)``; ``(n, n_classes)``
        for more than two labels."""

    @abstractmethod
    def explain(self, tokens: list[str], featurizer: FeatureSpace, label: int | None = None
                ) -> tuple[float, list[WordContribution], float | None]:
        """``(logit, contributions, intercept or None)`` for one review's ``tokens``, featurised
        by the ``featurizer`` the model was trained with; with more than two labels, of the
        logit of ``label`` (default: the most probable)."""


def safe_lengths(squares: np.ndarray) -> np.ndarray:
    """Row lengths from squared lengths, 1 for an empty row (as :meth:`FeatureSpace.weigh`)."""
    lengths = np.sqrt(np.maximum(squares, 0.0))
    return np.where(lengths > 1e-12, lengths, 1.0)


def row_lengths(features: sp.csr_matrix, squared_ratios: np.ndarray) -> np.ndarray:
    """``‖x ∘ r‖`` of each row ``x`` of ``features`` ``(n,)`` float64, given ``r²``; 1 for
    a row with nothing in it."""
    squares = sp.csr_matrix((features.data.astype(np.float64) ** 2, features.indices,
                             features.indptr), shape=features.shape) @ squared_ratios
    return safe_lengths(np.asarray(squares, dtype=np.float64).ravel())


