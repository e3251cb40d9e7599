"""A loaded bundle judged on labelled reviews (:func:`evaluate_model`), its decision threshold
chosen and stored (:func:`store_best_threshold`), the reliability figure and the short-text
check. The metrics themselves are :mod:`critic.metrics`'.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from critic.bundle import LABELS
from critic.datasets.files import binary_label
from critic.datasets.labels import is_coded
from critic.errors import ConfigError
from critic.metrics import evaluate_probabilities, find_threshold
from critic.text import split_sentences

if TYPE_CHECKING:
    from critic.datasets.files import Reviews
    from critic.datasets.stream import ReviewStream
    from critic.predict import Predictor


def reliability_figure(report: dict[str, Any]) -> bytes:
    """PNG of the reliability diagram: mean probability against fraction positive per bin;
    for more than two labels, of the most probable label against the fraction it was right,
    beside the confusion matrix."""
    from matplotlib.figure import Figure

    bins = report["calibration"]["bins"]
    many = "classes" in report
    figure = Figure(figsize=(9.6 if many else 4.8, 4.8), dpi=100, layout="tight")
    axes = figure.subplots(1, 2)[0] if many else figure.subplots()
    axes.plot([0, 1], [0, 1], "k:", label="Perfectly calibrated")
    axes.plot([b["mean_probability"] for b in bins], [b["fraction_positive"] for b in bins],
              "bo-", label=f"Model (ECE {report['calibration']['ece']:.3f})")
    axes.set_xlabel("Mean probability of the predicted label" if many
                    else "Mean predicted probability")
    axes.set_ylabel("Fraction predicted right" if many else "Fraction of positive reviews")
    axes.set_title("Reliability")
    axes.legend()
    if many:
        _confusion_axes(figure.axes[1], report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _confusion_axes(axes: Any, report: dict[str, Any]) -> None:
    """The confusion matrix as a heat map, each cell's count written in it."""
    matrix = np.asarray(report["confusion_matrix"])
    labels = [str(label) for label in report["classes"]]
    axes.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, f"{count:,}", ha="center", va="center",
                  color="white" if count > matrix.max() / 2 else "black")
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 5 else 0)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("Predicted label")
    axes.set_ylabel("True label")
    axes.set_title("Confusion matrix")


