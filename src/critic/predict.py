"""Raw text in, decisions out: the Predictor behind ``critic.load`` and ``critic predict``.

Inference runs in NumPy/SciPy from the bundle's tensors, with exactly the tokenizer,
vocabulary and features (multi-hot, tf-idf, n-grams) the model was trained with. It needs no
PyTorch, so a process starts predicting in well under a second, and the same bundle gives
bit-identical probabilities in every process.

Long reviews are never truncated: every word of the text counts, whatever its length. An empty
review, or one with no letters or digits, is scored from the start marker alone (or, without
one, from the bias) — the model's prior — and :meth:`Predictor.score` reports it (0 words) so
callers can warn.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from critic.bundle import LABELS, Bundle, read_bundle
from critic.errors import ConfigError
from critic.metrics import sigmoid, softmax
from critic.models.base import WordContribution
from critic.text import ensure_texts, tokenize_texts

_BATCH = 25_000  # n-gram lookups pay ~0.4 s per batch to hash the kept n-grams
_PARALLEL_FROM = 2_000  # reviews; below, a second thread costs more than it saves


class Unset:
    """The type of :data:`UNSET`: "not given", where ``None`` means something."""


UNSET = Unset()


def label_probabilities(labels: tuple[str, str], positive: float) -> dict[str, float]:
    """``{negative label: 1 - p, positive label: p}`` for P(positive) ``positive``."""
    return {labels[0]: 1.0 - positive, labels[1]: positive}


@dataclass(frozen=True)
class Prediction:
    """One review's verdict, as the command line and the service hand it out.

    ``score`` has Hugging Face's meaning: the confidence in ``label`` (a negative verdict at
    P(positive) = 0.22 has score 0.78); ``positive_probability`` is P(positive) itself.
    """

    label: str
    positive_probability: float  # more than two labels: the probability of ``label``
    words: int  # words found in the review; 0: scored from the model's prior alone
    id: str | None = None
    labels: tuple[str, ...] = LABELS  # (negative, positive) as the bundle names them, or more
    #: More than two labels: each one's probability, in the order of ``labels``.
    class_probabilities: tuple[float, ...] | None = None

    @property
    def probabilities(self) -> dict[str, float]:
        """Each label's probability, in the bundle's order (negative first)."""
        if self.class_probabilities is not None:
            return dict(zip(self.labels, self.class_probabilities, strict=True))
        return label_probabilities((self.labels[0], self.labels[1]),
                                   self.positive_probability)

    @property
    def score(self) -> float:
        """The probability of ``label``: the confidence in the verdict."""
        return self.probabilities[self.label]

    def ranked(self) -> list[dict[str, Any]]:
        """Both labels as ``{"label", "score"}``, the verdict first (Hugging Face's
        ``top_k=None``); with the usual threshold of 0.5 that is the higher score first."""
        probabilities = self.probabilities
        others = sorted((name for name in self.labels if name != self.label),
                        key=lambda name: -probabilities[name])
        return [{"label": name, "score": probabilities[name]}
                for name in (self.label, *others)]

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id} if self.id is not None else {}
        return record | {"label": self.label, "score": round(self.score, 6),
                         "probabilities": {k: round(v, 6)
                                           for k, v in self.probabilities.items()}}

    def to_line(self, *, as_json: bool = False) -> str:
        """A JSON line, or a TSV line: id (when there is one), label, score, P(positive)
        (more than two labels: each label's probability, in the bundle's order)."""
        if as_json:
            return json.dumps(self.to_dict()) + "\n"
        fields = ([tsv_field(self.id)] if self.id is not None else []) + [
            self.label, f"{self.score:.6f}"] + (
            [f"{self.positive_probability:.6f}"] if self.class_probabilities is None
            else [f"{p:.6f}" for p in self.class_probabilities])
        return "\t".join(fields) + "\n"


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tsv_field(value: str) -> str:
    r"""A value that cannot break a TSV line: backslash, tab, newline and carriage return
    escaped as ``\\``, ``\t``, ``\n``, ``\r`` (PostgreSQL's and MySQL's text format)."""
    return value.translate(_TSV_ESCAPES)


@dataclass(frozen=True)
class Explanation:
    """Why the model decided as it did about one review."""

    text: str
    tokens: list[str]
    probability: float
    label: str
    logit: float
    words: list[WordContribution]  # strongest first
    method: str = "occlusion"
    intercept: float | None = None  # linear models: the logit of a review with no features
    labels: tuple[str, ...] = LABELS
    #: More than two labels: the label explained (its logit, its probability) and each
    #: label's probability.
    explained: str | None = None
    class_probabilities: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``probability`` is P(positive) (more labels: of ``explained``); ``score`` the
        confidence in ``label``."""
        if self.class_probabilities is not None:
            probabilities = dict(zip(self.labels, self.class_probabilities, strict=True))
            return {"probability": self.probability, "label": self.label,
                    "score": probabilities[self.label], "explained": self.explained,
                    "probabilities": probabilities, "logit": self.logit,
                    "method": self.method, "intercept": self.intercept,
                    "words": [asdict(w) for w in self.words]}
        score = label_probabilities((self.labels[0], self.labels[1]),
                                    self.probability)[self.label]
        return {"probability": self.probability, "label": self.label, "score": score,
                "logit": self.logit,
                "method": self.method, "intercept": self.intercept,
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
        self.featurizer = bundle.featurizer
        self.vocabulary = bundle.vocabulary
        self.threshold = bundle.threshold
        self.labels = tuple(str(label) for label in bundle.labels)
        self.model = bundle.model

    @property
    def n_classes(self) -> int:
        """How many labels the model tells apart (2: the sigmoid, the threshold)."""
        return len(self.labels)

    @property
    def dimension(self) -> int:
        return self.featurizer.dimension

    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The feature vectors the model sees for ``texts``."""
        return self.featurizer.transform(ensure_texts(texts))

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logits, shape ``(n,)`` (more than two labels: ``(n, n_classes)``)."""
        return self._score(ensure_texts(texts))[0]

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities ``(n,)`` (more labels: ``(n, n_classes)``) and the number of words
        found in each review ``(n,)`` (0 means the review was scored from the model's prior
        alone), in one pass."""
        logits, lengths = self._score(ensure_texts(texts))
        return self._probabilities(logits), lengths

    def _probabilities(self, logits: np.ndarray) -> np.ndarray:
        if self.n_classes > 2:
            return softmax(logits.reshape(-1, self.n_classes))
        return sigmoid(logits)

    def _score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if len(texts) == 0:
            shape = (0,) if self.n_classes == 2 else (0, self.n_classes)
            return np.zeros(shape, dtype=np.float32), np.zeros(0, dtype=np.int64)
        batches = [texts[start:start + _BATCH] for start in range(0, len(texts), _BATCH)]
        if len(texts) >= _PARALLEL_FROM:
            # Two halves per batch on two threads: tokenising, n-gram lookups and the sparse
            # products run outside the GIL (nblr on 25,000 reviews: 1.5x the throughput).
            halves = [half for batch in batches for half in (batch[:len(batch) // 2],
                                                             batch[len(batch) // 2:])]
            with ThreadPoolExecutor(max_workers=2) as pool:
                scored = list(pool.map(self._score_batch, halves))
        else:
            scored = [self._score_batch(batch) for batch in batches]
        return (np.concatenate([logits for logits, _ in scored]),
                np.concatenate([lengths for _, lengths in scored]))

    def _score_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        # The texts were checked once by the caller: tokenise them as they are.
        tokens = tokenize_texts(texts, version=self.featurizer.tokenizer_version_)
        return self.model.logits(self.featurizer.transform_tokens(tokens)), tokens.ids.lengths

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that each review is positive, shape ``(n,)``; more than two labels:
        each label's, ``(n, n_classes)`` in the order of :attr:`labels`."""
        return self._probabilities(self.decision_function(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """1 (positive) or 0 (negative) per review, cut at the bundle's threshold; more than
        two labels: the index of the most probable label (in :attr:`labels`)."""
        return self._decide(self.predict_proba(texts))

    def _decide(self, probabilities: np.ndarray) -> np.ndarray:
        if probabilities.ndim == 2:
            return probabilities.argmax(axis=1).astype(np.int64)
        return (probabilities >= self.threshold).astype(np.int8)

    def label_names(self, predictions: np.ndarray) -> list[str]:
        return [self.labels[int(p)] for p in predictions]

    def predictions(self, texts: Sequence[str], ids: Sequence[str] | None = None
                    ) -> list[Prediction]:
        """A :class:`Prediction` per review (label at the bundle's threshold), in order."""
        probabilities, words = self.score(texts)
        decided = self._decide(probabilities)
        labels = self.label_names(decided)
        ids = ids if ids is not None else [None] * len(labels)  # type: ignore[list-item]
        if probabilities.ndim == 2:
            return [Prediction(label, float(row[k]), int(n), review_id, self.labels,
                               tuple(float(p) for p in row))
                    for label, row, k, n, review_id
                    in zip(labels, probabilities, decided, words, ids, strict=True)]
        return [Prediction(label, float(p), int(n), review_id, self.labels)
                for label, p, n, review_id in zip(labels, probabilities, words, ids, strict=True)]

    def __call__(self, inputs: str | Sequence[str], *, top_k: int | Unset | None = UNSET
                 ) -> list[Any]:
        """Hugging Face's text-classification pipeline: ``model("Loved it.")`` →
        ``[{"label": "positive", "score": 0.97}]``, ``score`` being the confidence in
        ``label``.

        As the pipeline does: one text or a list gives one ``{"label", "score"}`` per text;
        ``top_k=None`` (or a number) gives, per text, a list of labels ranked best first,
        and for one text just that list. :meth:`predict_proba` still gives P(positive).
        """
        texts = [inputs] if isinstance(inputs, str) else ensure_texts(inputs, "inputs")
        return pipeline_output(self.predictions(texts), single=isinstance(inputs, str),
                               top_k=top_k)

    def explain(self, text: str, label: str | None = None) -> Explanation:
        """Why the model scored ``text`` as it did.

        More than two labels: each word's contribution to the logit of ``label`` (default:
        the most probable one).

        Linear models: each n-gram's exact additive contribution to the logit. Networks: each
        distinct word's exact effect on the logit, the logit minus the logit of the same review
        without that word (occlusion). The model type does the work
        (:mod:`critic.models.registry`).
        """
        if not isinstance(text, str):
            raise TypeError("`explain` takes one review as a string")
        tokens = self.featurizer.tokenize([text]).to_lists()[0]
        if self.n_classes > 2:
            return self._explain_class(text, tokens, label)
        if label is not None:
            raise ConfigError("`label` chooses which of more than two labels to explain; this "
                              "model has two, and explains P(positive)", parameter="label")
        logit, words, intercept = self.model.explain(tokens, self.featurizer)
        words.sort(key=lambda w: -abs(w.contribution))
        probability = float(sigmoid(np.array([logit]))[0])
        return Explanation(text, tokens, probability,
                           self.labels[int(probability >= self.threshold)], logit, words,
                           self.model.explanation_method, intercept, self.labels)


    def _explain_class(self, text: str, tokens: list[str], label: str | None) -> Explanation:
        probabilities = self.predict_proba([text])[0]
        if label is not None and label not in self.labels:
            raise ConfigError(f"{label!r} is not one of this model's labels: "
                              f"{', '.join(self.labels)}", parameter="label")
        index = int(np.argmax(probabilities)) if label is None else self.labels.index(label)
        logit, words, intercept = self.model.explain(tokens, self.featurizer, index)
        words.sort(key=lambda w: -abs(w.contribution))
        return Explanation(text, tokens, float(probabilities[index]),
                           self.labels[int(np.argmax(probabilities))], logit, words,
                           self.model.explanation_method, intercept, self.labels,
                           self.labels[index], tuple(float(p) for p in probabilities))


def pipeline_output(predictions: Sequence[Prediction], *, single: bool,
                    top_k: int | Unset | None = UNSET) -> list[Any]:
    """Predictions in the shape Hugging Face's text-classification pipeline returns (see
    :meth:`Predictor.__call__`)."""
    if isinstance(top_k, Unset):
        return [{"label": p.label, "score": p.score} for p in predictions]
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int)
                              or top_k < 1):
        raise ConfigError(f"`top_k` must be a positive integer or None. Received: {top_k!r}",
                          parameter="top_k")
    ranked = [p.ranked()[:top_k] for p in predictions]
    return ranked[0] if single else ranked


def load(path: str | os.PathLike[str]) -> Predictor:
    """Load a bundle folder written by ``critic train`` or ``critic reproduce``."""
    return Predictor(read_bundle(Path(path)))
