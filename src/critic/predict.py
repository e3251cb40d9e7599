"""Raw text in, decisions out: the Predictor behind ``critic.load`` and ``critic predict``.

Inference runs in NumPy/SciPy from the bundle's tensors, with exactly the tokenizer,
vocabulary and multi-hot encoding the model was trained with. It needs no PyTorch, so a
process starts predicting in well under a second, and the same bundle gives bit-identical
probabilities in every process.

Long reviews are never truncated: every word of the text counts, whatever its length (the
multi-hot vector only records which vocabulary words occur). An empty review, or one with no
letters or digits, is scored from the start marker alone — the model's prior — and
:meth:`Predictor.score` reports it (0 words) so callers can warn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from critic.bundle import LABELS, Bundle, read_bundle
from critic.features import multi_hot
from critic.text import ensure_texts, tokenize, tokenize_texts

_BATCH = 20_000


@dataclass(frozen=True)
class WordContribution:
    """How much one word moved the logit: ``logit(text) - logit(text without that word)``."""

    word: str
    contribution: float
    occurrences: int
    in_vocabulary: bool


@dataclass(frozen=True)
class Explanation:
    """Why the model decided as it did about one review."""

    text: str
    tokens: list[str]
    probability: float
    label: str
    logit: float
    words: list[WordContribution]  # strongest first

    def to_dict(self) -> dict[str, Any]:
        return {"probability": self.probability, "label": self.label, "logit": self.logit,
                "words": [asdict(w) for w in self.words]}

    def contribution_of(self) -> dict[str, float]:
        return {w.word: w.contribution for w in self.words}


class Predictor:
    """A loaded bundle: ``predict_proba``, ``predict`` and ``explain`` on raw review text.

    Example:
        >>> model = critic.load("runs/book/model")  # doctest: +SKIP
        >>> model.predict_proba(["A moving, beautifully acted film."])  # doctest: +SKIP
        array([0.97])
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.vocabulary = bundle.vocabulary
        self.threshold = bundle.threshold
        self.labels = tuple(bundle.config.get("labels", LABELS))
        self._layers = _layers(bundle)

    @property
    def dimension(self) -> int:
        return self.bundle.network.input_dim

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The multi-hot vectors the model sees for ``texts``."""
        tokens = tokenize_texts(ensure_texts(texts))
        return multi_hot(self.vocabulary.encode_tokens(tokens), self.dimension)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logits, shape ``(n,)``."""
        return self._score(ensure_texts(texts))[0]

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities ``(n,)`` and the number of words found in each review ``(n,)`` (0
        means the review was scored from the model's prior alone), in one pass."""
        logits, lengths = self._score(ensure_texts(texts))
        return _sigmoid(logits), lengths

    def _score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        logits, lengths = [], []
        for start in range(0, len(texts), _BATCH):
            tokens = tokenize_texts(texts[start:start + _BATCH])
            encoded = self.vocabulary.encode_tokens(tokens)
            logits.append(self._logits(multi_hot(encoded, self.dimension)))
            lengths.append(tokens.ids.lengths)
        if not logits:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        return np.concatenate(logits), np.concatenate(lengths)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each review is positive, shape ``(n,)``."""
        return _sigmoid(self.decision_function(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """1 (positive) or 0 (negative) per review, cut at the bundle's threshold."""
        return (self.predict_proba(texts) >= self.threshold).astype(np.int8)

    def label_names(self, predictions: np.ndarray) -> list[str]:
        return [self.labels[int(p)] for p in predictions]

    def explain(self, text: str) -> Explanation:
        """Each distinct word's exact effect on the logit: the logit minus the logit of the
        same review without that word (occlusion, computed in one batch)."""
        if not isinstance(text, str):
            raise TypeError("`explain` takes one review as a string")
        tokens = tokenize([text])[0]
        distinct = list(dict.fromkeys(tokens))
        known = self.vocabulary.word_index()
        kept = {w for w in distinct if w in known and known[w] + self.vocabulary.index_from
                < self.dimension}
        full = self.features([text])
        unknown = [w for w in distinct if w not in kept]
        variants = [full] + [_without(full, self._column(word, known, kept, unknown))
                             for word in distinct]
        logits = self._logits(sp.vstack(variants, format="csr"))
        base = float(logits[0])
        counts = {w: tokens.count(w) for w in distinct}
        words = [WordContribution(w, base - float(logits[i + 1]), counts[w], w in kept)
                 for i, w in enumerate(distinct)]
        words.sort(key=lambda w: -abs(w.contribution))
        probability = float(_sigmoid(np.array([base]))[0])
        return Explanation(text, tokens, probability, self.labels[int(probability >=
                                                                      self.threshold)],
                           base, words)

    def _column(self, word: str, known: dict[str, int], kept: set[str],
                unknown: list[str]) -> int | None:
        """The column removing ``word`` clears: its own, or the OOV column if it was the only
        out-of-vocabulary word (otherwise removing it changes nothing)."""
        if word in kept:
            return known[word] + self.vocabulary.index_from
        oov = self.vocabulary.oov_char
        return oov if oov is not None and unknown == [word] else None

    def _logits(self, features: sp.csr_matrix) -> np.ndarray:
        (w1, b1), *rest = self._layers
        hidden = self._act(np.asarray(features @ w1) + b1)
        for weight, bias in rest[:-1]:
            hidden = self._act(hidden @ weight.T + bias)
        weight, bias = rest[-1]
        return (hidden @ weight.T + bias)[:, 0]

    def _act(self, values: np.ndarray) -> np.ndarray:
        if self.bundle.network.activation == "tanh":
            return np.tanh(values)
        return np.maximum(values, 0, out=values)


def load(path: str | os.PathLike[str]) -> Predictor:
    """Load a bundle folder written by ``critic train`` or ``critic reproduce``."""
    return Predictor(read_bundle(Path(path)))


def _layers(bundle: Bundle) -> list[tuple[np.ndarray, np.ndarray]]:
    weights = bundle.weights
    rest = sorted({int(name.split(".")[1]) for name in weights if name.startswith("rest.")})
    return [(weights["first.weight"], weights["first.bias"])] + [
        (weights[f"rest.{i}.weight"], weights[f"rest.{i}.bias"]) for i in rest]


def _without(row: sp.csr_matrix, column: int | None) -> sp.csr_matrix:
    if column is None:
        return row
    keep = row.indices != column
    return sp.csr_matrix((row.data[keep], row.indices[keep], [0, int(keep.sum())]),
                         shape=row.shape)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
