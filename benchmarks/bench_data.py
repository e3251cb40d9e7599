"""Data-path benchmark: load, tokenise and multi-hot the IMDB reviews, beside the book and sklearn.

Run: ``python benchmarks/bench_data.py [--data PATH] [--quick]`` (default ``$CRITIC_DATA``).
Each scenario runs in its own process; the table gives the timed operation, the whole
process's wall time and its peak RSS. ``--quick`` leaves out the two tokenizer versions' rows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure, stopwatch

NUM_WORDS = 10_000


def scenario(name: str, data: str) -> float:
    """Run one scenario in this process; return the seconds of its timed part."""
    from critic.datasets.corpus import load_corpus

    if name in ("cold", "warm"):
        started = stopwatch()
        load_corpus(data, use_cache=True)
        return stopwatch() - started
    corpus = load_corpus(data)
    train, test = corpus.subset("train"), corpus.subset("test")
    labelled = corpus.splits != "unsup"
    if name == "critic":
        from critic.features import multi_hot
        from critic.text import Vocabulary, tokenize_texts

        started = stopwatch()
        tokens = tokenize_texts(corpus.texts.take(np.nonzero(labelled)[0]))
        vocabulary = Vocabulary.fit_tokens(tokens.slice(0, len(train)), num_words=NUM_WORDS)
        multi_hot(vocabulary.encode_tokens(tokens), NUM_WORDS)
        return stopwatch() - started
    if name.startswith("tokenize-v"):  # the tokenizer alone: best of three passes
        from critic.text import tokenize_texts

        texts = corpus.texts.take(np.nonzero(labelled)[0])
        times = []
        for _ in range(3):
            started = stopwatch()
            tokenize_texts(texts, version=int(name.removeprefix("tokenize-v")))
            times.append(stopwatch() - started)
        return min(times)
    if name == "book":
        from critic.datasets.imdb import load_data

        (train_data, _), (test_data, _) = load_data(data, num_words=NUM_WORDS)

        def vectorize_sequences(sequences, dimension=NUM_WORDS):  # the book's code
            results = np.zeros((len(sequences), dimension))
            for i, sequence in enumerate(sequences):
                results[i, sequence] = 1.
            return results

        started = stopwatch()
        vectorize_sequences(train_data)
        vectorize_sequences(test_data)
        return stopwatch() - started
    if name == "sklearn":
        from sklearn.feature_extraction.text import CountVectorizer

        started = stopwatch()
        vectorizer = CountVectorizer(binary=True, max_features=NUM_WORDS)
        vectorizer.fit(list(train.texts))
        vectorizer.transform(list(train.texts) + list(test.texts))
        return stopwatch() - started
    raise SystemExit(f"unknown scenario {name!r}")


ROWS = [
    ("cold", "critic: archive → Corpus (100,000 reviews, parse + write cache)"),
    ("warm", "critic: cache → Corpus (100,000 reviews)"),
    ("critic", "critic: tokenise + rank vocabulary + multi-hot (50,000 reviews)"),
    ("tokenize-v1", "critic: tokenise only, tokenizer v1 of critic 0.2 (50,000 reviews)"),
    ("tokenize-v2", "critic: tokenise only, tokenizer v2: entities, tags, NFKC (50,000)"),
    ("book", "book: vectorize_sequences, dense float64 (50,000 reviews, ids given)"),
    ("sklearn", "scikit-learn: CountVectorizer(binary, 10k) fit + transform (50,000)"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("CRITIC_DATA"))
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="no tokenizer-version rows")
    args = parser.parse_args()
    if not args.data:
        raise SystemExit("pass --data or set CRITIC_DATA to aclImdb_v1.tar.gz")
    if args.scenario:
        print(json.dumps({"seconds": scenario(args.scenario, args.data)}))
        return
    env = os.environ | {"CRITIC_HOME": tempfile.mkdtemp(prefix="critic-bench-")}
    results = {}
    for name, label in ROWS:
        if args.quick and name.startswith("tokenize-v"):
            continue
        m = measure([sys.executable, __file__, "--data", args.data, "--scenario", name], env=env)
        results[name] = (label, json.loads(m.stdout)["seconds"], m.seconds, m.peak_mb)
    critic_s = results["critic"][1]
    print("| step | timed part (s) | process wall (s) | peak RSS (MB) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, (label, inner, wall, peak) in results.items():
        ratio = f"{inner / critic_s:.1f}× slower than critic" if name in ("book", "sklearn") \
            else ""
        if name == "tokenize-v2":
            ratio = f"{inner / results['tokenize-v1'][1]:.2f}× v1's time"
        print(f"| {label} | {inner:.2f} | {wall:.2f} | {peak:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
