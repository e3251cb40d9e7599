"""Load on `critic serve` over loopback: throughput, and behaviour under overload.

Run: ``python benchmarks/bench_serve.py [--data PATH] [--workers 2] [--seconds 20] [--quick]``
(``--quick``: 5 seconds of load a side) with
Debian's ``wrk`` installed. Trains a bundle (the book's network, 4 epochs), then:

1. throughput: the server with ``--workers`` on a free loopback port, wrk with 32 connections,
   single reviews and 64-review batches;
2. overload: one worker, 200 connections each sending one review again as soon as it is
   answered (``_load.py``, which records every request's status and latency, as wrk cannot
   split them), with the default load shedding and, in the same run, with shedding off.

Bodies are real IMDB test reviews. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LUA = """
local f = io.open("{body}", "rb")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = f:read("*a")
f:close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str) -> None:
    import httpx

    for _ in range(150):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("critic serve did not start")


def run_wrk(url: str, body: Path, seconds: int, connections: int) -> dict[str, float]:
    script = body.with_suffix(".lua")
    script.write_text(LUA.format(body=body))
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "--timeout", "5s", "-s", str(script), f"{url}/v1/predict"],
                         capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + (
            sum(int(g) for g in socket_errors.groups()) if socket_errors else 0),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.environ.get("CRITIC_DATA"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="5 seconds of load a side")
    args = parser.parse_args()
    args.seconds = 5 if args.quick else args.seconds
    if not shutil.which("wrk"):
        raise SystemExit("install wrk (apt-get install wrk)")
    from critic import options_for, train_bundle
    from critic.datasets.corpus import load_corpus

    work = Path(tempfile.mkdtemp(prefix="critic-bench-"))
    bundle = train_bundle(options_for("dense", epochs=4), work / "bundle", data=args.data).path
    test = load_corpus(args.data).subset("test").texts
    (work / "one.json").write_text(json.dumps({"inputs": [test[0]]}))
    (work / "batch.json").write_text(json.dumps({"inputs": [test[i] for i in range(64)]}))
    with serving(bundle, "--workers", str(args.workers)) as url:
        single = run_wrk(url, work / "one.json", args.seconds, args.connections)
        batch = run_wrk(url, work / "batch.json", args.seconds, args.connections)
    shedding: dict[str, dict[str, Any]] = {}
    for name, options in (("default (--max-delay-ms 20)", ()),
                          ("off (--max-delay-ms 60000)", ("--max-delay-ms", "60000"))):
        with serving(bundle, "--workers", "1", *options) as url:
            shedding[name] = overload(url, work / "one.json", args.seconds, 200)
    print(f"wrk -t2 -c{args.connections} -d{args.seconds}s against critic serve --workers "
          f"{args.workers} (book's network), loopback, IMDB test reviews\n")
    print("| requests | requests/s | reviews/s | p50 (ms) | p99 (ms) | errors | requests made |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r, per in (("1 review", single, 1), ("64 reviews", batch, 64)):
        print(f"| {name} | {r['requests_per_s']:,.0f} | {r['requests_per_s'] * per:,.0f} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {r['requests']:,} |")
    print(f"\nOverload: 200 connections, one worker, one review per request, {args.seconds} s\n")
    print("| shedding | answered/s | answered p50 / p99 (ms) | 503/s | 503 p50 / p99 (ms) | "
          "resets |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in shedding.items():
        ok, shed = r.get("200", {}), r.get("503", {})
        print(f"| {name} | {ok.get('per_s', 0):,.0f} | {_pair(ok)} | {shed.get('per_s', 0):,.0f} "
              f"| {_pair(shed)} | {r.get('0', {}).get('count', 0)} |")


@contextmanager
def serving(bundle: Path, *options: str) -> Iterator[str]:
    """``critic serve`` on a free loopback port, ready, until the block ends."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "critic", "serve", str(bundle), "--port",
                               str(port), *options],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url)
        time.sleep(1.0)  # let every worker finish starting
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)


def overload(url: str, body: Path, seconds: int, connections: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("_load.py")),
                          f"{url}/v1/predict", str(body), "--connections", str(connections),
                          "--seconds", str(seconds)], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def _pair(stats: dict[str, float]) -> str:
    return f"{stats['p50_ms']:.1f} / {stats['p99_ms']:.1f}" if stats else "–"


if __name__ == "__main__":
    main()
