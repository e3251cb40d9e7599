"""``critic train`` as a library call: labelled reviews in, a checked bundle out.

The IMDB path follows the book's protocol (training reviews shuffled as ``load_data`` does, the
first ``validation_size`` held out); the user's own file is shuffled with the seed and split the
same way. The vocabulary is ranked on the training reviews (held-out ones included, as in the
book), never on test reviews.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from critic.bundle import bundle_files, write_bundle
from critic.config import NetworkConfig, TrainConfig, check_positive
from critic.datasets.files import Reviews
from critic.datasets.imdb import LOAD_DATA_SEED, keras_orders
from critic.errors import ConfigError
from critic.evaluation import evaluate_probabilities
from critic.features import imdb_multi_hot, multi_hot
from critic.figures import render_history
from critic.text import Vocabulary
from critic.training import Callback, Classifier, History


@dataclass(frozen=True)
class TrainOptions:
    """Everything ``critic train`` can set; defaults are the book's."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    num_words: int = 10_000
    epochs: int = 20
    validation_size: int | float | None = None  # reviews, or a fraction; default 10,000 / 20 %
    patience: int | None = None

    def __post_init__(self) -> None:
        check_positive("num_words", self.num_words)
        check_positive("epochs", self.epochs)
        if self.patience is not None:
            check_positive("patience", self.patience)
        if self.network.input_dim != self.num_words:
            raise ConfigError("the network's input_dim must equal num_words")
        size = self.validation_size
        if size is not None and (isinstance(size, bool) or size <= 0 or (
                isinstance(size, float) and size >= 1.0)):
            raise ConfigError("`validation_size` must be a positive count or a fraction in "
                              f"(0, 1). Received: validation_size={size!r}")


@dataclass
class TrainResult:
    history: History
    metrics: dict[str, Any]
    path: Path


@dataclass(frozen=True)
class _Split:
    x_train: sp.csr_matrix
    y_train: np.ndarray
    x_val: sp.csr_matrix
    y_val: np.ndarray
    vocabulary: Vocabulary
    data: dict[str, Any]
    test: tuple[sp.csr_matrix, np.ndarray] | None


def train_bundle(options: TrainOptions, output: str | os.PathLike[str], *,
                 data: str | os.PathLike[str] | None = None, reviews: Reviews | None = None,
                 overwrite: bool = False, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Train on IMDB (``data``) or the user's ``reviews`` and write a bundle to ``output``."""
    output = Path(output)
    if output.exists() and not overwrite:
        raise ConfigError(f"{output} exists already; choose another --output or pass "
                          "--overwrite")
    split = _imdb_split(options, data) if reviews is None else _file_split(options, reviews)
    model = Classifier(options.network, options.training)
    history = model.fit(split.x_train, split.y_train, epochs=options.epochs,
                        validation_data=(split.x_val, split.y_val), patience=options.patience,
                        callbacks=callbacks)
    metrics = _metrics(model, history, split)
    files = bundle_files(
        network=options.network, weights=model.state_arrays(), vocabulary=split.vocabulary,
        metrics=metrics, training=options.training.to_dict() | {
            "epochs": options.epochs, "patience": options.patience,
            "epochs_run": len(history.epoch), "kept_epoch": metrics["kept_epoch"]},
        data=split.data,
        extra={f"{name}": blob for name, blob in render_history(
            history.history, history.epoch, formats=("png",)).items()})
    return TrainResult(history, metrics, write_bundle(output, files, overwrite=overwrite))


def _metrics(model: Classifier, history: History, split: _Split) -> dict[str, Any]:
    kept = history.best_weights_epoch or history.epoch[-1]
    metrics: dict[str, Any] = {
        "kept_epoch": kept,
        "best_val_loss_epoch": history.best_epoch("val_loss"),
        "validation": evaluate_probabilities(split.y_val, model.predict_proba(split.x_val)),
        "history": history.history,
    }
    if split.test is not None:
        x_test, y_test = split.test
        metrics["test"] = evaluate_probabilities(y_test, model.predict_proba(x_test))
    return metrics


def _validation_count(options: TrainOptions, total: int, default: int | float) -> int:
    size = options.validation_size if options.validation_size is not None else default
    count = round(size * total) if isinstance(size, float) else int(size)
    if not 0 < count < total:
        raise ConfigError(f"`validation_size` ({size}) must leave reviews on both sides of the "
                          f"split; there are {total} training reviews")
    return count


def _imdb_split(options: TrainOptions, data: Any) -> _Split:
    book = imdb_multi_hot(data, options.num_words)
    x, y = book.x_train, book.y_train
    n_val = _validation_count(options, len(y), 10_000)
    vocabulary = Vocabulary(book.words, num_words=options.num_words)
    return _Split(x[n_val:], y[n_val:], x[:n_val], y[:n_val], vocabulary,
                  {"source": "imdb", "checksum": book.checksum,
                   "validation": {"reviews": n_val, "order": "load_data seed 113, first N"}},
                  (book.x_test, book.y_test))


def _file_split(options: TrainOptions, reviews: Reviews) -> _Split:
    if reviews.labels is None:
        raise ConfigError(f"{reviews.source} has no labels to train on")
    if len(np.unique(reviews.labels)) < 2:
        raise ConfigError(f"{reviews.source} has only one label; training needs both")
    order = np.random.RandomState(options.training.seed).permutation(len(reviews))
    n_val = _validation_count(options, len(reviews), 0.2)
    vocabulary = Vocabulary.fit(reviews.texts, num_words=options.num_words)
    x = multi_hot(vocabulary.encode_ragged(reviews.texts), options.num_words)[order]
    y = reviews.labels[order]
    return _Split(x[n_val:], y[n_val:], x[:n_val], y[:n_val], vocabulary,
                  {"source": reviews.source, "reviews": len(reviews),
                   "checksum": _content_checksum(reviews),
                   "validation": {"reviews": n_val, "order": f"seed {options.training.seed}"}},
                  None)


def _content_checksum(reviews: Reviews) -> str:
    """SHA-256 of the texts and labels trained on (whatever file or folder held them)."""
    digest = hashlib.sha256()
    for text in reviews.texts:
        digest.update(text.encode("utf-8") + b"\0")
    if reviews.labels is not None:
        digest.update(reviews.labels.tobytes())
    return digest.hexdigest()


def imdb_validation_texts(data: Any, size: int) -> tuple[list[str], np.ndarray]:
    """The held-out training reviews of an IMDB bundle, as raw text (for threshold search)."""
    from critic.datasets.corpus import load_corpus

    train = load_corpus(data).subset("train")
    order, _ = keras_orders(LOAD_DATA_SEED, len(train), 0)
    chosen = order[:size]
    return [train.texts[int(i)] for i in chosen], train.labels[chosen].astype(np.uint8)
