"""One class per model type: what a bundle stores of it and how it scores, in NumPy.

A model type owns its weight names and shapes, its configuration in ``config.json``, its
forward pass from sparse features to logits, and its explanation of one review. The bundle,
the Predictor and the trainer ask it, so adding a type means writing one class here and
registering it in :data:`MODEL_TYPES`; the shared contract test then covers it.

Nothing here imports PyTorch: a bundle is read and scored without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from critic.errors import BundleError, ConfigError
from critic.features import FeatureSpace
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
    def explain(self, tokens: list[str], featurizer: FeatureSpace
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
        w1, b1 = self._layers[0]
        return self._from_first_layer(np.asarray(features @ w1) + b1)

    def _from_first_layer(self, values: np.ndarray) -> np.ndarray:
        """Logits from the first layer's pre-activations ``(n, units)``."""
        hidden = self._activate(values)
        for weight, bias in self._layers[1:-1]:
            hidden = self._activate(hidden @ weight.T + bias)
        weight, bias = self._layers[-1]
        return (hidden @ weight.T + bias)[:, 0].astype(np.float64)

    def _activate(self, values: np.ndarray) -> np.ndarray:
        return np.tanh(values) if self._tanh else np.maximum(values, 0, out=values)

    def explain(self, tokens: list[str], featurizer: FeatureSpace
                ) -> tuple[float, list[WordContribution], float | None]:
        # Occlusion without re-scoring the review once per word: removing a word changes a
        # few feature columns, so the first layer's pre-activation moves by those columns'
        # weight rows (and, for tf-idf, by the change of the row's length). All words are
        # one sparse product, linear in the review's length.
        joined = " ".join(tokens)  # tokenises back to ``tokens``
        distinct, deltas = featurizer.occlusion_deltas(tokens)
        first = self._occluded_first_layer(featurizer.counts([joined]), deltas, featurizer)
        logits = self._from_first_layer(first)
        contributions = logits[0] - logits[1:]
        covered = featurizer.covers(distinct)
        occurrences = Counter(tokens)
        logit = float(self.logits(featurizer.transform([joined]))[0])  # exactly as predicted
        return logit, [WordContribution(word, float(contributions[i]), occurrences[word],
                                        covered[i]) for i, word in enumerate(distinct)], None

    def _occluded_first_layer(self, counts: sp.csr_matrix, deltas: sp.csr_matrix,
                              featurizer: FeatureSpace) -> np.ndarray:
        """First-layer pre-activations ``(1 + words, units)``: the review's, then the
        review's without each word, from its raw ``counts`` and each word's ``deltas``."""
        w1, b1 = self._layers[0]
        columns, raw = counts.indices, counts.data.astype(np.float64)
        values = featurizer.column_values(raw, columns)
        base = values @ w1[columns]
        change = deltas.tocoo()
        before = _counts_at(columns, raw, change.col)
        old = featurizer.column_values(before, change.col)
        new = featurizer.column_values(before + change.data, change.col)
        moved = sp.csr_matrix((new - old, (change.row, change.col)), shape=deltas.shape)
        variants = base + np.asarray(moved @ w1, dtype=np.float64)
        if featurizer.normalises_rows:
            square = float(values @ values)
            squares = square + np.bincount(change.row, weights=new**2 - old**2,
                                           minlength=deltas.shape[0])
            base = base / _length(np.array([square]))[0]
            variants = variants / _length(squares)[:, np.newaxis]
        return np.vstack([base, variants]) + b1


def _counts_at(columns: np.ndarray, counts: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``counts`` at the ``wanted`` columns of a sparse row (0 where the row has none)."""
    if not len(columns):
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(columns, wanted), len(columns) - 1)
    return np.where(columns[at] == wanted, counts[at], 0.0)


def _length(squares: np.ndarray) -> np.ndarray:
    """Row lengths from squared lengths, 1 for an empty row (as :meth:`FeatureSpace.weigh`)."""
    lengths = np.sqrt(np.maximum(squares, 0.0))
    return np.where(lengths > 1e-12, lengths, 1.0)


def row_lengths(features: sp.csr_matrix, squared_ratios: np.ndarray) -> np.ndarray:
    """``‖x ∘ r‖`` of each row ``x`` of ``features`` ``(n,)`` float64, given ``r²``; 1 for
    a row with nothing in it."""
    squares = sp.csr_matrix((features.data.astype(np.float64) ** 2, features.indices,
                             features.indptr), shape=features.shape) @ squared_ratios
    return _length(np.asarray(squares, dtype=np.float64).ravel())


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
