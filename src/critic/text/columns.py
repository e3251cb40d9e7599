"""Review texts as Arrow string columns, and ragged integer arrays (token ids per review)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from critic.errors import ConfigError, DataError


class TextColumn(Sequence[str]):
    """Review texts held in one Arrow string array: a read-only sequence of ``str``.

    100,000 reviews take ~130 MB here against ~300 MB as Python strings, and the tokenizer
    reads the Arrow buffer directly. Indexing gives a ``str``; slicing and :meth:`take` give
    another column.
    """

    def __init__(self, array: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        self.arrow = array if array.type == pa.large_string() else array.cast(pa.large_string())

    def __len__(self) -> int:
        return len(self.arrow)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        return self.arrow[index].as_py()

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self.arrow), 4096):
            yield from self.arrow.slice(start, 4096).to_pylist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextColumn):
            return self.arrow.equals(other.arrow)
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable-style equality, as list

    def __repr__(self) -> str:
        return f"TextColumn({len(self)} texts)"

    def take(self, indices: np.ndarray) -> TextColumn:
        """The texts at ``indices``; a contiguous ascending range is a zero-copy slice."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) and indices[-1] - indices[0] == len(indices) - 1 and (
                len(indices) == 1 or (np.diff(indices) == 1).all()):
            return TextColumn(self.arrow.slice(int(indices[0]), len(indices)))
        return TextColumn(self.arrow.take(pa.array(indices)))


def ensure_texts(texts: Any, name: str = "texts") -> Sequence[str]:
    """Return ``texts`` as a sequence of strings; refuse a bare string (it is not a list)."""
    if isinstance(texts, TextColumn):
        return texts  # already strings, held by Arrow
    if isinstance(texts, bytes):
        raise TypeError(f"`{name}` must be text, not bytes: decode it first "
                        f"({texts[:30]!r}.decode('utf-8')), and pass a list of reviews")
    if isinstance(texts, str):
        raise TypeError(f"`{name}` must be a list of strings, not a single string; wrap one "
                        f"review in a list: [{texts[:30]!r}...]")
    texts = _one_column(texts, name)
    if isinstance(texts, (Mapping, AbstractSet)):
        raise TypeError(f"`{name}` must be a list of strings, not a {type(texts).__name__}: "
                        "pass the reviews themselves, in order")
    if not isinstance(texts, Iterable):
        raise TypeError(f"`{name}` must be a list of strings. Received: {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            hint = ": decode it first (.decode('utf-8'))" if isinstance(text, bytes) else ""
            raise TypeError(f"`{name}[{i}]` must be a string. Received: "
                            f"{type(text).__name__}{hint}")
    return texts


def _one_column(texts: Any, name: str) -> Any:
    """A table's only column (pandas, polars); iterating a table gives its column names,
    which would be scored as reviews."""
    columns = getattr(texts, "columns", None)
    if columns is None or isinstance(texts, (list, tuple)):
        return texts
    columns = list(columns)
    if len(columns) != 1:
        shown = ", ".join(map(repr, columns[:5])) + (", …" if len(columns) > 5 else "")
        raise TypeError(f"`{name}` is a table of {len(columns)} columns ({shown}); pass the "
                        f"column of reviews, e.g. df[{columns[0]!r}]" if columns else
                        f"`{name}` is a table without columns; pass a list of reviews")
    return texts[columns[0]]


@dataclass(frozen=True)
class Ragged:
    """Integer sequences of varying length, stored flat.

    Row ``i`` is ``values[offsets[i]:offsets[i + 1]]``.
    """

    values: np.ndarray  # int32
    offsets: np.ndarray  # int64, length n + 1, starting at 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def rows(self) -> np.ndarray:
        """Row number of each value."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def slice(self, start: int, stop: int | None = None) -> Ragged:
        """Rows ``start:stop`` (a view of the values)."""
        stop = len(self) if stop is None else stop
        lo, hi = self.offsets[start], self.offsets[stop]
        return Ragged(self.values[lo:hi], self.offsets[start:stop + 1] - lo)

    def take(self, indices: np.ndarray) -> Ragged:
        """The rows at ``indices``, in that order."""
        offsets, at = self.gather(indices)
        return Ragged(self.values[at], offsets)

    def gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`take` does, as the new offsets and the positions of the taken values:
        for a parallel array of values (``values[at]``) taken the same way."""
        lengths = self.lengths[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = np.repeat(self.offsets[:-1][indices] - offsets[:-1], lengths)
        return offsets, np.arange(offsets[-1]) + starts

    @staticmethod
    def concatenate(parts: Sequence[Ragged]) -> Ragged:
        """The rows of ``parts``, one after another."""
        offsets, total = [np.zeros(1, dtype=np.int64)], 0
        for part in parts:
            offsets.append(part.offsets[1:] + total)
            total += int(part.offsets[-1])
        return Ragged(np.concatenate([part.values for part in parts]), np.concatenate(offsets))

    def count_matrix(self, dimension: int, *, binary: bool = False) -> sp.csr_matrix:
        """CSR ``(n, dimension)`` float32: how often each index occurs in each row (1 for any
        occurrence with ``binary``), indices sorted within rows."""
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ConfigError(f"`dimension` must be a positive integer. Received: {dimension=}")
        if self.values.size and int(self.values.max()) >= dimension:
            raise ConfigError(f"a word index ({int(self.values.max())}) is not below "
                              f"dimension={dimension}; load the data with num_words={dimension}")
        matrix = sp.csr_matrix(
            (np.ones(len(self.values), dtype=np.float32), self.values, self.offsets),
            shape=(len(self), dimension))
        # Two linear transposes leave each row's indices sorted (faster than sorting every
        # row), then repeats are merged into counts.
        matrix = matrix.tocsc().tocsr()
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix

    def to_lists(self) -> list[list[int]]:
        flat = self.values.tolist()
        bounds = self.offsets.tolist()
        return [flat[lo:hi] for lo, hi in itertools.pairwise(bounds)]

    @classmethod
    def from_lists(cls, sequences: Iterable[Sequence[int]]) -> Ragged:
        rows = [np.asarray(s, dtype=np.int64).ravel() for s in sequences]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        values = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > np.iinfo(np.int32).max):
            raise ValueError("sequences must hold non-negative word indices below 2**31")
        return cls(values.astype(np.int32), offsets)


def arrow_strings(texts: Sequence[str]) -> pa.Array:
    """``texts`` as an Arrow ``large_string`` array; a lone surrogate is a DataError."""
    try:
        return pa.array(texts, pa.large_string())
    except UnicodeEncodeError:
        # A lone surrogate: from JSON's "\\ud800", or from a command-line byte that is not
        # UTF-8 (Python keeps it as U+DCxx). It is not text, and no review can be scored with it.
        for i, text in enumerate(texts):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise DataError(f"review {i} is not valid Unicode text: character {exc.start} "
                                f"is a lone surrogate (U+{ord(text[exc.start]):04X}), as left "
                                "by bytes that are not UTF-8; re-encode the review as UTF-8"
                                ) from None
        raise
