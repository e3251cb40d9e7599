"""IMDB's ratings (eight labels: 1–4 and 7–10) side by side in one run: the ratings board of
``critic leaderboard --target rating`` (each critic model beside scikit-learn's tf-idf +
multinomial logistic regression, :mod:`critic.experiments.ratings`), plus fastText's
supervised classifier with bigrams when it is installed (``pip install 'critic[bench]'``).

``python benchmarks/bench_ratings.py [--quick]`` prints a Markdown table (accuracy, mean
absolute error in stars, within one place, training seconds) and writes it as JSON beside
(``ratings.json`` in the working folder). ``--quick`` trains on 5,000 reviews and scores 5,000
(critic's models from a file of them, validated on a fifth; no leaderboard folder).
Every model chooses its settings on held-out training reviews, never on the test reviews.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from critic.experiments.ratings import (
    RATING_MODELS,
    critic_row,
    peer_row,
    rating_scores,
    ratings_table,
)


def full_board(folder: Path) -> list[dict[str, Any]]:
    """The ratings board on all of IMDB, as ``critic leaderboard --target rating`` makes it."""
    from critic.experiments.leaderboard import run_leaderboard

    return run_leaderboard(RATING_MODELS, folder / "board", target="rating",
                           progress=print).rows


def quick_board(folder: Path, train: Any, test: Any) -> list[dict[str, Any]]:
    """The same rows on ``train`` and ``test`` (5,000 reviews each): critic's models from
    the reviews as a file of the user's would give them, the peer with C chosen on a fifth."""
    import critic
    from critic.datasets.files import Reviews
    from critic.fitting.data import IMDB_RATINGS

    reviews = Reviews(train["texts"], np.searchsorted(IMDB_RATINGS, train["ratings"]),
                      None, "IMDB training ratings", IMDB_RATINGS)
    rows = [critic_row(model, critic.options_for(model, validation_size=0.2),
                       folder / model, test["texts"], test["ratings"], reviews=reviews)
            for model in RATING_MODELS]
    return [*rows, peer_row(train["texts"], train["ratings"], test["texts"], test["ratings"])]


#: fastText's settings tried (learning rate, epochs), one chosen on held-out reviews.
FASTTEXT_SETTINGS = ((0.1, 5), (0.5, 5), (0.5, 10))


def fasttext_row(folder: Path, train: Any, test: Any) -> dict[str, Any] | None:
    """fastText's supervised classifier with word bigrams on the same reviews, its
    learning rate and epochs chosen among :data:`FASTTEXT_SETTINGS` on the last fifth of
    the training reviews, then refitted on all; ``None`` when fastText is not installed."""
    try:
        import fasttext
    except ImportError:
        return None

    def fit(texts: list[str], ratings: np.ndarray, lr: float, epoch: int) -> Any:
        path = folder / "fasttext.train"
        path.write_text("".join(f"__label__{rating} {' '.join(text.split())}\n"
                                for text, rating in zip(texts, ratings, strict=True)),
                        encoding="utf-8")
        return fasttext.train_supervised(str(path), wordNgrams=2, lr=lr, epoch=epoch,
                                         verbose=0)

    def predict(model: Any, texts: list[str]) -> np.ndarray:
        labels, _ = model.predict([" ".join(text.split()) for text in texts])
        return np.array([int(label[0].removeprefix("__label__")) for label in labels])

    held = len(train["texts"]) // 5
    started = time.perf_counter()
    best = max(FASTTEXT_SETTINGS, key=lambda setting: float((predict(
        fit(train["texts"][:-held], train["ratings"][:-held], *setting),
        train["texts"][-held:]) == train["ratings"][-held:]).mean()))
    model = fit(train["texts"], train["ratings"], *best)
    seconds = time.perf_counter() - started
    return {"model": f"fastText, word bigrams (lr {best[0]:g}, {best[1]} epochs)",
            "kind": "peer", **rating_scores(predict(model, test["texts"]), test["ratings"]),
            "train_seconds": round(seconds, 1)}


def main() -> None:
    from critic.datasets.corpus import load_corpus
    from critic.datasets.imdb import training_order

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 reviews each way")
    args = parser.parse_args()
    limit = 5_000 if args.quick else None
    corpus = load_corpus(None)
    train, test = corpus.subset("train"), corpus.subset("test")
    order = training_order(len(train))[:limit]  # load_data's order
    picked = np.arange(len(test)) if limit is None else \
        np.random.default_rng(1).permutation(len(test))[:limit]
    train_set = {"texts": [train.texts[int(i)] for i in order],
                 "ratings": train.ratings[order].astype(np.int64)}
    test_set = {"texts": [test.texts[int(i)] for i in picked],
                "ratings": test.ratings[picked].astype(np.int64)}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        rows = quick_board(folder, train_set, test_set) if args.quick else full_board(folder)
        fasttext = fasttext_row(folder, train_set, test_set)
    rows += [fasttext] if fasttext else []
    print(f"\n{time.strftime('%Y-%m-%d')}, {len(train_set['texts']):,} training and "
          f"{len(test_set['texts']):,} test reviews"
          f"{'' if fasttext else ' (fastText not installed: no row)'}\n")
    print("| model | accuracy | MAE (stars) | within one place | training s |\n"
          "|---|---:|---:|---:|---:|")
    for row in sorted(rows, key=lambda r: -r["test_accuracy"]):
        print(f"| {row['model']} | {row['test_accuracy']:.4f} | {row['mae']:.3f} | "
              f"{row['within_one']:.4f} | {row['train_seconds']:.1f} |")
    if not args.quick:
        print("\n" + ratings_table([r for r in rows if "val_accuracy" in r]))
    with open("ratings.json", "w", encoding="utf-8") as out:
        json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
