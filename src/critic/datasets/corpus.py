"""The Corpus: every review with its label, star rating, id and split, parsed once and cached.

The cache is an uncompressed Arrow IPC (Feather) file named by the source's checksum and
written atomically, so a changed or different source never reuses another's cache and an
interrupted write is never trusted. It is memory-mapped when read: loading takes a few
milliseconds and only the reviews actually used (not the 50,000 unlabelled ones) become
resident memory.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather

from critic._atomic import atomic_path
from critic.datasets.archive import IMDB_COUNTS, ReviewColumns, fingerprint, read_reviews
from critic.datasets.fetch import critic_home, resolve_source
from critic.errors import DataError
from critic.text import TextColumn

log = logging.getLogger(__name__)

SPLITS = ("train", "test", "unsup")


_CACHE_FORMAT = b"critic.corpus.v3"  # v3: the movies


@dataclass(frozen=True, eq=False)
class Corpus:
    """Reviews and their metadata, in a fixed order: split (train, test, unsup), label, id.

    Attributes:
        texts: the raw review texts, ``<br />`` breaks included, as in the archive.
        labels: int8, 1 positive, 0 negative, -1 unlabelled.
        ratings: int8 star rating 1-10 (0 for unlabelled).
        ids: int32 review id (the number in the file name).
        movies: int32 IMDB title number of the review's movie (``tt0453418``: 453418), -1
            where the source does not say (no ``urls_*.txt``).
        splits: ``"train"``, ``"test"`` or ``"unsup"`` per review.
        source: where the reviews were read from; checksum: its SHA-256 (or folder fingerprint).
    """

    texts: TextColumn
    labels: np.ndarray
    ratings: np.ndarray
    ids: np.ndarray
    movies: np.ndarray
    splits: np.ndarray
    source: str
    checksum: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, split: str) -> Corpus:
        """The reviews of one split, in corpus order."""
        if split not in SPLITS:
            raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
        (rows,) = np.nonzero(self.splits == split)
        return Corpus(self.texts.take(rows), self.labels[rows], self.ratings[rows],
                      self.ids[rows], self.movies[rows], self.splits[rows], self.source,
                      self.checksum)

    def counts(self) -> dict[str, dict[str, int]]:
        """Reviews per split and label, e.g. ``{"train": {"pos": 12500, "neg": 12500}, …}``."""
        names = {1: "pos", 0: "neg", -1: "unlabelled"}
        table: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            mask = self.splits == split
            values, counts = np.unique(self.labels[mask], return_counts=True)
            table[split] = {names[int(v)]: int(c) for v, c in zip(values, counts, strict=True)}
        return table

    @classmethod
    def from_columns(cls, columns: ReviewColumns, *, source: str, checksum: str) -> Corpus:
        """Put parsed reviews in corpus order: split (train, test, unsup), label, id."""
        splits = np.array(columns.splits, dtype="<U5")
        split_rank = np.array([SPLITS.index(s) for s in columns.splits], dtype=np.int8)
        order = np.lexsort((columns.ids, columns.labels, split_rank))
        return cls(TextColumn(columns.texts).take(order), columns.labels[order],
                   columns.ratings[order], columns.ids[order], columns.movies[order],
                   splits[order], source, checksum)

    def to_table(self) -> pa.Table:
        table = pa.table({
            "text": self.texts.arrow,
            "label": self.labels, "rating": self.ratings, "id": self.ids,
            "movie": self.movies,
            "split": pa.DictionaryArray.from_arrays(
                pa.array([SPLITS.index(s) for s in self.splits], pa.int8()), pa.array(SPLITS)),
        })
        return table.replace_schema_metadata({
            b"format": _CACHE_FORMAT, b"source": self.source.encode(),
            b"checksum": self.checksum.encode(),
        })

    @classmethod
    def from_table(cls, table: pa.Table) -> Corpus:
        meta = table.schema.metadata or {}
        if meta.get(b"format") != _CACHE_FORMAT:
            raise ValueError("not a critic corpus cache")
        return cls(
            texts=TextColumn(table.column("text")),
            labels=table.column("label").to_numpy(),
            ratings=table.column("rating").to_numpy(),
            ids=table.column("id").to_numpy(),
            movies=table.column("movie").to_numpy(),
            splits=_decode_splits(table.column("split")),
            source=meta[b"source"].decode(), checksum=meta[b"checksum"].decode(),
        )


def _decode_splits(column: pa.ChunkedArray) -> np.ndarray:
    """Dictionary-encoded splits → array of split names, without a Python object per row."""
    chunk = column.combine_chunks()
    names = np.asarray(chunk.dictionary.to_pylist(), dtype="<U5")
    return names[chunk.indices.to_numpy()]


def load_corpus(
    source: str | os.PathLike[str] | None = None,
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    download: bool = True,
    expected: dict[str, int] | None = None,
) -> Corpus:
    """Load the IMDB corpus, from the cache when the same source was parsed before.

    Args:
        source: archive or folder; ``None`` resolves ``CRITIC_DATA``, the cache, then downloads.
        cache_dir: where the cache lives; defaults to ``$CRITIC_HOME/corpus``.
        use_cache: read and write the cache (``False`` always parses the source).
        expected: reviews per folder, for layouts other than the official counts.

    Example:
        >>> corpus = load_corpus("aclImdb_v1.tar.gz")  # doctest: +SKIP
        >>> corpus.counts()["train"]  # doctest: +SKIP
        {'neg': 12500, 'pos': 12500}
    """
    path = resolve_source(source, download=download)
    checksum = fingerprint(path)
    cache = cache_path(checksum, cache_dir)
    if use_cache and cache.exists():
        cached = _read_cache(cache, checksum)
        if cached is not None:  # the same bytes may now be reached by another path
            return dataclasses.replace(cached, source=str(path))
    corpus = Corpus.from_columns(read_reviews(path, expected=expected or IMDB_COUNTS),
                                 source=str(path), checksum=checksum)
    if use_cache:
        _write_cache(corpus, cache)
    return corpus


def cache_path(checksum: str, cache_dir: Path | None = None) -> Path:
    """Where the corpus parsed from a source with this checksum is cached."""
    return (cache_dir or critic_home() / "corpus") / f"imdb-{checksum[:16]}.v3.arrow"


def _read_cache(cache: Path, checksum: str) -> Corpus | None:
    try:
        corpus = Corpus.from_table(feather.read_table(cache, memory_map=True))
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        log.warning("ignoring unreadable corpus cache %s (%s); parsing the source again",
                    cache, exc)
        return None
    return corpus if corpus.checksum == checksum else None


def _write_cache(corpus: Corpus, cache: Path) -> None:
    try:
        with atomic_path(cache) as tmp:
            feather.write_feather(corpus.to_table(), tmp, compression="uncompressed",
                                  chunksize=max(len(corpus), 1))  # one chunk: no copy on read
    except OSError as exc:
        raise DataError(f"cannot write the corpus cache {cache}: {exc.strerror or exc}; set "
                        "CRITIC_HOME to a writable folder") from exc
