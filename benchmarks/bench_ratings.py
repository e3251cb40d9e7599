"""IMDB's ratings (eight labels: 1–4 and 7–10) side by side in one run: each critic family
trained with ``--target rating`` beside scikit-learn's tf-idf + multinomial logistic
regression, on the same 25,000 training reviews, scored on the 25,000 test reviews.

``python benchmarks/bench_ratings.py [--quick]`` prints a Markdown table (accuracy, mean
absolute error in stars, within one place, training seconds) and writes it as JSON beside
(``ratings.json`` in the working folder). ``--quick`` trains on 5,000 reviews and scores 5,000.
Every model chooses its settings on held-out training reviews, never on the test reviews:
critic's by its own rule (whole movies held out), scikit-learn's C among 1, 3 and 10 on the
last 5,000 training reviews in load_data's order, then refitted on all of them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

RATINGS = np.array([1, 2, 3, 4, 7, 8, 9, 10])
CRITIC_MODELS = ("nblr", "tfidf-dense", "dense")


def scores(name: str, predicted: np.ndarray, truth: np.ndarray, seconds: float
           ) -> dict[str, Any]:
    """Accuracy, MAE in stars and within one place of the eight ratings."""
    place = np.searchsorted(RATINGS, predicted) - np.searchsorted(RATINGS, truth)
    return {"model": name, "accuracy": round(float((predicted == truth).mean()), 4),
            "mae": round(float(np.abs(predicted - truth).mean()), 3),
            "within_one": round(float((np.abs(place) <= 1).mean()), 4),
            "train_seconds": round(seconds, 1)}


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    return work(), time.perf_counter() - started


def critic_row(model: str, folder: str, test_texts: list[str], truth: np.ndarray,
               limit: int | None) -> dict[str, Any]:
    import critic
    from critic.datasets.corpus import load_corpus

    options = critic.options_for(model, target="rating", validation_by="movie")
    if limit is None:
        result, seconds = timed(lambda: critic.train_bundle(options, folder))
    else:  # the first `limit` training reviews, as a file of the user's would be given
        from critic.datasets.files import Reviews

        train = load_corpus(None).subset("train")
        order = np.random.default_rng(0).permutation(len(train))[:limit]
        reviews = Reviews([train.texts[int(i)] for i in order],
                          np.searchsorted(RATINGS, train.ratings[order]), None,
                          "IMDB training ratings", tuple(int(r) for r in RATINGS))
        options = critic.options_for(model, validation_size=0.2)
        result, seconds = timed(lambda: critic.train_bundle(options, folder, reviews=reviews))
    loaded = critic.load(result.path)
    labels = np.array(loaded.labels, dtype=np.int64)
    predicted = labels[loaded.predict_proba(test_texts).argmax(axis=1)]
    return scores(f"critic {model}", predicted, truth, seconds)


def sklearn_row(train_texts: list[str], train_ratings: np.ndarray, test_texts: list[str],
                truth: np.ndarray) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    def fit() -> Any:
        held = min(5_000, len(train_texts) // 5)
        best = max((1.0, 3.0, 10.0), key=lambda c: _accuracy(
            c, train_texts[:-held], train_ratings[:-held], train_texts[-held:],
            train_ratings[-held:]))
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        x = vectorizer.fit_transform(train_texts)
        return vectorizer, LogisticRegression(C=best, max_iter=300).fit(x, train_ratings)

    (vectorizer, model), seconds = timed(fit)
    predicted = model.predict(vectorizer.transform(test_texts))
    return scores(f"scikit-learn tf-idf 1–2-grams + LR (C={model.C:g})", predicted, truth,
                  seconds)


def _accuracy(c: float, texts: list[str], ratings: np.ndarray, held_texts: list[str],
              held_ratings: np.ndarray) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    model = LogisticRegression(C=c, max_iter=300).fit(vectorizer.fit_transform(texts), ratings)
    return float((model.predict(vectorizer.transform(held_texts)) == held_ratings).mean())


def main() -> None:
    import tempfile

    from critic.datasets.corpus import load_corpus
    from critic.datasets.imdb import training_order

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 reviews each way")
    args = parser.parse_args()
    limit = 5_000 if args.quick else None
    corpus = load_corpus(None)
    train, test = corpus.subset("train"), corpus.subset("test")
    order = training_order(len(train))  # load_data's order: the book's hold-out is its start
    train_texts = [train.texts[int(i)] for i in order[:limit]]
    train_ratings = train.ratings[order[:limit]].astype(np.int64)
    picked = np.arange(len(test)) if limit is None else \
        np.random.default_rng(1).permutation(len(test))[:limit]
    test_texts = [test.texts[int(i)] for i in picked]
    truth = test.ratings[picked].astype(np.int64)
    rows = [sklearn_row(train_texts, train_ratings, test_texts, truth)]
    print(json.dumps(rows[-1]), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for model in CRITIC_MODELS:
            rows.append(critic_row(model, f"{folder}/{model}", test_texts, truth, limit))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{time.strftime('%Y-%m-%d')}, {len(train_texts):,} training and "
          f"{len(test_texts):,} test reviews\n")
    print("| model | accuracy | MAE (stars) | within one place | training s |\n"
          "|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['accuracy']:.4f} | {row['mae']:.3f} | "
              f"{row['within_one']:.4f} | {row['train_seconds']:.1f} |")
    with open("ratings.json", "w", encoding="utf-8") as out:
        json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
