"""`critic train --model nblr` beside the scikit-learn NB-LR pipeline, then their predictions.

Run: ``python benchmarks/bench_nblr.py [--data PATH] [--repeats 3] [--quick]``
(``--quick``: one run each). Both sides start from
critic's cached corpus (warmed first) and end with the IMDB test accuracy: critic also
chooses C and the interpolation on 5,000 held-out reviews and refits on all 25,000, the peer
fits once with C=1. Then each scores the 25,000 test reviews from a JSON-lines file, in its
own process: start-up alone, then the whole file (throughput = 25,000 / the difference).
Runs alternate between the sides so drift on this shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, measure
from bench_predict import best_of, write_jsonl

HERE = Path(__file__).parent


def train_side_by_side(work: Path, repeats: int) -> dict[str, list[tuple[Measurement, float]]]:
    sides = {
        "critic train --model nblr": (
            [sys.executable, "-m", "critic", "train", "--model", "nblr", "--output",
             str(work / "nblr"), "--overwrite", "--json"],
            lambda out: json.loads(out)["test"]["accuracy"]),
        "scikit-learn CountVectorizer(1-3) + NB + LogisticRegression": (
            [sys.executable, str(HERE / "sklearn_nblr.py"), "train", str(work / "sk.pkl")],
            lambda out: json.loads(out)["test_accuracy"]),
    }
    results: dict[str, list[tuple[Measurement, float]]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, (command, accuracy) in sides.items():
            run = measure(command)
            results[name].append((run, accuracy(run.stdout)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("CRITIC_DATA"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run each")
    args = parser.parse_args()
    args.repeats = 1 if args.quick else args.repeats
    if args.data:
        os.environ["CRITIC_DATA"] = args.data
    work = Path(tempfile.mkdtemp(prefix="critic-bench-"))
    reviews = write_jsonl(args.data, "test", work / "test.jsonl")  # also warms the cache

    trained = train_side_by_side(work, args.repeats)
    print(f"Training, cached corpus → test accuracy; {args.repeats} alternating runs each\n")
    print("| | wall time (s), median | runs | peak RSS (MB) | test accuracy |")
    print("|---|---:|---|---:|---:|")
    medians = {}
    for name, runs in trained.items():
        seconds = [run.seconds for run, _ in runs]
        medians[name] = statistics.median(seconds)
        print(f"| {name} | {medians[name]:.1f} | {', '.join(f'{s:.1f}' for s in seconds)} | "
              f"{max(run.peak_mb for run, _ in runs):,.0f} | {runs[-1][1]:.4f} |")
    ours, peer = medians.values()
    print(f"\ncritic / scikit-learn wall time: {peer / ours:.1f}× faster")

    critic_cmd = [sys.executable, "-m", "critic", "predict", str(work / "nblr")]
    peer_cmd = [sys.executable, str(HERE / "sklearn_nblr.py"), "predict", str(work / "sk.pkl")]
    sides = {"critic predict (nblr bundle)": (
        [*critic_cmd, "A moving film."],
        [*critic_cmd, "--input", str(reviews), "--output", str(work / "c.jsonl"), "--json"]),
        "scikit-learn pipeline": (peer_cmd, [*peer_cmd, str(reviews), str(work / "s.jsonl")])}
    sizes = {"critic predict (nblr bundle)": sum(f.stat().st_size
                                                 for f in (work / "nblr").iterdir()),
             "scikit-learn pipeline": (work / "sk.pkl").stat().st_size}
    print("\nPrediction, 25,000 raw test reviews from JSON lines\n")
    print("| | start-up (s) | whole file (s) | reviews/s after start-up | peak RSS (MB) | "
          "model on disk (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (startup_cmd, full_cmd) in sides.items():
        startup, full = best_of(startup_cmd, args.repeats), best_of(full_cmd, args.repeats)
        rate = 25_000 / max(full.seconds - startup.seconds, 1e-9)
        print(f"| {name} | {startup.seconds:.2f} | {full.seconds:.2f} | {rate:,.0f} | "
              f"{full.peak_mb:,.0f} | {sizes[name] / 1e6:.1f} |")


if __name__ == "__main__":
    main()
