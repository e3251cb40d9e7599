"""A stream of labelled reviews dealt to the workers of a cluster, each worker reading its own
parts; a review's position (for the held-out hash) is where it is in the input, not which
worker read it (:func:`critic.fitting.splits.shard_position`)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from critic.fitting.splits import shard_position


def shard_batches(parts: list[Any], files: dict[str, int], text_column: str,
                  label_column: str, digests: list[str] | None) -> Iterator[Any]:
    """A shard's reviews, part after part; each review's position is its
    :func:`shard_position`, so the held-out choice depends on where a review is, not on how
    the stream was sharded. Each part's content checksum is appended to ``digests`` when
    given."""
    import dataclasses

    from critic.datasets.stream import ContentChecksum, ReviewStream

    for part in parts:
        stream = ReviewStream(part.path, text_column=text_column, label_column=label_column,
                              require_labels=True)
        checksum = ContentChecksum()
        batches = stream.read_part(part)
        for batch in batches if digests is None else checksum.watch(batches):
            yield dataclasses.replace(batch, position=shard_position(files[part.path],
                                                                     batch.position))
        if digests is not None:
            digests.append(checksum.hexdigest())


def shards(ray: Any, stream: Any) -> tuple[list[Any], int, dict[str, int]]:
    """The stream's parts, cut so that every CPU of the cluster gets a share; how many
    shards to deal them to (part ``i`` goes to shard ``i % shards``); each file's number."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    total = stream.count()  # Parquet's; None for other kinds, cut by file then
    parts = stream.parts() if total is None else stream.parts(min(65_536, -(-total // cpus)))
    return parts, min(len(parts), cpus), {path: n for n, path in enumerate(stream.files)}


def checksum_of_parts(shares: list[list[str]], parts: int) -> str:
    """The SHA-256 of every part's checksum in input order, from each shard's own list
    (part ``i`` was shard ``i % shards``'s ``(i // shards)``-th)."""
    import hashlib

    digests = [shares[i % len(shares)][i // len(shares)] for i in range(parts)]
    return hashlib.sha256("".join(digests).encode()).hexdigest()


@contextlib.contextmanager
def job_folder() -> Iterator[str]:
    """A folder for one cluster job's spills, removed at the end whatever happened: a worker
    killed mid-job (``kill -9``) never cleans its own spill, so the driver does. The workers
    spill into it when they see it (one machine, or a temporary folder the nodes share);
    elsewhere each removes its own as it ends."""
    folder = tempfile.mkdtemp(prefix="critic-job-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def spill_root(folder: str) -> str | None:
    """Where a worker spills: the driver's job folder when this node sees it, else its own
    temporary folder."""
    import os

    return folder if os.path.isdir(folder) else None
