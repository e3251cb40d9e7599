"""``critic cv``: K-fold cross-validation of one configuration (the book's technique for small
data): K models, each validated on a different fold of the training reviews; the epoch is
chosen on the mean validation curve, never on the test set. Folds are contiguous runs of
``load_data`` order (the book's), or whole movies (``by="movie"``: no movie in two folds)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from critic.datasets.files import Reviews
from critic.datasets.imdb import book_matrices, training_movies
from critic.errors import ConfigError, check_positive
from critic.fitting.data import book_with_target, multi_hot_reviews
from critic.fitting.options import check_target
from critic.fitting.splits import check_validation_by, require_movies
from critic.models.network.classifier import Callback, Classifier
from critic.models.network.config import NetworkConfig, TrainConfig, outputs_for
from critic.runs import RunFolder, RunRecord


@dataclass
class CrossValidation:
    folds: list[dict[str, list[float]]]  # one Keras-style history per fold
    mean: dict[str, list[float]]
    chosen_epoch: int  # lowest mean validation loss
    best_accuracy_epoch: int  # highest mean validation accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"folds": self.folds, "mean": self.mean, "chosen_epoch": self.chosen_epoch,
                "best_accuracy_epoch": self.best_accuracy_epoch}


def cross_validate(network: NetworkConfig, training: TrainConfig, *, folds: int = 4,
                   epochs: int = 20, data: str | os.PathLike[str] | None = None,
                   by: str = "review", callbacks: Sequence[Callback] = (),
                   target: str = "sentiment", reviews: Reviews | None = None
                   ) -> CrossValidation:
    """Train ``folds`` models on the IMDB training reviews (``load_data`` order), each
    validated on one fold (contiguous, or whole movies with ``by="movie"``), and average
    their curves epoch by epoch. ``target="rating"`` learns IMDB's eight ratings (a softmax
    over them), the folds then stratified: each holds every rating in its share.

    ``reviews`` (labelled, any labels) are cross-validated instead of IMDB's: multi-hot
    vectors of their ``network.input_dim`` most frequent words, as the book makes IMDB's, and
    stratified folds (a file is often sorted by label; IMDB's order is shuffled)."""
    check_positive("folds", folds)
    check_validation_by(by, "by")
    check_positive("epochs", epochs)
    check_target(target)
    if folds < 2:
        raise ConfigError(f"`folds` must be at least 2. Received: folds={folds}")
    if reviews is not None:
        x, y, classes = _multi_hot(reviews, network.input_dim, by, target)
    else:
        book, classes = book_with_target(book_matrices(data, network.input_dim), data, target)
        x, y = book.x_train, book.y_train
    if classes is not None:
        network = dataclasses.replace(network, outputs=outputs_for(len(classes), training))
    if folds > len(y) // 2:
        raise ConfigError(f"`folds` must leave at least 2 reviews in each fold: at most "
                          f"{len(y) // 2} for {len(y)} reviews. Received: folds={folds}",
                          parameter="folds")
    histories = []
    stratified = reviews is not None or (classes is not None and len(classes) > 2)
    for rest, val in _folds(y, folds, by, data, stratified=stratified):
        model = Classifier(network, training)
        history = model.fit(x[rest], y[rest], epochs=epochs, validation_data=(x[val], y[val]),
                            callbacks=callbacks)
        histories.append(history.history)
    mean = {key: np.mean([h[key] for h in histories], axis=0).tolist() for key in histories[0]}
    return CrossValidation(histories, mean, int(np.argmin(mean["val_loss"])) + 1,
                           int(np.argmax(mean["val_accuracy"])) + 1)


def _multi_hot(reviews: Reviews, num_words: int, by: str, target: str
               ) -> tuple[Any, np.ndarray, tuple[Any, ...] | None]:
    if by == "movie" or target != "sentiment":
        raise ConfigError("--folds-by movie and --target are for IMDB's reviews; a file of "
                          "yours is folded review by review, on its own labels",
                          parameter="folds_by" if by == "movie" else "target")
    return multi_hot_reviews(reviews, num_words)


def _folds(y: np.ndarray, folds: int, by: str, data: str | os.PathLike[str] | None, *,
           stratified: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(training rows, validation rows)`` of each fold; ``stratified``: each fold holds
    every label in its share (scikit-learn's stratified folds, in ``load_data`` order)."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

    reviews = len(y)
    if by == "movie":
        movies = training_movies(data)
        require_movies(movies, "by", "--folds-by review")
        if folds > len(np.unique(movies)):
            raise ConfigError(f"`folds` must be at most the {len(np.unique(movies))} movies "
                              f"to fold by. Received: folds={folds}", parameter="folds")
        grouped = StratifiedGroupKFold(n_splits=folds) if stratified else \
            GroupKFold(n_splits=folds)
        return list(grouped.split(np.zeros(reviews), y, groups=movies))
    if stratified:
        fewest = int(np.bincount(y)[np.bincount(y) > 0].min())
        if fewest < folds:
            raise ConfigError(f"a label has {fewest} review(s), fewer than the {folds} folds "
                              "that should each hold some of it; use fewer --folds",
                              parameter="folds")
        return list(StratifiedKFold(n_splits=folds).split(np.zeros(reviews), y))
    size = reviews // folds
    return [(np.setdiff1d(np.arange(reviews), fold), fold)
            for fold in (np.arange(k * size, (k + 1) * size) for k in range(folds))]


def run_cv(network: NetworkConfig, training: TrainConfig, folder: str | os.PathLike[str], *,
           folds: int = 4, epochs: int = 20, data: str | os.PathLike[str] | None = None,
           by: str = "review", overwrite: bool = False, callbacks: Sequence[Callback] = (),
           target: str = "sentiment", reviews: Reviews | None = None) -> CrossValidation:
    """:func:`cross_validate`, written to the run folder ``folder`` (claimed before the work):
    ``run.json`` with every fold's curves and the choice, and ``cv.png``."""
    run_folder = RunFolder(folder, "cv", overwrite=overwrite)
    result = cross_validate(network, training, folds=folds, epochs=epochs, data=data, by=by,
                            callbacks=callbacks, target=target, reviews=reviews)
    mean = result.mean
    metrics = result.to_dict() | {"validation": {
        "accuracy": max(mean["val_accuracy"]), "loss": min(mean["val_loss"]),
        "best_loss_epoch": result.chosen_epoch, "best_accuracy_epoch": result.best_accuracy_epoch}}
    config = {"folds": folds, "folds_by": by, "epochs": epochs, "target": target,
              "network": network.to_dict(), "training": training.to_dict(),
              "input": None if reviews is None else reviews.source}
    run_folder.write({"cv.png": _figure(result)}, RunRecord("cv", config, metrics))
    return result


def table_rows(folds: list[dict[str, list[float]]], mean: dict[str, list[float]]
               ) -> list[list[Any]]:
    """Fold, best val accuracy, its epoch, lowest val loss, its epoch; the mean last."""
    rows = []
    for k, h in enumerate([*folds, mean], start=1):
        acc, loss = h["val_accuracy"], h["val_loss"]
        rows.append(["mean" if k > len(folds) else k, f"{max(acc):.4f}",
                     acc.index(max(acc)) + 1, f"{min(loss):.4f}", loss.index(min(loss)) + 1])
    return rows


TABLE_HEADER = ["fold", "best val accuracy", "at epoch", "lowest val loss", "at epoch"]


def _figure(result: CrossValidation) -> bytes:
    import io

    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.2), dpi=100, layout="tight")
    for axes, metric, title in zip(figure.subplots(1, 2), ("val_loss", "val_accuracy"),
                                   ("Validation loss per fold", "Validation accuracy per fold"),
                                   strict=True):
        epochs = range(1, len(result.mean[metric]) + 1)
        for k, history in enumerate(result.folds, start=1):
            axes.plot(epochs, history[metric], lw=0.8, alpha=0.6, label=f"fold {k}")
        axes.plot(epochs, result.mean[metric], "k", lw=2.2, label="mean")
        axes.axvline(result.chosen_epoch, color="0.5", ls=":", label="chosen epoch")
        axes.set_title(title)
        axes.set_xlabel("Epochs")
        axes.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
