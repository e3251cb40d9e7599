"""A closed-loop HTTP load generator that records every request's status and latency.

wrk reports one latency distribution for all answers; overload needs two (the answered
requests, and the refused ones, which must come back fast), so bench_serve.py runs this
beside it. Each of ``connections`` keep-alive connections sends the same request again as
soon as its answer is in, like wrk. All connections are opened before the clock starts.

Run: ``python benchmarks/_load.py URL BODY_FILE --connections 200 --seconds 20`` prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit


async def _connection(host: str, port: int, request: bytes, start: asyncio.Event,
                      deadline: list[float], results: list[tuple[float, int, float]]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    await start.wait()
    try:
        while time.perf_counter() < deadline[0]:
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            results.append((sent, int(head[9:12]), time.perf_counter() - sent))
    except (ConnectionError, asyncio.IncompleteReadError):
        results.append((time.perf_counter(), 0, float("nan")))  # a reset: status 0
    finally:
        writer.close()


async def _run(url: str, body: bytes, connections: int, seconds: float
               ) -> list[tuple[float, int, float]]:
    parts = urlsplit(url)
    request = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    start, deadline = asyncio.Event(), [0.0]
    results: list[tuple[float, int, float]] = []
    tasks = [asyncio.create_task(_connection(parts.hostname or "127.0.0.1", parts.port or 80,
                                             request, start, deadline, results))
             for _ in range(connections)]
    await asyncio.sleep(1.0)  # every connection open before the clock starts
    deadline[0] = time.perf_counter() + seconds
    start.set()
    await asyncio.gather(*tasks)
    return results


def summarise(results: list[tuple[float, int, float]], seconds: float) -> dict[str, object]:
    """Requests per second, and latency percentiles (ms) per status."""
    by_status: dict[int, list[float]] = {}
    for _, status, latency in results:
        by_status.setdefault(status, []).append(latency * 1000)
    summary: dict[str, object] = {"requests_per_s": len(results) / seconds}
    for status, latencies in sorted(by_status.items()):
        latencies.sort()
        summary[str(status)] = {
            "count": len(latencies), "per_s": len(latencies) / seconds,
            **{f"p{q}_ms": latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))]
               for q in (50, 99)}, "max_ms": latencies[-1]}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("body", type=Path)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()  # the generator must not be the bottleneck
    except ImportError:
        pass
    results = asyncio.run(_run(args.url, args.body.read_bytes(), args.connections,
                               args.seconds))
    print(json.dumps(summarise(results, args.seconds)))


if __name__ == "__main__":
    main()
