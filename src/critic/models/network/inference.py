"""The network family's inference type: the Dense layers as NumPy arrays, scored and
explained without PyTorch."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import scipy.sparse as sp

from critic.errors import BundleError
from critic.features import FeatureSpace
from critic.models.base import ModelType, WordContribution, safe_lengths
from critic.models.network.config import NetworkConfig


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
        return shapes | {f"{output}.weight": (c.outputs, c.units), f"{output}.bias": (c.outputs,)}

    @property
    def n_classes(self) -> int:
        return 2 if self.network.outputs == 1 else self.network.outputs

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
        logits = (hidden @ weight.T + bias).astype(np.float64)
        return logits[:, 0] if self.network.outputs == 1 else logits

    def _activate(self, values: np.ndarray) -> np.ndarray:
        return np.tanh(values) if self._tanh else np.maximum(values, 0, out=values)

    def explain(self, tokens: list[str], featurizer: FeatureSpace, label: int | None = None
                ) -> tuple[float, list[WordContribution], float | None]:
        # More than two labels: the logit of ``label`` (default: the predicted one).
        # Occlusion without re-scoring the review once per word: removing a word changes a
        # few feature columns, so the first layer's pre-activation moves by those columns'
        # weight rows (and, for tf-idf, by the change of the row's length). All words are
        # one sparse product, linear in the review's length.
        joined = " ".join(tokens)  # tokenises back to ``tokens``
        distinct, deltas = featurizer.occlusion_deltas(tokens)
        first = self._occluded_first_layer(featurizer.counts([joined]), deltas, featurizer)
        logits = self._from_first_layer(first)
        scored = self.logits(featurizer.transform([joined]))  # exactly as predicted
        if logits.ndim == 2:
            label = int(np.argmax(scored[0])) if label is None else label
            logits, scored = logits[:, label], scored[:, label]
        contributions = logits[0] - logits[1:]
        covered = featurizer.covers(distinct)
        occurrences = Counter(tokens)
        logit = float(scored[0])
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
            base = base / safe_lengths(np.array([square]))[0]
            variants = variants / safe_lengths(squares)[:, np.newaxis]
        return np.vstack([base, variants]) + b1


def _counts_at(columns: np.ndarray, counts: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``counts`` at the ``wanted`` columns of a sparse row (0 where the row has none)."""
    if not len(columns):
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(columns, wanted), len(columns) - 1)
    return np.where(columns[at] == wanted, counts[at], 0.0)
