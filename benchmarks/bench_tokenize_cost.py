"""Tokenising time against text length on adversarial families (issue 31, finding 1).

Linear means the time doubles when the length doubles; the families once made it quadruple.
Run: PYTHONPATH=src python benchmarks/bench_tokenize_cost.py [--quick]
(``--quick``: lengths up to 50,000 characters.)
"""

from __future__ import annotations

import argparse
import time

from critic.text import tokenize

FAMILIES = {
    "combining marks": lambda n: "a" + "\u0301" * (n // 2) + "\u0316" * (n // 2),
    "tibetan vowels + marks": lambda n: "a" + "\u0f73" * (n // 2) + "\u0301" * (n // 2),
    "unclosed comments": lambda n: "<!--" * (n // 4),
    "comments and tags": lambda n: "<!--<br>" * (n // 8),
    "quotes in tags": lambda n: "<a '\"" * (n // 5),
    "one punctuation": lambda n: "!" * n,
    "apostrophes": lambda n: "a' " * (n // 3),
    "plain words": lambda n: "a fine film " * (n // 12),
}


def best_of(text: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        tokenize([text])
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lengths up to 50,000")
    quick = parser.parse_args().quick
    tokenize(["warm up <!-- é"])
    sizes = (12_500, 25_000, 50_000) if quick else (25_000, 50_000, 100_000)
    print(f"{'family':24s}" + "".join(f"{n:>10,}" for n in sizes) + "   last/first")
    for name, make in FAMILIES.items():
        times = [best_of(make(n)) for n in sizes]
        print(f"{name:24s}" + "".join(f"{t * 1000:>8.1f}ms" for t in times)
              + f"   {times[-1] / times[0]:6.1f}x")


if __name__ == "__main__":
    main()
