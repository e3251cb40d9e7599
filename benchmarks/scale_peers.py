"""The peers of ``bench_scale.py``, each run in its own process so its peak RSS is its own.

``python scale_peers.py fasttext-train CORPUS.txt MODEL.bin TEST.parquet``: fastText
supervised, word bigrams, 5 epochs, 2 threads (its defaults otherwise: 2 M hash buckets,
dimension 100), then its IMDB test accuracy.
``python scale_peers.py sklearn-train CORPUS.parquet MODEL.pkl TEST.parquet``:
``HashingVectorizer(ngram_range=(1, 2), n_features=2**22, alternate_sign=False)`` +
``SGDClassifier(loss="log_loss").partial_fit`` over 8,192-review batches, one pass.
``python scale_peers.py {fasttext,sklearn}-predict MODEL CORPUS.parquet OUT.parquet``: score
every review of the corpus in 8,192-review batches, written to Parquet as they come.
Prints one JSON object. (The pickle is scikit-learn's own format and never leaves the
benchmark's temporary folder.)
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

BATCH = 8_192


def batches(path: str, columns: list[str]) -> Iterator[pa.RecordBatch]:
    reader = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    yield from reader.iter_batches(batch_size=BATCH, columns=columns)


def one_line(texts: list[str]) -> list[str]:
    return [" ".join(text.split()) for text in texts]  # fastText reads one line a review


def fasttext_train(corpus: str, model_path: str, test: str) -> dict[str, float]:
    import fasttext

    model = fasttext.train_supervised(input=corpus, wordNgrams=2, epoch=5, thread=2,
                                      verbose=0)
    model.save_model(model_path)
    table = pq.read_table(test)
    labels, _ = model.predict(one_line(table.column("text").to_pylist()))
    predicted = np.array([label[0] == "__label__1" for label in labels])
    return {"test_accuracy": float((predicted == (table.column("label").to_numpy() == 1))
                                   .mean())}


def fasttext_predict(model_path: str, corpus: str, output: str) -> dict[str, int]:
    import fasttext

    model = fasttext.load_model(model_path)
    scored = 0
    with pq.ParquetWriter(output, pa.schema([("label", pa.string()),
                                             ("score", pa.float64())])) as writer:
        for batch in batches(corpus, ["text"]):
            labels, scores = model.predict(one_line(batch.column("text").to_pylist()))
            writer.write_batch(pa.record_batch(
                [pa.array([label[0] for label in labels]),
                 pa.array([float(s[0]) for s in scores])], names=["label", "score"]))
            scored += batch.num_rows
    return {"reviews": scored}


def _vectorizer():  # scikit-learn's own type
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(ngram_range=(1, 2), n_features=2**22, alternate_sign=False)


def sklearn_train(corpus: str, model_path: str, test: str) -> dict[str, float]:
    from sklearn.linear_model import SGDClassifier

    vectorizer, model = _vectorizer(), SGDClassifier(loss="log_loss", random_state=0)
    for batch in batches(corpus, ["text", "label"]):
        model.partial_fit(vectorizer.transform(batch.column("text").to_pylist()),
                          batch.column("label").to_numpy(), classes=[0, 1])
    with open(model_path, "wb") as out:
        pickle.dump(model, out)
    table = pq.read_table(test)
    predicted = model.predict(vectorizer.transform(table.column("text").to_pylist()))
    return {"test_accuracy": float((predicted == table.column("label").to_numpy()).mean())}


def sklearn_predict(model_path: str, corpus: str, output: str) -> dict[str, int]:
    with open(model_path, "rb") as handle:
        model = pickle.load(handle)  # written by sklearn_train above
    vectorizer, scored = _vectorizer(), 0
    with pq.ParquetWriter(output, pa.schema([("positive_probability", pa.float64())])) as out:
        for batch in batches(corpus, ["text"]):
            probabilities = model.predict_proba(
                vectorizer.transform(batch.column("text").to_pylist()))[:, 1]
            out.write_batch(pa.record_batch([pa.array(probabilities)],
                                            names=["positive_probability"]))
            scored += batch.num_rows
    return {"reviews": scored}


COMMANDS = {"fasttext-train": fasttext_train, "fasttext-predict": fasttext_predict,
            "sklearn-train": sklearn_train, "sklearn-predict": sklearn_predict}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
