"""What ``--cluster`` costs on one machine: predict and sweep, local beside Ray, one run.

Run: ``python benchmarks/bench_cluster.py [--reviews 400000] [--quick]`` (data: ``$CRITIC_DATA``;
needs the ``ray`` extra). Side by side, each command in its own process (wall time; peak RSS
of the critic process only — Ray's workers are other processes):

- ``critic predict BUNDLE --input corpus.parquet --output …`` with the book's ``dense``
  bundle and with ``nblr``: one process; ``--cluster local`` (a cluster started for the
  command); ``--cluster HOST:PORT`` (a cluster started once by ``ray start --head``, as a
  real cluster would be);
- ``critic sweep --grid units=8,16 --seeds 2 --epochs 4``: local worker processes, and Ray
  tasks on the running cluster;
- ``critic train --input corpus.parquet`` of ``nblr`` and of the networks (``dense``,
  ``tfidf-dense``, 4 epochs): streamed in one process (``--memory-budget 200M``), and on the
  running cluster (``nblr``: shards, averaged weights; the networks: Ray Train, DDP).

``--quick``: 25,000 reviews and no ``tfidf-dense`` training (about three minutes).

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _measure import measure

HERE = Path(__file__).parent
CRITIC = [sys.executable, "-m", "critic"]
RAY = str(Path(sys.executable).with_name("ray"))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reviews", type=int, default=400_000)
    parser.add_argument("--quick", action="store_true", help="25,000 reviews, no tfidf-dense")
    args = parser.parse_args()
    args.reviews = 25_000 if args.quick else args.reviews
    work = Path(tempfile.mkdtemp(prefix="critic-cluster-"))
    # The benchmark's own cluster token, for the head and every command.
    os.environ |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    address = f"127.0.0.1:{_port()}"
    rows = []
    try:
        corpus = work / "corpus.parquet"
        subprocess.run([sys.executable, str(HERE / "make_corpus.py"), str(args.reviews),
                        str(corpus)], check=True)
        for model in ("dense", "nblr"):
            subprocess.run([*CRITIC, "train", "--model", model, "--output",
                            str(work / model)], check=True, capture_output=True)
        subprocess.run([RAY, "start", "--head", "--port", address.rpartition(":")[2],
                        "--num-cpus", str(os.cpu_count()), "--include-dashboard", "false",
                        "--disable-usage-stats"], check=True, capture_output=True)
        for model in ("dense", "nblr"):
            predict = [*CRITIC, "predict", str(work / model), "--input", str(corpus)]
            for where, extra in (("one process", ["--output", str(work / "out.parquet")]),
                                 ("--cluster local", ["--output", str(work / "out"),
                                                      "--cluster", "local"]),
                                 ("--cluster HOST:PORT", ["--output", str(work / "out"),
                                                          "--cluster", address])):
                run = measure([*predict, *extra])
                rows.append((f"predict {model}", where, run.seconds, run.peak_mb,
                             f"{args.reviews / run.seconds:,.0f} reviews/s"))
                shutil.rmtree(work / "out", ignore_errors=True)
        sweep = [*CRITIC, "sweep", "--grid", "units=8,16", "--seeds", "2", "--epochs", "4",
                 "--sweeps", str(work / "sweeps")]
        for where, extra in (("2 local processes", ["--name", "local"]),
                             ("--cluster HOST:PORT", ["--name", "ray", "--cluster", address])):
            run = measure([*sweep, *extra])
            rows.append(("sweep, 4 runs + 2 finals", where, run.seconds, run.peak_mb,
                         f"{6 / run.seconds * 60:.1f} runs/min"))
        trainings = [("nblr", []), ("dense", ["--epochs", "4"])]
        trainings += [] if args.quick else [("tfidf-dense", ["--epochs", "4"])]
        for model, options in trainings:
            train = [*CRITIC, "train", "--model", model, *options, "--input", str(corpus),
                     "--overwrite", "--validation-size", "0.05", "--output",
                     str(work / "trained")]
            for where, extra in (("one process, streamed", ["--memory-budget", "200M"]),
                                 ("--cluster HOST:PORT", ["--cluster", address])):
                run = measure([*train, *extra])
                rows.append((f"train {model} {' '.join(options)}".strip(), where, run.seconds,
                             run.peak_mb, f"{args.reviews / run.seconds:,.0f} reviews/s"))
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"| work ({args.reviews:,} reviews) | where | wall time | peak RSS (critic) | rate |")
    print("|---|---|---:|---:|---:|")
    for work_name, where, seconds, peak, rate in rows:
        print(f"| {work_name} | {where} | {seconds:.1f} s | {peak:,.0f} MB | {rate} |")


if __name__ == "__main__":
    main()
