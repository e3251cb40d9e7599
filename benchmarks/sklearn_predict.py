"""The peer for ``critic predict``: a fitted scikit-learn pipeline scoring a JSON-lines file.

``python sklearn_predict.py fit TRAIN.jsonl MODEL.pkl`` fits CountVectorizer(binary, 10,000
words) + LogisticRegression; ``python sklearn_predict.py predict MODEL.pkl IN.jsonl OUT.jsonl``
scores a file the way ``critic predict --json`` does. (The pickle is the peer's own format and
never leaves the benchmark's temporary folder.)
"""

from __future__ import annotations

import json
import pickle
import sys

import pyarrow.json as pj


def main() -> None:
    if sys.argv[1] == "fit":
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        table = pj.read_json(sys.argv[2])
        pipeline = make_pipeline(CountVectorizer(binary=True, max_features=10_000),
                                 LogisticRegression(max_iter=1000))
        pipeline.fit(table.column("text").to_pylist(), table.column("label").to_pylist())
        with open(sys.argv[3], "wb") as out:
            pickle.dump(pipeline, out)
        return
    with open(sys.argv[2], "rb") as handle:
        pipeline = pickle.load(handle)  # the peer's own file, written above
    if len(sys.argv) == 3:  # start-up only
        return
    table = pj.read_json(sys.argv[3])
    probabilities = pipeline.predict_proba(table.column("text").to_pylist())[:, 1]
    with open(sys.argv[4], "w") as out:
        for review_id, p in zip(table.column("id").to_pylist(), probabilities, strict=True):
            label = "positive" if p >= 0.5 else "negative"
            out.write(json.dumps({"id": review_id, "label": label, "probability": float(p)})
                      + "\n")


if __name__ == "__main__":
    main()
