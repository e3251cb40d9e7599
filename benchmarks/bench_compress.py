"""`critic compress` on IMDB: the in-memory ``nblr`` bundle with fewer n-grams, its test
accuracy, size and prediction speed beside the full bundle's and fastText's, in one run.

Run: ``python benchmarks/bench_compress.py [--bundle PATH] [--keep 0.5,0.25,0.1] [--quick]``.
Trains
``critic train --model nblr`` first unless ``--bundle`` names one, and fastText's supervised
classifier with word bigrams (5 epochs) when fastText is installed (``critic[bench]``). Every
model scores the 25,000 test reviews in this process after it is loaded, best of three
(fastText through its Python ``predict`` of the whole list; critic through
``critic.load(...).predict``): throughput after start-up, as ``critic predict`` has it. Load
time is ``critic.load`` alone. ``--quick``: one fraction (0.1), best of two, fastText 1
epoch (about a minute and a half).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def best_seconds(work: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def critic_row(name: str, bundle: Path, texts: list[str], labels: np.ndarray, repeats: int
               ) -> dict[str, Any]:
    import critic
    from critic.bundle import bundle_bytes

    loading = best_seconds(lambda: critic.load(bundle), repeats)
    model = critic.load(bundle)
    predicted = model.predict(texts)
    seconds = best_seconds(lambda: model.predict(texts), repeats)
    return {"model": name, "test_accuracy": round(float((predicted == labels).mean()), 4),
            "bundle_mb": round(bundle_bytes(bundle) / 1e6, 1),
            "load_seconds": round(loading, 3),
            "reviews_per_second": round(len(texts) / seconds)}


def train_fasttext(folder: Path, train: Any, epochs: int) -> Path:
    """fastText's supervised classifier, word bigrams, on IMDB's ``train`` reviews; its
    ``.bin`` in ``folder``."""
    import fasttext

    from critic.datasets.imdb import training_order

    # In load_data's shuffled order: fastText reads its file in order, and IMDB's corpus
    # order is every negative review, then every positive one.
    path = folder / "fasttext.train"
    path.write_text("".join(f"__label__{int(train.labels[i])} "
                            f"{' '.join(train.texts[int(i)].split())}\n"
                            for i in training_order(len(train))), encoding="utf-8")
    model = folder / "fasttext.bin"
    fasttext.train_supervised(str(path), wordNgrams=2, epoch=epochs, verbose=0
                              ).save_model(str(model))
    return model


def fasttext_row(folder: Path, train: Any, texts: list[str], labels: np.ndarray, repeats: int,
                 epochs: int) -> dict[str, Any] | None:
    try:
        import fasttext
    except ImportError:
        return None
    trained = train_fasttext(folder, train, epochs)
    model = fasttext.load_model(str(trained))
    loading = best_seconds(lambda: fasttext.load_model(str(trained)), repeats)
    lines = [" ".join(text.split()) for text in texts]

    def predict() -> np.ndarray:
        found, _ = model.predict(lines)
        return np.array([int(f[0].removeprefix("__label__")) for f in found])

    predicted = predict()
    seconds = best_seconds(predict, repeats)
    return {"model": f"fastText, word bigrams ({epochs} epochs)",
            "test_accuracy": round(float((predicted == labels).mean()), 4),
            "bundle_mb": round(trained.stat().st_size / 1e6, 1),
            "load_seconds": round(loading, 3),
            "reviews_per_second": round(len(texts) / seconds)}


def main() -> None:
    from critic import options_for, train_bundle
    from critic.compress import compress_bundle
    from critic.datasets.corpus import load_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="an nblr bundle (default: train one)")
    parser.add_argument("--keep", default="0.5,0.25,0.1", help="fractions of n-grams kept")
    parser.add_argument("--quick", action="store_true", help="keep 0.1, best of 2, 1 epoch")
    args = parser.parse_args()
    repeats, keeps = (2, "0.1") if args.quick else (3, args.keep)
    corpus = load_corpus(None)
    train, test = corpus.subset("train"), corpus.subset("test")
    texts, labels = list(test.texts), test.labels
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        bundle = args.bundle or train_bundle(options_for("nblr"), folder / "nblr").path
        rows = [critic_row("critic nblr (every n-gram)", bundle, texts, labels, repeats)]
        for keep in (float(k) for k in keeps.split(",")):
            made = compress_bundle(bundle, folder / f"nblr-{keep}", keep=keep)
            rows.append(critic_row(f"critic nblr, {made.ngrams_kept:,} of {made.ngrams:,} "
                                   "n-grams", made.path, texts, labels, repeats))
        peer = fasttext_row(folder, train, texts, labels, repeats, epochs=1 if args.quick else 5)
    rows += [peer] if peer else []
    print(f"\n{time.strftime('%Y-%m-%d')}, 25,000 test reviews"
          f"{'' if peer else ' (fastText not installed: no row)'}\n")
    print("| model | test accuracy | bundle MB | load s | reviews/s | × fastText |\n"
          "|---|---:|---:|---:|---:|---:|")
    for row in rows:
        ratio = f"{row['reviews_per_second'] / peer['reviews_per_second']:.2f}" if peer else ""
        print(f"| {row['model']} | {row['test_accuracy']:.4f} | {row['bundle_mb']:.1f} | "
              f"{row['load_seconds']:.3f} | {row['reviews_per_second']:,} | {ratio} |")
    with open("compress.json", "w", encoding="utf-8") as out:
        json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
