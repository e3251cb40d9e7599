"""One class per model type: what a bundle stores of it and how it scores, in NumPy.

A model type owns its weight names and shapes, its configuration in ``config.json``, its
forward pass from sparse features to logits, and its explanation of one review. The bundle,
the Predictor and the trainer ask it, so adding a type means writing one class here and
registering it in :data:`MODEL_TYPES`; the shared contract test then covers it.

Nothing here imports PyTorch: a bundle is read and scored without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from critic.errors import BundleError, ConfigError
from critic.features import Featurizer
from critic.models.config import NetworkConfig


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
        """Logits ``(n,)`` float64 for feature rows ``(n, dimension)``."""

    @abstractmethod
    def explain(self, tokens: list[str], featurizer: Featurizer
                ) -> tuple[float, list[WordContribution], float | None]:
        """``(logit, contributions, intercept or None)`` for one review's ``tokens``, featurised
        by the ``featurizer`` the model was trained with."""


class NetworkModel(ModelType):
    """The book's network and its variants: Dense layers named ``dense_1`` … ``output``.

    ``dense_1.weight`` is ``(input_dim, units)`` (Keras's kernel layout, used as ``x @ W``);
    the others are PyTorch's ``(out, in)``.
    """

    name = "network"
    explanation_method = "occlusion"

    def __init__(self, network: NetworkConfig, weights: dict[str, np.ndarray]) -> None:
        self.network = network
        super().__init__(weights)
        names = network.layer_names()
        self._layers = [(weights[f"{n}.weight"], weights[f"{n}.bias"]) for n in names]
        self._tanh = network.activation == "tanh"

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.network
        first, *hidden, output = c.layer_names()
        shapes = {f"{first}.weight": (c.input_dim, c.units), f"{first}.bias": (c.units,)}
        for name in hidden:
            shapes |= {f"{name}.weight": (c.units, c.units), f"{name}.bias": (c.units,)}
        return shapes | {f"{output}.weight": (1, c.units), f"{output}.bias": (1,)}

    def to_config(self) -> dict[str, Any]:
        return {"network": self.network.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any], weights: dict[str, np.ndarray],
                    dimension: int) -> NetworkModel:
        network = NetworkConfig(**config["network"])
        if network.input_dim != dimension:
            raise BundleError(f"the features have {dimension} columns but the network takes "
                              f"{network.input_dim}")
        return cls(network, weights)

    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        (w1, b1), *rest = self._layers
        hidden = self._activate(np.asarray(features @ w1) + b1)
        for weight, bias in rest[:-1]:
            hidden = self._activate(hidden @ weight.T + bias)
        weight, bias = rest[-1]
        return (hidden @ weight.T + bias)[:, 0].astype(np.float64)

    def _activate(self, values: np.ndarray) -> np.ndarray:
        return np.tanh(values) if self._tanh else np.maximum(values, 0, out=values)

    def explain(self, tokens: list[str], featurizer: Featurizer
                ) -> tuple[float, list[WordContribution], float | None]:
        distinct = list(dict.fromkeys(tokens))
        # Tokens joined by spaces tokenise back to themselves, so each variant is exactly the
        # review without one word.
        variants = [" ".join(tokens)] + [" ".join(t for t in tokens if t != word)
                                         for word in distinct]
        logits = self.logits(featurizer.transform(variants))
        base = float(logits[0])
        covered = featurizer.vocabulary_.covers(distinct)
        return base, [WordContribution(word, base - float(logits[i + 1]), tokens.count(word),
                                       covered[i]) for i, word in enumerate(distinct)], None


class LinearModel(ModelType):
    """One weight per feature column and a bias (``nblr``: NB ratios folded into the weights)."""

    name = "linear"
    explanation_method = "additive"

    def __init__(self, weights: dict[str, np.ndarray], dimension: int) -> None:
        self.dimension = dimension
        super().__init__(weights)
        self.coef = weights["linear.weight"]
        self.intercept = float(weights["linear.bias"][0])

    @classmethod
    def from_coefficients(cls, coef: np.ndarray, intercept: float) -> LinearModel:
        """From a fitted linear model's ``coef_`` ``(dimension,)`` and ``intercept_``."""
        coef = np.asarray(coef, dtype=np.float32).ravel()
        return cls({"linear.weight": coef,
                    "linear.bias": np.array([intercept], dtype=np.float32)}, len(coef))

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"linear.weight": (self.dimension,), "linear.bias": (1,)}

    def to_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any], weights: dict[str, np.ndarray],
                    dimension: int) -> LinearModel:
        return cls(weights, dimension)

    def logits(self, features: sp.csr_matrix) -> np.ndarray:
        return np.asarray(features @ self.coef, dtype=np.float64).ravel() + self.intercept

    def explain(self, tokens: list[str], featurizer: Featurizer
                ) -> tuple[float, list[WordContribution], float | None]:
        # The tokens joined by spaces tokenise back to themselves: the review's own counts.
        counts = featurizer.counts([" ".join(tokens)])
        occurrences = dict(zip(counts.indices.tolist(), counts.data.tolist(), strict=True))
        values = featurizer.weigh(counts.copy())
        contributions = values.data.astype(np.float64) * self.coef[values.indices]
        words = [WordContribution(featurizer.column_name(column), float(c),
                                  int(occurrences[column]), True)
                 for column, c in zip(values.indices.tolist(), contributions, strict=True)]
        return float(contributions.sum() + self.intercept), words, self.intercept


#: Every model type a bundle may hold, by ``config.json``'s ``model.type``.
MODEL_TYPES: dict[str, type[ModelType]] = {t.name: t for t in (NetworkModel, LinearModel)}


def model_from_config(config: dict[str, Any], weights: dict[str, np.ndarray],
                      dimension: int) -> ModelType:
    """The model described by ``config.json``'s ``model`` table, with its weights."""
    kind = config.get("type")
    if kind not in MODEL_TYPES:
        raise BundleError(f"unknown model type {kind!r}; this critic knows "
                          f"{', '.join(MODEL_TYPES)}")
    try:
        return MODEL_TYPES[kind].from_config(config, weights, dimension)
    except (ConfigError, KeyError, TypeError) as exc:
        raise BundleError(f"the model's configuration is invalid ({exc})") from exc
