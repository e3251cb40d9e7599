"""`critic reproduce` beside the book's notebook on Keras 3 + TensorFlow CPU, in one run.

Run: ``python benchmarks/bench_reproduce.py [--data PATH] [--repeats N] [--quick]`` with the
``bench`` extra installed (``make bench``). Both sides get the same encoded reviews from a warm
cache; each side runs once untimed first (bytecode written, files cached), then in its own
process per run, timed from process start to exit, with its peak RSS. ``--quick``: one timed
run each (about 1.5 minutes here); the default, three.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, measure, warm_up


def export_reviews(data: str, target: Path) -> None:
    """The encoded reviews critic trains on, as flat arrays for the Keras script."""
    from critic.datasets.imdb import load_encoded

    (train, y_train), (test, y_test) = load_encoded(data, num_words=10_000)
    np.savez(target, train_values=train.values, train_offsets=train.offsets,
             train_labels=y_train, test_values=test.values, test_offsets=test.offsets,
             test_labels=y_test)


def critic_command(data: str, runs: Path) -> list[str]:
    return [sys.executable, "-m", "critic", "reproduce", "--data", data, "--runs", str(runs),
            "--overwrite", "--json"]


def keras_command(reviews: Path, out: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).parent / "keras_book.py"), str(reviews), str(out)]


def run_critic(data: str, runs: Path) -> tuple[Measurement, dict]:
    m = measure(critic_command(data, runs))
    return m, {"test_accuracy": json.loads(m.stdout)["test"]["accuracy"]}


def run_keras(reviews: Path, out: Path) -> tuple[Measurement, dict]:
    m = measure(keras_command(reviews, out))
    return m, json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("CRITIC_DATA"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one timed run each")
    args = parser.parse_args()
    args.repeats = 1 if args.quick else args.repeats
    if not args.data:
        raise SystemExit("pass --data or set CRITIC_DATA to aclImdb_v1.tar.gz")
    work = Path(tempfile.mkdtemp(prefix="critic-bench-"))
    export_reviews(args.data, work / "reviews.npz")  # also warms critic's caches
    warm_up(critic_command(args.data, work / "runs"))
    warm_up(keras_command(work / "reviews.npz", work / "keras.json"))
    rows: dict[str, list[tuple[Measurement, dict]]] = {"critic": [], "keras": []}
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits both
        rows["critic"].append(run_critic(args.data, work / "runs"))
        rows["keras"].append(run_keras(work / "reviews.npz", work / "keras.json"))
    summary = {}
    for side, results in rows.items():
        summary[side] = {
            "wall_s": statistics.median(m.seconds for m, _ in results),
            "peak_mb": max(m.peak_mb for m, _ in results),
            "test_accuracy": statistics.mean(r["test_accuracy"] for _, r in results),
            "accuracies": [round(r["test_accuracy"], 4) for _, r in results],
        }
    c, k = summary["critic"], summary["keras"]
    print(f"{time.strftime('%Y-%m-%d')}: {args.repeats} timed runs each after one untimed, "
          "interleaved; wall = median, peak RSS = max over runs\n")
    print("| | wall time (s) | peak RSS (MB) | test accuracy (mean; each run) |")
    print("|---|---:|---:|---|")
    for side, label in (("critic", "critic reproduce"), ("keras", "book code, Keras 3 + TF")):
        s = summary[side]
        print(f"| {label} | {s['wall_s']:.1f} | {s['peak_mb']:,.0f} | {s['test_accuracy']:.4f}; "
              f"{', '.join(map(str, s['accuracies']))} |")
    print(f"| critic / Keras | {c['wall_s'] / k['wall_s']:.3f} "
          f"({k['wall_s'] / c['wall_s']:.1f}× faster) | {c['peak_mb'] / k['peak_mb']:.3f} "
          f"({k['peak_mb'] / c['peak_mb']:.1f}× less) | "
          f"{100 * (c['test_accuracy'] - k['test_accuracy']):+.2f} points |")


if __name__ == "__main__":
    main()
