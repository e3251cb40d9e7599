"""How training and prediction grow with the number of reviews: critic beside fastText and
scikit-learn's HashingVectorizer + SGDClassifier, at 25 k, 100 k, 400 k and 2 M reviews.

Run: ``python benchmarks/bench_scale.py [--sizes 25000,100000,400000,2000000]
[--memory-budget 2.5G] [--figure docs/scale.png] [--quick]`` (data: ``$CRITIC_DATA``;
``--quick``: 25,000 reviews only, about two minutes). Needs the
``bench`` extra (fasttext-wheel). Per size, one corpus is built with ``make_corpus.py``
(Parquet; fastText gets the same reviews as its own text format, made before the clock
starts), then, each command in its own process (wall time and peak RSS of that process):

- training: ``critic train --model nblr --input corpus.parquet --memory-budget B``,
  fastText (word bigrams, 5 epochs, 2 threads), scikit-learn (1-2-grams hashed into 2**22
  columns, ``partial_fit`` over 8,192-review batches, one pass); each model's accuracy on
  the 25,000 IMDB test reviews (the corpora are made of training reviews only);
- prediction of every review of the corpus, written to Parquet: ``critic predict`` with the
  book's ``dense`` model and with the ``nblr`` model trained at that size, and each peer
  with its own model. Reviews/s are given with each process's start-up and without it (the
  same command on a one-review file, subtracted).

Prints a Markdown table and draws the log-log figure of time and peak memory against reviews.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from _measure import Measurement, measure

HERE = Path(__file__).parent
CRITIC = [sys.executable, "-m", "critic"]
PEERS = [sys.executable, str(HERE / "scale_peers.py")]
COLOURS = {"critic nblr": "C0", "critic dense": "C4", "fastText": "C1", "scikit-learn": "C2"}


def build_corpus(reviews: int, folder: Path) -> tuple[Path, Path]:
    """The corpus as Parquet and, for fastText, as ``__label__L text`` lines."""
    corpus = folder / f"corpus-{reviews}.parquet"
    subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(reviews), str(corpus)],
                   check=True)
    lines = folder / f"corpus-{reviews}.txt"
    with open(lines, "w", encoding="utf-8") as out:
        for batch in pq.ParquetFile(corpus).iter_batches(columns=["text", "label"]):
            for text, label in zip(batch.column("text").to_pylist(),
                                   batch.column("label").to_pylist(), strict=True):
                out.write(f"__label__{label} {' '.join(text.split())}\n")
    return corpus, lines


def imdb_test(folder: Path) -> Path:
    from critic.datasets.corpus import load_corpus

    test = load_corpus(None).subset("test")
    path = folder / "imdb-test.parquet"
    pq.write_table(pa.table({"text": test.texts.arrow, "label": test.labels}), path)
    return path


def critic_accuracy(bundle: Path, folder: Path) -> float:
    done = subprocess.run([*CRITIC, "evaluate", str(bundle), "--json", "--figure",
                           str(folder / "reliability.png")], capture_output=True, text=True,
                          check=True)
    return float(json.loads(done.stdout)["accuracy"])


def row(kind: str, who: str, reviews: int, run: Measurement, accuracy: float | None
        ) -> dict[str, object]:
    return {"kind": kind, "who": who, "reviews": reviews, "seconds": round(run.seconds, 2),
            "peak_mb": round(run.peak_mb), "reviews_per_s": round(reviews / run.seconds),
            "test_accuracy": accuracy}


def one_size(reviews: int, work: Path, test: Path, dense: Path, budget: str
             ) -> list[dict[str, object]]:
    corpus, lines = build_corpus(reviews, work)
    nblr, fast, sk = work / f"nblr-{reviews}", work / f"ft-{reviews}.bin", work / "sk.pkl"
    out = work / "out.parquet"
    rows = []
    run = measure([*CRITIC, "train", "--model", "nblr", "--input", str(corpus),
                   "--memory-budget", budget, "--output", str(nblr), "--overwrite"])
    rows.append(row("train", "critic nblr", reviews, run, critic_accuracy(nblr, work)))
    run = measure([*PEERS, "fasttext-train", str(lines), str(fast), str(test)])
    rows.append(row("train", "fastText", reviews, run, json.loads(run.stdout)["test_accuracy"]))
    run = measure([*PEERS, "sklearn-train", str(corpus), str(sk), str(test)])
    rows.append(row("train", "scikit-learn", reviews, run,
                    json.loads(run.stdout)["test_accuracy"]))
    one = work / "one-review.parquet"
    pq.write_table(pq.read_table(corpus).slice(0, 1), one)
    for who, command in (
            ("critic dense", [*CRITIC, "predict", str(dense), "--input", "{}",
                              "--output", str(out)]),
            ("critic nblr", [*CRITIC, "predict", str(nblr), "--input", "{}",
                             "--output", str(out)]),
            ("fastText", [*PEERS, "fasttext-predict", str(fast), "{}", str(out)]),
            ("scikit-learn", [*PEERS, "sklearn-predict", str(sk), "{}", str(out)])):
        start_up = measure([str(one) if part == "{}" else part for part in command])
        run = measure([str(corpus) if part == "{}" else part for part in command])
        rows.append(row("predict", who, reviews, run, None) | {
            "start_up_s": round(start_up.seconds, 2),
            "reviews_per_s_after_start_up": round(reviews / max(run.seconds - start_up.seconds,
                                                                1e-9))})
    for path in (corpus, lines, fast, sk, out, one):
        path.unlink(missing_ok=True)
    shutil.rmtree(nblr, ignore_errors=True)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| | reviews | wall time (s) | reviews/s | reviews/s after start-up | "
             "peak RSS (MB) | IMDB test accuracy |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        accuracy = f"{r['test_accuracy']:.4f}" if r["test_accuracy"] is not None else ""
        after = (f"{r['reviews_per_s_after_start_up']:,} ({r['start_up_s']} s)"
                 if "start_up_s" in r else "")
        lines.append(f"| {r['kind']} · {r['who']} | {r['reviews']:,} | {r['seconds']:,} | "
                     f"{r['reviews_per_s']:,} | {after} | {r['peak_mb']:,} | {accuracy} |")
    return "\n".join(lines)


def figure(rows: list[dict[str, object]], path: Path, budget_mb: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.5))
    panels = (("train", "seconds", "Training: wall time (s)"),
              ("train", "peak_mb", "Training: peak RSS (MB)"),
              ("predict", "seconds", "Prediction: wall time (s)"),
              ("predict", "peak_mb", "Prediction: peak RSS (MB)"))
    for axis, (kind, key, title) in zip(axes, panels, strict=True):
        for who in dict.fromkeys(r["who"] for r in rows if r["kind"] == kind):
            mine = [r for r in rows if r["kind"] == kind and r["who"] == who]
            axis.plot([r["reviews"] for r in mine], [r[key] for r in mine], "o-", label=who,
                      color=COLOURS.get(str(who)))
        axis.set(xscale="log", yscale="log", xlabel="reviews", title=title)
        if key == "peak_mb":
            axis.set_ylim(100, 10_000)
            if kind == "train":
                axis.axhline(budget_mb, color="grey", linestyle="--", label="--memory-budget")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="25000,100000,400000,2000000")
    parser.add_argument("--quick", action="store_true", help="25,000 reviews only")
    parser.add_argument("--memory-budget", default="2.5G")
    parser.add_argument("--figure", type=Path, default=HERE.parent / "docs" / "scale.png")
    parser.add_argument("--results", type=Path, default=None,
                        help="Also write the rows as JSON here.")
    parser.add_argument("--redraw", type=Path, default=None,
                        help="Print the table and draw the figure from rows saved with "
                             "--results, without measuring.")
    args = parser.parse_args()
    args.sizes = "25000" if args.quick else args.sizes
    budget_mb = _megabytes(args.memory_budget)
    if args.redraw:
        rows = json.loads(args.redraw.read_text())
        print(table(rows))
        figure(rows, args.figure, budget_mb)
        return
    work = Path(tempfile.mkdtemp(prefix="critic-scale-"))
    try:
        test = imdb_test(work)
        dense = work / "dense"
        subprocess.run([*CRITIC, "train", "--model", "dense", "--output", str(dense)],
                       check=True, capture_output=True)
        rows = []
        for size in (int(s) for s in args.sizes.split(",")):
            rows += one_size(size, work, test, dense, args.memory_budget)
            print(f"done: {size:,} reviews", file=sys.stderr, flush=True)
            if args.results:
                args.results.write_text(json.dumps(rows, indent=2))
        print(table(rows))
        figure(rows, args.figure, budget_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"figure: {args.figure}", file=sys.stderr)


def _megabytes(amount: str) -> float:
    from critic._train import parse_memory

    return parse_memory(amount) / 2**20


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
