"""Build an N-review labelled corpus from the IMDB training reviews, reproducibly.

Run: ``python benchmarks/make_corpus.py N OUTPUT.parquet [--data PATH] [--seed 0]``
(``.csv`` or ``.jsonl`` work too). Review ``j`` is IMDB training review ``perm_k[j mod 25,000]``
for pass ``k = j // 25,000`` (a new permutation each pass, so labels are mixed all along the
file); from the second pass on, its sentences are shuffled, so copies differ as different
reviews of the same length and vocabulary would. Written 25,000 rows at a time: memory does
not grow with N. The same N and seed give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

PASS = 25_000
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def shuffled_sentences(text: str, rng: np.random.Generator) -> str:
    sentences = _SENTENCE_END.split(text)
    if len(sentences) > 1:
        sentences = [sentences[i] for i in rng.permutation(len(sentences))]
    return " ".join(sentences)


def passes(texts: list[str], labels: np.ndarray, total: int, seed: int):
    """Record batches of up to 25,000 reviews, ``total`` in all."""
    for k in range(-(-total // PASS)):
        rng = np.random.default_rng([seed, k])
        order = rng.permutation(len(texts))[: min(PASS, total - k * PASS)]
        chosen = [texts[i] if k == 0 else shuffled_sentences(texts[i], rng) for i in order]
        ids = np.arange(k * PASS, k * PASS + len(order))
        yield pa.record_batch({"id": pa.array(ids), "text": pa.array(chosen, pa.large_string()),
                               "label": pa.array(labels[order].astype(np.int8))})


def write(batches, output: Path) -> None:
    """Write ``batches`` to ``output`` (Parquet, CSV or JSON lines) under a temporary name."""
    part = output.with_name(f".{output.name}.part")
    suffix = output.suffix.lower()
    schema = pa.schema([("id", pa.int64()), ("text", pa.large_string()), ("label", pa.int8())])
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(part, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    elif suffix == ".csv":
        import pyarrow.csv as csv

        with csv.CSVWriter(part, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
    elif suffix in (".jsonl", ".json"):
        import json

        with open(part, "w", encoding="utf-8") as out:
            for batch in batches:
                for row in batch.to_pylist():
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        raise SystemExit(f"{output}: use .parquet, .csv or .jsonl")
    os.replace(part, output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reviews", type=int)
    parser.add_argument("output", type=Path)
    parser.add_argument("--data", default=os.environ.get("CRITIC_DATA"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from critic.datasets.corpus import load_corpus

    train = load_corpus(args.data).subset("train")
    texts = train.texts.arrow.to_pylist()
    write(passes(texts, train.labels.astype(np.int8), args.reviews, args.seed), args.output)
    print(f"wrote {args.reviews:,} reviews to {args.output} "
          f"({args.output.stat().st_size / 2**20:,.0f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
