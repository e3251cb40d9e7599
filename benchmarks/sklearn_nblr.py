"""The peer for ``critic train --model nblr``: the scikit-learn pipeline issue #6 names.

``python sklearn_nblr.py train MODEL.pkl`` reads the same cached IMDB corpus critic trains
from, fits CountVectorizer(uni+bi+trigrams, binary, 2 M features) → NB log-count ratio
scaling → LogisticRegression (liblinear, C=1, no selection: less work than critic does), and
prints the test accuracy as JSON. ``python sklearn_nblr.py predict MODEL.pkl IN.jsonl OUT``
scores a JSON-lines file as ``critic predict --json`` does (no file: start-up only). The
pickle is the peer's own format and never leaves the benchmark's temporary folder.
"""

from __future__ import annotations

import json
import pickle
import sys

import numpy as np


def train(model_path: str) -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from critic.datasets.corpus import load_corpus

    corpus = load_corpus(None)
    train_part, test_part = corpus.subset("train"), corpus.subset("test")
    vectorizer = CountVectorizer(ngram_range=(1, 3), binary=True, max_features=2_000_000)
    x = vectorizer.fit_transform(list(train_part.texts))
    y = train_part.labels.astype(int)
    p = 1 + np.asarray(x[y == 1].sum(axis=0)).ravel()
    q = 1 + np.asarray(x[y == 0].sum(axis=0)).ravel()
    ratios = np.log(p / p.sum()) - np.log(q / q.sum())
    model = LogisticRegression(C=1.0, solver="liblinear", dual=True).fit(x.multiply(ratios), y)
    x_test = vectorizer.transform(list(test_part.texts)).multiply(ratios)
    accuracy = float((model.predict(x_test) == test_part.labels).mean())
    with open(model_path, "wb") as out:
        pickle.dump((vectorizer, ratios, model), out)
    print(json.dumps({"test_accuracy": accuracy}))


def predict(model_path: str, reviews: str | None, output: str | None) -> None:
    import pyarrow.json as pj

    with open(model_path, "rb") as handle:
        vectorizer, ratios, model = pickle.load(handle)  # the peer's own file, written above
    if reviews is None:
        return
    table = pj.read_json(reviews)
    x = vectorizer.transform(table.column("text").to_pylist()).multiply(ratios)
    probabilities = model.predict_proba(x.tocsr())[:, 1]
    with open(output or "/dev/null", "w") as out:
        for review_id, prob in zip(table.column("id").to_pylist(), probabilities, strict=True):
            label = "positive" if prob >= 0.5 else "negative"
            out.write(json.dumps({"id": review_id, "label": label, "probability": float(prob)})
                      + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2])
    else:
        predict(sys.argv[2], *(sys.argv[3:5] if len(sys.argv) > 3 else (None, None)))
