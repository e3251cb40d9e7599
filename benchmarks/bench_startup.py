"""Start-up: ``critic predict BUNDLE "one review"`` beside fastText loading its model and
predicting one review, in one run; then, each in a fresh process, the import and the model's
read apart.

Run: ``python benchmarks/bench_startup.py [--dense B] [--nblr B] [--fasttext MODEL]
[--repeats 15] [--quick]`` with the ``bench`` extra (``make bench``). Without ``--dense`` /
``--nblr`` it trains both on IMDB (``$CRITIC_DATA``); without ``--fasttext`` it trains
fastText's supervised classifier with word bigrams (5 epochs; 1 with ``--quick``), the peer of
comparable accuracy: fastText's Python module is its command line here (the wheel has no
binary), so its side is ``python -c "import fasttext; load_model(...).predict([...])"``.
Every command runs once untimed first (bytecode written, files in the page cache), then the
sides alternate; the table gives the median wall time and peak RSS. ``--quick``: 5 repeats,
about two minutes with training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure, warm_up
from bench_compress import train_fasttext

REVIEW = "A moving, beautifully acted film."

# One review end to end: run as ``python -c CODE MODEL``.
FASTTEXT_PREDICT = ("import sys, fasttext; model = fasttext.load_model(sys.argv[1]); "
                    f"print(model.predict([{REVIEW!r}])[0][0][0])")
# The phases apart, in a fresh process: the import, the model's read, the first prediction.
PHASES = """
import sys, time, json
started = time.perf_counter()
{imports}
imported = time.perf_counter()
model = {load}(sys.argv[1])
loaded = time.perf_counter()
model.predict([{review!r}])
print(json.dumps({{"import": imported - started, "read": loaded - imported,
                  "predict": time.perf_counter() - loaded}}))
"""
SIDES = {"critic": ("import critic, critic.predict", "critic.load"),
         "fasttext": ("import fasttext", "fasttext.load_model")}


def train_bundles(work: Path) -> dict[str, Path]:
    from critic import options_for, train_bundle

    return {name: train_bundle(options_for(name), work / name).path for name in ("dense", "nblr")}


def commands(models: dict[str, Path]) -> dict[str, list[str]]:
    critic = [sys.executable, "-m", "critic", "predict"]
    return {"critic predict, dense": [*critic, str(models["dense"]), REVIEW],
            "critic predict, nblr": [*critic, str(models["nblr"]), REVIEW],
            "fastText load + predict": [sys.executable, "-c", FASTTEXT_PREDICT,
                                        str(models["fasttext"])]}


def phase_commands(models: dict[str, Path]) -> dict[str, list[str]]:
    def code(side: str) -> str:
        imports, load = SIDES[side]
        return PHASES.format(imports=imports, load=load, review=REVIEW)

    return {"critic, dense": [sys.executable, "-c", code("critic"), str(models["dense"])],
            "critic, nblr": [sys.executable, "-c", code("critic"), str(models["nblr"])],
            "fastText": [sys.executable, "-c", code("fasttext"), str(models["fasttext"])]}


def size_mb(path: Path) -> float:
    from critic.bundle import bundle_bytes

    return (bundle_bytes(path) if path.is_dir() else path.stat().st_size) / 1e6


def main() -> None:
    from critic.datasets.corpus import load_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense", type=Path, help="a dense bundle (default: train one)")
    parser.add_argument("--nblr", type=Path, help="an nblr bundle (default: train one)")
    parser.add_argument("--fasttext", type=Path, help="a fastText .bin (default: train one)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 repeats, fastText 1 epoch")
    args = parser.parse_args()
    repeats = 5 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as name:
        work = Path(name)
        models = (train_bundles(work) if not (args.dense and args.nblr)
                  else {"dense": args.dense, "nblr": args.nblr})
        models["fasttext"] = args.fasttext or train_fasttext(
            work, load_corpus(None).subset("train"), 1 if args.quick else 5)
        plans = commands(models) | phase_commands(models)
        for command in plans.values():
            warm_up(command)
        runs: dict[str, list] = {label: [] for label in plans}
        for _ in range(repeats):  # interleaved, so drift on a shared machine hits every side
            for label, command in plans.items():
                runs[label].append(measure(command))
        sizes = {label: size_mb(models[key]) for label, key in
                 (("critic predict, dense", "dense"), ("critic predict, nblr", "nblr"),
                  ("fastText load + predict", "fasttext"))}
    report(runs, sizes, repeats)


def report(runs: dict[str, list], sizes: dict[str, float], repeats: int) -> None:
    wall = {label: statistics.median(m.seconds for m in ms) for label, ms in runs.items()}
    peer = wall["fastText load + predict"]
    print(f"{time.strftime('%Y-%m-%d')}: median of {repeats} interleaved runs after one untimed; "
          f"Python {sys.version.split()[0]}\n")
    print("| command (one review) | model MB | wall | peak RSS | × fastText's time |")
    print("|---|---:|---:|---:|---:|")
    for label, size in sizes.items():
        peak = statistics.median(m.peak_mb for m in runs[label])
        print(f"| {label} | {size:,.1f} | {wall[label] * 1000:.0f} ms | {peak:,.0f} MB | "
              f"{wall[label] / peer:.2f} |")
    print("\n| in one process | import | model read | first prediction |")
    print("|---|---:|---:|---:|")
    for label in ("critic, dense", "critic, nblr", "fastText"):
        phases = [json.loads(m.stdout) for m in runs[label]]
        cells = [f"{statistics.median(p[k] for p in phases) * 1000:.0f} ms"
                 for k in ("import", "read", "predict")]
        print(f"| {label} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
