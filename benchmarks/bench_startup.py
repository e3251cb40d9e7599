"""Start-up of the command line: ``critic --version``, ``critic --help`` and ``critic predict``
of one review, for this tree and, side by side in the same run, an older one.

Run: ``python benchmarks/bench_startup.py [--baseline DIR] [--repeats 15]``. ``--baseline`` is
another checkout's ``src`` folder (for example ``git worktree add /tmp/old a70c852`` then
``--baseline /tmp/old/src``); each tree runs from its own sources on this interpreter
(``PYTHONPATH``), and trains its own tiny bundle first (bundle formats differ across versions).
Runs alternate between the trees; the table shows the median wall time and peak RSS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure

HERE = Path(__file__).resolve().parent
REVIEWS = ["A moving, beautifully acted film.", "Dull, awful and boring.",
           "Great fun, a superb cast.", "Two hours wasted on a bad plot."] * 20


def tree_env(src: Path) -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(src)}


def tiny_bundle(src: Path, work: Path) -> Path:
    """A small network bundle trained by the tree at ``src`` on a generated CSV."""
    csv = work / "reviews.csv"
    csv.write_text("text,label\n" + "".join(
        f"\"{text}\",{int(i % 2 == 0)}\n" for i, text in enumerate(REVIEWS)))
    bundle = work / "model"
    subprocess.run([sys.executable, "-m", "critic", "train", "--input", str(csv), "--output",
                    str(bundle), "--epochs", "2", "--validation-size", "0.25"],
                   env=tree_env(src), check=True, capture_output=True)
    return bundle


def commands(bundle: Path) -> dict[str, list[str]]:
    critic = [sys.executable, "-m", "critic"]
    return {"critic --version": [*critic, "--version"], "critic --help": [*critic, "--help"],
            "critic predict (1 review)": [*critic, "predict", str(bundle), "Loved it."]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout's src/ folder")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    trees = {"this tree": HERE.parent / "src"}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        plans = {}
        for label, src in trees.items():
            work = Path(tmp) / label.replace(" ", "-")
            work.mkdir()
            plans[label] = commands(tiny_bundle(src, work))
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):
            for label, src in trees.items():
                for name, command in plans[label].items():
                    m = measure(command, env=tree_env(src))
                    results.setdefault((name, label), []).append((m.seconds, m.peak_mb))
    print(f"| command | {' | '.join(trees)} |" + (" ratio |" if args.baseline else ""))
    print("|---|" + "---:|" * (len(trees) + bool(args.baseline)))
    for name in plans["this tree"]:
        cells, medians = [], []
        for label in trees:
            seconds = statistics.median(s for s, _ in results[(name, label)])
            peak = statistics.median(p for _, p in results[(name, label)])
            medians.append(seconds)
            cells.append(f"{seconds * 1000:.0f} ms, {peak:.0f} MB")
        ratio = f" {medians[1] / medians[0]:.2f}× faster |" if args.baseline else ""
        print(f"| {name} | {' | '.join(cells)} |{ratio}")
    print(f"\nmedian of {args.repeats} interleaved runs; Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