def short_texts(texts: Sequence[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The short-text check: the first and the last sentence (of 3 words or more) of each
    review, labelled by their review, once where they are the same sentence.

    Noisy by construction — a first sentence is often plot, not opinion — so it ranks
    models on short texts rather than measuring one; IMDB's test reviews give 49,784.
    """
    sentences, owners = split_sentences(texts)
    if not len(owners):
        return [], np.zeros(0, dtype=labels.dtype)
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    ends = np.r_[starts[1:] - 1, len(owners) - 1]
    picked = np.unique(np.concatenate([starts, ends]))  # a one-sentence review counts once
    return [sentences[i] for i in picked], labels[owners[picked]]


def evaluate_model(predictor: Predictor, reviews: Reviews | ReviewStream | None = None, *,
                   data: str | os.PathLike[str] | None = None,
                   threshold: float | None = None) -> dict[str, Any]:
    """:func:`evaluate_probabilities` of a loaded bundle on labelled ``reviews`` (by default the
    25,000 IMDB test reviews from ``data``), at ``threshold`` (default: the bundle's); the
    report's ``data`` says what was evaluated. A :class:`ReviewStream` is scored batch by
    batch: memory holds one batch and a probability and a label per review."""
    from critic.bundle import check_threshold
    from critic.datasets.stream import ReviewStream

    if predictor.n_classes > 2:
        return _evaluate_classes(predictor, reviews, data, threshold)
    cut = predictor.threshold if threshold is None else threshold
    check_threshold(cut)
    if isinstance(reviews, ReviewStream):
        labels, probabilities = _scored_stream(predictor, reviews)
        return evaluate_probabilities(labels, probabilities, threshold=cut) | {
            "data": reviews.source}
    if reviews is None:
        from critic.datasets.corpus import load_corpus

        test = load_corpus(data).subset("test")
        texts: Sequence[str] = test.texts
        labels, source = test.labels.astype(np.uint8), "IMDB test split"
    else:
        if reviews.labels is None:
            raise ConfigError(f"{reviews.source} has no labels to evaluate against",
                              parameter="label_column")
        texts, labels, source = reviews.texts, reviews.labels, reviews.source
    return evaluate_probabilities(labels, predictor.predict_proba(texts), threshold=cut) | {
        "data": source}


def evaluate_bundle(bundle: str | os.PathLike[str],
                    reviews: Reviews | ReviewStream | None = None, *,
                    data: str | os.PathLike[str] | None = None, threshold: float | None = None,
                    find_threshold: str | None = None, validation: Reviews | None = None,
                    before_storing: Callable[[dict[str, Any]], object] = lambda report: None,
                    ) -> tuple[dict[str, Any], float | None]:
    """``critic evaluate``: the bundle at ``bundle`` evaluated as :func:`evaluate_model` does;
    with ``find_threshold`` (``accuracy`` or ``f1``) at the cut :func:`choose_threshold` finds
    on ``validation`` (default: the bundle's held-out IMDB reviews), which is then stored in
    the bundle — last, after ``before_storing(report)``, so a failure before it leaves the
    bundle as it was. Returns the report and the stored cut (``None`` if none)."""
    from critic.bundle import with_threshold
    from critic.predict import load

    model = load(bundle)
    refuse_threshold(model, "--threshold" if threshold is not None else None)
    refuse_threshold(model, "--find-threshold" if find_threshold is not None else None)
    cut = None
    if find_threshold is not None:
        cut = choose_threshold(model, find_threshold,  # type: ignore[arg-type]  # checked there
                               validation=validation, data=data)
        model.threshold = cut
    report = evaluate_model(model, reviews, data=data, threshold=threshold)
    before_storing(report)
    if cut is not None:
        with_threshold(bundle, cut)
    return report, cut


def _evaluate_classes(predictor: Predictor, reviews: Reviews | ReviewStream | None,
                      data: str | os.PathLike[str] | None, threshold: float | None
                      ) -> dict[str, Any]:
    """More than two labels: the reviews' labels found among the bundle's, then
    :func:`critic.metrics.evaluate_classes`."""
    from critic.datasets.stream import ReviewStream, labelled_reviews
    from critic.metrics import evaluate_classes

    refuse_threshold(predictor, "--threshold" if threshold is not None else None)
    if isinstance(reviews, ReviewStream):
        reviews = labelled_reviews(reviews.source, text_column=reviews.text_column,
                                   label_column=reviews.label_column or "label")
    if reviews is None:
        raise ConfigError(f"{predictor.bundle.path} has {predictor.n_classes} labels of its "
                          "own; evaluate it on labelled reviews of them (--input)",
                          parameter="input")
    if reviews.labels is None:
        raise ConfigError(f"{reviews.source} has no labels to evaluate against",
                          parameter="label_column")
    labels = bundle_indices(predictor, reviews)
    return evaluate_classes(labels, predictor.predict_proba(reviews.texts),
                            predictor.bundle.labels) | {"data": reviews.source}


def bundle_indices(predictor: Predictor, reviews: Reviews) -> np.ndarray:
    """``reviews``' labels as indices of the bundle's labels; a label it does not know is
    refused, named."""
    assert reviews.labels is not None
    names = [str(name) for name in (reviews.classes or ("negative", "positive"))]
    return _indices_of(predictor, names, reviews.source)[reviews.labels]


def _indices_of(predictor: Predictor, names: Sequence[str], source: str) -> np.ndarray:
    """Each label name's index among the bundle's labels (``int64``); a two-label model of
    critic's own (negative, positive) knows its binary words too (1, pos, true, …). A name it
    does not know is refused."""
    known = {str(name): i for i, name in enumerate(predictor.labels)}
    own = tuple(predictor.labels) == LABELS
    indices = [known.get(name, binary_label(name) if own else None) for name in names]
    if None in indices:
        unknown = names[indices.index(None)]
        raise ConfigError(f"{source}: label {unknown!r} is not one of the model's "
                          f"({', '.join(map(str, predictor.labels))})", parameter="label_column")
    return np.array(indices, dtype=np.int64)


def refuse_threshold(predictor: Predictor, option: str | None) -> None:
    """Refuse a binary-only option (``--threshold``, ``--find-threshold``) for more labels."""
    if option is not None and predictor.n_classes > 2:
        raise ConfigError(f"{option} cuts P(positive) between two labels; this model has "
                          f"{predictor.n_classes} and predicts the most probable one",
                          parameter="threshold")


def _scored_stream(predictor: Predictor, stream: ReviewStream) -> tuple[np.ndarray, np.ndarray]:
    """Every review's label and P(positive), batch by batch."""
    labels, probabilities = [], []
    for batch in stream:
        if batch.labels is None:
            raise ConfigError(f"{batch.source} has no labels to evaluate against",
                              parameter="label_column")
        labels.append(_stream_indices(predictor, batch.labels, batch.source))
        probabilities.append(predictor.score(batch.texts)[0])
    return np.concatenate(labels), np.concatenate(probabilities)


def _stream_indices(predictor: Predictor, labels: np.ndarray, source: str) -> np.ndarray:
    """A batch's labels as the bundle's indices: critic's own 0/1 words as they are, any
    other label looked up by name among the bundle's (one it does not know refused)."""
    if is_coded(labels):
        return labels
    return _indices_of(predictor, [str(label) for label in labels], source).astype(np.uint8)


def choose_threshold(predictor: Predictor, metric: Literal["accuracy", "f1"] = "accuracy", *,
                     validation: Reviews | None = None,
                     data: str | os.PathLike[str] | None = None) -> float:
    """The cut that maximises ``metric`` on labelled ``validation`` reviews, or, by default, on
    the IMDB training reviews the bundle held out (refused when the model was refitted on
    them: they would not choose honestly)."""
    if metric not in ("accuracy", "f1"):
        raise ConfigError(f"`metric` must be 'accuracy' or 'f1'. Received: metric={metric!r}",
                          parameter="metric")
    refuse_threshold(predictor, "--find-threshold")
    if validation is not None:
        if validation.labels is None:
            raise ConfigError(f"{validation.source} has no labels to choose a threshold with")
        texts, labels = validation.texts, validation.labels
    else:
        texts, labels = _held_out_reviews(predictor, data)
    return find_threshold(labels, predictor.predict_proba(texts), metric)


def _held_out_reviews(predictor: Predictor, data: str | os.PathLike[str] | None
                      ) -> tuple[Sequence[str], np.ndarray]:
    from critic.fitting.splits import BOOK_ORDER, MOVIE_ORDER, held_out_texts

    trained_on = predictor.bundle.config.get("data", {})
    held_out = trained_on.get("validation", {})
    if trained_on.get("source") != "imdb" or "reviews" not in held_out:
        raise ConfigError("this bundle was not trained on IMDB with held-out reviews; give "
                          "labelled validation reviews", parameter="validation")
    if held_out.get("trained_on_after_choice"):
        raise ConfigError(f"this {predictor.bundle.model_name} model was refitted on its "
                          "held-out reviews, so they cannot choose a threshold honestly; give "
                          "other labelled reviews", parameter="validation")
    if held_out.get("order") not in (BOOK_ORDER, MOVIE_ORDER, None):
        # Held out by a hash of the stream position: those reviews are not the first N of
        # load_data's order, which the model was trained on.
        raise ConfigError("this model was trained from a stream, whose held-out reviews are "
                          "not kept; give labelled validation reviews (--validation-input)",
                          parameter="validation")
    return held_out_texts(data, int(held_out["reviews"]), held_out.get("by", "review"))


def store_best_threshold(path: str | os.PathLike[str],
                         metric: Literal["accuracy", "f1"] = "accuracy", *,
                         validation: Reviews | None = None,
                         data: str | os.PathLike[str] | None = None) -> Predictor:
    """:func:`choose_threshold` for the bundle at ``path``, stored in it (rewritten
    atomically); returns the bundle loaded with its new threshold."""
    from critic.bundle import with_threshold
    from critic.predict import Predictor, load

    cut = choose_threshold(load(path), metric, validation=validation, data=data)
    return Predictor(with_threshold(path, cut))
