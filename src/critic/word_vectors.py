"""Word vectors learned from unlabelled reviews: what ``critic pretrain`` writes and a model
that uses word knowledge reads.

A folder of vectors holds ``vectors.safetensors`` (one float32 tensor ``vectors``, a row per
word) and ``words.json`` (the words in row order, how often each was seen, the format's
version), beside the ``run.json`` that says how they were learned. Reading them needs NumPy
and safetensors only: the library that learned them (gensim) is never needed to predict.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from critic.errors import DataError

#: The version of the folder's layout; a reader refuses another.
VECTORS_FORMAT = 1
VECTORS_FILE = "vectors.safetensors"
WORDS_FILE = "words.json"


@dataclass(frozen=True)
class WordVectors:
    """``vectors[i]`` is the vector of ``words[i]``, seen ``counts[i]`` times."""

    words: tuple[str, ...]
    vectors: np.ndarray  # float32, (len(words), dimension)
    counts: np.ndarray  # int64, (len(words),)

    def __post_init__(self) -> None:
        rows = len(self.words)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != rows or len(self.counts) != rows:
            raise DataError(f"{rows:,} words but vectors of shape {self.vectors.shape} and "
                            f"{len(self.counts):,} counts")
        if len(set(self.words)) != rows:
            raise DataError("the words of the vectors are not distinct")

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def index(self) -> dict[str, int]:
        """Each word's row."""
        return {word: row for row, word in enumerate(self.words)}

    def files(self) -> dict[str, bytes]:
        """The folder's files (``run.json`` aside), ready to write atomically."""
        from safetensors.numpy import save

        words = {"format": VECTORS_FORMAT, "dimension": self.dimension,
                 "words": list(self.words), "counts": self.counts.tolist()}
        return {VECTORS_FILE: save({"vectors": np.ascontiguousarray(self.vectors,
                                                                    dtype=np.float32)}),
                WORDS_FILE: json.dumps(words, ensure_ascii=False).encode()}


def read_vectors(folder: str | os.PathLike[str]) -> WordVectors:
    """The vectors in ``folder`` (written by ``critic pretrain``); a folder that is not one,
    or whose files disagree, is refused naming what is wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(folder)
    if not (path / VECTORS_FILE).is_file() or not (path / WORDS_FILE).is_file():
        raise DataError(f"{path} holds no word vectors ({VECTORS_FILE} and {WORDS_FILE}); "
                        "write them with critic pretrain")
    meta = _words_meta(path / WORDS_FILE)
    try:
        vectors = load_file(path / VECTORS_FILE).get("vectors")
    except (SafetensorError, OSError) as exc:
        raise DataError(f"{path / VECTORS_FILE} cannot be read ({exc})") from exc
    if vectors is None or vectors.dtype != np.float32:
        raise DataError(f"{path / VECTORS_FILE} holds no float32 tensor 'vectors'")
    try:
        return WordVectors(tuple(meta["words"]), vectors, np.asarray(meta["counts"], np.int64))
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc


def _words_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} cannot be read as JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != VECTORS_FORMAT:
        raise DataError(f"{path} is not word vectors of format {VECTORS_FORMAT} (this critic "
                        "reads that one)")
    words, counts = meta.get("words"), meta.get("counts")
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words) or \
            not isinstance(counts, list) or not all(isinstance(c, int) for c in counts):
        raise DataError(f"{path}: 'words' must be a list of strings and 'counts' of integers")
    return meta
