"""The book's notebook (Deep Learning with Python, ch. 3.5) as one function, writing a run folder.

Steps: load the reviews with ``num_words=10000``, decode review 0, multi-hot encode, hold out
the first 10,000 training reviews, train 20 epochs with batch 512, draw the two figures, train
a fresh model on all 25,000 training reviews for the final number of epochs (the book's 4, or
the epoch of lowest validation loss with ``final_epochs="auto"``), evaluate on the 25,000 test
reviews and predict them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from critic.bundle import bundle_files
from critic.datasets.imdb import BookMatrices, book_matrices
from critic.errors import ConfigError
from critic.experiments.config import ReproduceConfig
from critic.features import FeatureConfig, FeatureSpace
from critic.figures import FigureWorker
from critic.fitting.splits import book_split
from critic.models.network.classifier import Callback, Classifier, History
from critic.models.network.inference import NetworkModel
from critic.runs import RunFolder, RunRecord
from critic.text import Vocabulary

PREDICTION_SAMPLE = 20


@dataclass
class ReproduceResult:
    """What a run produced; ``metrics`` is also recorded in ``run.json``."""

    decoded_review: str
    history: History
    final_epochs: int
    metrics: dict[str, Any]
    folder: Path | None


def reproduce(
    config: ReproduceConfig | None = None,
    *,
    data: str | os.PathLike[str] | None = None,
    run_folder: Path | None = None,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
    book: Callable[[], BookMatrices] | None = None,
) -> ReproduceResult:
    """Run the book's experiment end to end; write ``run_folder`` atomically if given.

    ``book`` returns the data when it is needed (the CLI loads it in a child process while
    PyTorch is imported); by default it is loaded from ``data`` here.
    """
    config = config or ReproduceConfig()
    folder = (RunFolder(run_folder, "reproduce", overwrite=overwrite)
              if run_folder is not None else None)
    started = time.perf_counter()
    with FigureWorker() if folder is not None else contextlib.nullcontext() as worker:
        return _run(config, book or (lambda: book_matrices(data, config.num_words)),
                    folder, callbacks, worker, started)


def _run(config: ReproduceConfig, load: Callable[[], BookMatrices], folder: RunFolder | None,
         callbacks: Sequence[Callback], worker: FigureWorker | None,
         started: float) -> ReproduceResult:
    book = load()
    if book.x_train.shape[1] != config.num_words:
        raise ConfigError(f"the data has {book.x_train.shape[1]} columns, not num_words="
                          f"{config.num_words}")
    x_train, y_train, x_test, y_test = book.x_train, book.y_train, book.x_test, book.y_test
    vocabulary = Vocabulary(book.words, num_words=config.num_words)
    decoded = vocabulary.decode(book.train_ids[int(book.train_order[0])])

    # The book holds out the *first* 10,000 (already shuffled) training reviews.
    partial_x, partial_y, x_val, y_val = book.rows(
        *book_split(len(book.y_train), config.validation_size))
    probe = Classifier(config.network, config.training)
    history = probe.fit(partial_x, partial_y, epochs=config.epochs,
                        validation_data=(x_val, y_val), callbacks=callbacks)

    final_epochs = (history.best_epoch("val_loss") if config.final_epochs == "auto"
                    else int(config.final_epochs))
    figures = worker.render(history) if worker is not None else None
    model = Classifier(config.network, config.training)  # a fresh model, as in the book
    model.fit(x_train, y_train, epochs=final_epochs, callbacks=callbacks)
    test_loss, test_accuracy = model.evaluate(x_test, y_test)
    probabilities = model.predict(x_test)
    figure_files = figures.result() if figures is not None else {}
    metrics = _metrics(config, history, final_epochs, test_loss, test_accuracy, len(y_test),
                       time.perf_counter() - started, book.checksum)
    if folder is None:
        return ReproduceResult(decoded, history, final_epochs, metrics, None)
    files = _artifacts(config, history, metrics, model, vocabulary) | figure_files
    files["predictions_sample.csv"] = _prediction_sample(
        probabilities, y_test,
        [vocabulary.decode(book.test_ids[int(i)]) for i in book.test_order[:PREDICTION_SAMPLE]],
    ).encode("utf-8")
    record = RunRecord("reproduce", _config_record(config), metrics)
    return ReproduceResult(decoded, history, final_epochs, metrics, folder.write(files, record))


def _metrics(config: ReproduceConfig, history: History, final_epochs: int, test_loss: float,
             test_accuracy: float, test_reviews: int, seconds: float, checksum: str
             ) -> dict[str, Any]:
    h = history.history
    best_loss, best_accuracy = history.best_epoch("val_loss"), history.best_epoch("val_accuracy")
    return {
        "validation": {"reviews": config.validation_size,
                       "loss": h["val_loss"][best_loss - 1], "best_loss_epoch": best_loss,
                       "accuracy": h["val_accuracy"][best_accuracy - 1],
                       "best_accuracy_epoch": best_accuracy},
        "test": {"reviews": test_reviews, "loss": test_loss, "accuracy": test_accuracy},
        "train_accuracy_last_epoch": h["accuracy"][-1],
        "final_epochs": final_epochs,
        "final_epochs_rule": _final_epochs_rule(config.final_epochs),
        "seconds": seconds,
        "data_checksum": checksum,
    }


def _config_record(config: ReproduceConfig) -> dict[str, Any]:
    return {"num_words": config.num_words, "validation_size": config.validation_size,
            "epochs": config.epochs, "final_epochs": config.final_epochs,
            "network": config.network.to_dict(), "training": config.training.to_dict()}


def _final_epochs_rule(final_epochs: int | str) -> str:
    if final_epochs == "auto":
        return "auto: the epoch of lowest validation loss"
    return "the book's choice" if final_epochs == 4 else "set by --final-epochs"


def _artifacts(config: ReproduceConfig, history: History, metrics: dict[str, Any],
               model: Classifier, vocabulary: Vocabulary) -> dict[str, bytes]:
    """Every file of the run folder except the figures and predictions, by relative path."""
    bundle = bundle_files(
        name="dense", featurizer=FeatureSpace.from_fitted(
            FeatureConfig(num_words=config.num_words), vocabulary),
        model=NetworkModel(config.network, model.state_arrays()),
        metrics={"test": metrics["test"]},
        training=config.training.to_dict() | {"epochs": metrics["final_epochs"],
                                              "protocol": "critic reproduce"},
        data={"source": "imdb", "checksum": metrics["data_checksum"],
              "trained_on": "all 25,000 training reviews"})
    return {
        "history.json": _json_bytes(history.to_dict()),
        **{f"model/{name}": blob for name, blob in bundle.items()},
    }


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _prediction_sample(probabilities: np.ndarray, y_test: np.ndarray,
                       decoded: list[str]) -> str:
    """CSV of the first test reviews (in load_data order): probability, label, opening words."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "probability_positive", "label", "review_start"])
    for i, text in enumerate(decoded):
        start = " ".join(text.split()[1:26])  # without the start marker
        writer.writerow([i, f"{float(probabilities[i, 0]):.4f}", int(y_test[i]), start])
    return buffer.getvalue()


__all__ = ["ReproduceConfig", "ReproduceResult", "reproduce"]
