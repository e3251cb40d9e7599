"""`critic predict` on the 25,000 IMDB test reviews from a JSON-lines file, beside scikit-learn.

Run: ``python benchmarks/bench_predict.py [--data PATH] [--quick]`` (``--quick``: one run
each). Trains a bundle (the book's network, 4 epochs) and the peer pipeline first (not
timed), then times, each in its own process: start-up alone (import + load the model, score
one review) and the whole file end to end.
Throughput after start-up = 25,000 / (whole file - start-up).
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

HERE = Path(__file__).parent


def write_jsonl(data: str, split: str, path: Path) -> Path:
    """One IMDB split as JSON lines: id, text, label."""
    from critic.datasets.corpus import load_corpus

    part = load_corpus(data).subset(split)
    with path.open("w") as out:
        for i, (text, label) in enumerate(zip(part.texts, part.labels, strict=True)):
            out.write(json.dumps({"id": f"{split}{i}", "text": text, "label": int(label)})
                      + "\n")
    return path


def prepare(data: str, work: Path) -> tuple[Path, Path, Path]:
    from critic import options_for, train_bundle

    for split in ("train", "test"):
        write_jsonl(data, split, work / f"{split}.jsonl")
    bundle = train_bundle(options_for("dense", epochs=4), work / "bundle", data=data).path
    measure([sys.executable, str(HERE / "sklearn_predict.py"), "fit", str(work / "train.jsonl"),
             str(work / "sklearn.pkl")])
    return bundle, work / "test.jsonl", work / "sklearn.pkl"


def best_of(command: list[str], repeats: int) -> Measurement:
    runs = [measure(command) for _ in range(repeats)]
    return Measurement(statistics.median(r.seconds for r in runs),
                       max(r.peak_mb for r in runs), "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("CRITIC_DATA"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run each")
    args = parser.parse_args()
    args.repeats = 1 if args.quick else args.repeats
    work = Path(tempfile.mkdtemp(prefix="critic-bench-"))
    bundle, reviews, peer = prepare(args.data, work)
    critic = [sys.executable, "-m", "critic", "predict", str(bundle)]
    sides = {
        "critic predict": ([*critic, "A moving film."],
                           [*critic, "--input", str(reviews), "--output",
                            str(work / "c.jsonl"), "--json"]),
        "scikit-learn CountVectorizer + LogisticRegression": (
            [sys.executable, str(HERE / "sklearn_predict.py"), "predict", str(peer)],
            [sys.executable, str(HERE / "sklearn_predict.py"), "predict", str(peer),
             str(reviews), str(work / "s.jsonl")]),
    }
    print(f"{args.repeats} runs each, median wall time; 25,000 reviews\n")
    print("| | start-up (s) | whole file (s) | reviews/s after start-up | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    rates = {}
    for name, (startup_cmd, full_cmd) in sides.items():
        startup, full = best_of(startup_cmd, args.repeats), best_of(full_cmd, args.repeats)
        rates[name] = 25_000 / max(full.seconds - startup.seconds, 1e-9)
        print(f"| {name} | {startup.seconds:.2f} | {full.seconds:.2f} | {rates[name]:,.0f} | "
              f"{full.peak_mb:,.0f} |")
    names = list(rates)
    print(f"\ncritic / scikit-learn throughput: {rates[names[0]] / rates[names[1]]:.1f}×")


if __name__ == "__main__":
    main()
