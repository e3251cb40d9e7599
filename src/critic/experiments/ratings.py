"""The ratings board (``critic leaderboard --target rating``): IMDB's eight ratings (1–4 and
7–10), each critic model beside scikit-learn's tf-idf + multinomial logistic regression,
trained on the same 25,000 training reviews and scored on the 25,000 test reviews in one run.

Every model chooses its settings on held-out training reviews, never on the test reviews:
critic's by its own rule (whole movies held out), scikit-learn's ``C`` among
:data:`PEER_CS` on the last 5,000 training reviews in ``load_data``'s order, then refitted on
all of them. Each row gives the accuracy, the mean absolute error in stars (``mae``), the
share within one place of the eight ratings (``within_one``), the training time, the
prediction throughput and (for critic's) the bundle's size.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from critic.bundle import bundle_bytes
from critic.datasets.files import Reviews
from critic.fitting.data import IMDB_RATINGS

#: The models of the ratings board (nblr's variants learn two labels only).
RATING_MODELS = ("dense", "tfidf-dense", "nblr")
#: The peer's regularisation strengths, one chosen on held-out training reviews.
PEER_CS = (1.0, 3.0, 10.0)
#: Training reviews the peer holds out to choose ``C`` (the last of ``load_data``'s order).
PEER_HELD_OUT = 5_000


def rating_scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy, mean absolute error in stars and the share within one place of the eight
    ratings, of ``predicted`` ratings against the ``truth``."""
    places = np.searchsorted(IMDB_RATINGS, predicted) - np.searchsorted(IMDB_RATINGS, truth)
    return {"test_accuracy": round(float((predicted == truth).mean()), 4),
            "mae": round(float(np.abs(predicted - truth).mean()), 3),
            "within_one": round(float((np.abs(places) <= 1).mean()), 4)}


def imdb_training_ratings(corpus: Any) -> tuple[list[str], np.ndarray]:
    """IMDB's training reviews and their ratings, in ``load_data``'s order (the peer holds
    out the last of them)."""
    from critic.datasets.imdb import training_order

    train = corpus.subset("train")
    order = training_order(len(train))
    return list(train.texts.take(order)), train.ratings[order].astype(np.int64)


def critic_row(name: str, options: Any, path: Path, test_texts: Sequence[str],
               test_ratings: np.ndarray, *, data: str | None = None,
               reviews: Reviews | None = None) -> dict[str, Any]:
    """Train ``options`` on IMDB's ratings (or on ``reviews`` labelled with ratings) into
    ``path``, score the test reviews; its row."""
    import critic
    from critic._train import train_bundle

    started = time.perf_counter()
    result = train_bundle(options, path, data=data, reviews=reviews)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    model = critic.load(path)
    predicted = np.asarray(model.labels, dtype=np.int64)[model.predict(test_texts)]
    seconds = time.perf_counter() - started
    return {"model": name, "kind": "critic",
            "val_accuracy": round(result.metrics["validation"]["accuracy"], 4),
            **rating_scores(predicted, np.asarray(test_ratings, dtype=np.int64)),
            "train_seconds": round(trained, 1),
            "predict_reviews_per_second": round(len(test_texts) / seconds),
            "bundle_mb": round(bundle_bytes(path) / 1e6, 1)}


def peer_row(texts: list[str], ratings: np.ndarray, test_texts: list[str],
             test_ratings: np.ndarray) -> dict[str, Any]:
    """scikit-learn's tf-idf of words and bigrams + multinomial logistic regression on the
    training ``texts``, ``C`` chosen on the last :data:`PEER_HELD_OUT` of them (a fifth of
    fewer), then refitted on all; its row."""
    held = min(PEER_HELD_OUT, len(texts) // 5)
    started = time.perf_counter()
    tried = {c: fit_peer(c, texts[:-held], ratings[:-held]) for c in PEER_CS}
    val = {c: float((model.predict(vectorizer.transform(texts[-held:])) ==
                     ratings[-held:]).mean()) for c, (vectorizer, model) in tried.items()}
    best = max(PEER_CS, key=lambda c: val[c])
    vectorizer, model = fit_peer(best, texts, ratings)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(vectorizer.transform(test_texts))
    seconds = time.perf_counter() - started
    return {"model": f"scikit-learn tf-idf 1–2-grams + LR (C={best:g})", "kind": "peer",
            "val_accuracy": round(val[best], 4),
            **rating_scores(predicted, np.asarray(test_ratings, dtype=np.int64)),
            "train_seconds": round(trained, 1),
            "predict_reviews_per_second": round(len(test_texts) / seconds), "bundle_mb": None}


def fit_peer(c: float, texts: list[str], ratings: np.ndarray) -> tuple[Any, Any]:
    """The peer fitted with regularisation ``c``: its vectorizer and its classifier."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x = vectorizer.fit_transform(texts)
    return vectorizer, LogisticRegression(C=c, max_iter=300).fit(x, ratings)


def ratings_table(rows: list[dict[str, Any]]) -> str:
    """The board, best test accuracy first, with what each number is."""
    lines = ["| model | kind | val accuracy | test accuracy | MAE (stars) | within one place "
             "| training s | predictions/s | bundle MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r["test_accuracy"]):
        size = "" if r["bundle_mb"] is None else f"{r['bundle_mb']:.1f}"
        lines.append(f"| {r['model']} | {r['kind']} | {r['val_accuracy']:.4f} | "
                     f"{r['test_accuracy']:.4f} | {r['mae']:.3f} | {r['within_one']:.4f} | "
                     f"{r['train_seconds']:.1f} | {r['predict_reviews_per_second']:,} | "
                     f"{size} |")
    lines += ["", "IMDB's eight ratings (1–4, 7–10: the file names'), 25,000 training and "
              "25,000 test reviews. Validation accuracy: critic's on whole movies held out "
              "of the training reviews, the peer's on the last 5,000 training reviews in "
              "load_data's order (where it chose C). MAE is in stars; within one place: the "
              "predicted rating is the true one or a neighbour among the eight. The peer "
              "is trained and timed in the same run, from the same cached corpus."]
    return "\n".join(lines) + "\n"
