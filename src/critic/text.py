"""Normalisation, tokenisation and the frequency-ranked Vocabulary (Keras ``imdb`` conventions).

Normalisation, in order (one implementation, used at training and at prediction time):

1. lower-case (Unicode-aware);
2. HTML line breaks (``<br />``, ``<br>``, ``<br/>``) become spaces;
3. every run of characters that are not letters, digits or apostrophes becomes a space
   (so punctuation, hyphens and other HTML splits words: ``well-made`` → ``well made``);
4. apostrophes at the edge of a word are dropped (``'quoted'`` → ``quoted``), inside a word kept
   (``don't``, ``it's``).

Tokens are then the space-separated pieces. The work runs in Arrow's C++ string kernels (RE2),
split across threads for large inputs.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from critic._atomic import write_json
from critic.errors import ConfigError

# A break is matched whole before the punctuation class can swallow its "<" (RE2 takes the
# leftmost match, so the space before a break must belong to the break's alternative).
_BREAKS_AND_PUNCTUATION = r"\s*<br\s*/?>|[^\p{L}\p{N}'<]+|<"
_EDGE_APOSTROPHES = r"(?:^| )'+|'+(?: |$)"
_PARALLEL_MIN_TEXTS = 2_000
_VOCAB_FORMAT = "critic.vocabulary"
#: Bumped whenever normalisation or tokenisation changes, so caches of tokens are not reused.
TOKENIZER_VERSION = 1


def ensure_texts(texts: Any, name: str = "texts") -> list[str]:
    """Return ``texts`` as a list of strings; refuse a bare string (it is not a list of reviews)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"`{name}` must be a list of strings, not a single string; wrap one "
                        f"review in a list: [{texts[:30]!r}...]")
    if not isinstance(texts, Iterable):
        raise TypeError(f"`{name}` must be a list of strings. Received: {type(texts).__name__}")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"`{name}[{i}]` must be a string. Received: {type(text).__name__}")
    return texts


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Split each text into normalised tokens (see the module docstring for the rules).

    Example:
        >>> tokenize(["It's a <br />well-made film!"])
        [["it's", 'a', 'well', 'made', 'film']]
    """
    return token_lists(ensure_texts(texts)).to_pylist()


def token_lists(texts: Sequence[str]) -> pa.ListArray:
    """Tokens of each text as an Arrow list array (the fast path behind :func:`tokenize`)."""
    array = pa.array(texts, pa.large_string())
    threads = os.cpu_count() or 1
    if len(array) < _PARALLEL_MIN_TEXTS or threads == 1:
        return _tokenize_array(array)
    pieces = 2 * threads
    bounds = [len(array) * i // pieces for i in range(pieces + 1)]
    chunks = [array.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]
    with ThreadPoolExecutor(threads) as pool:  # Arrow kernels release the GIL
        return pa.concat_arrays(list(pool.map(_tokenize_array, chunks)))


def _tokenize_array(array: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(array)
    spaced = pc.replace_substring_regex(lowered, _BREAKS_AND_PUNCTUATION, " ")
    trimmed = pc.replace_substring_regex(spaced, _EDGE_APOSTROPHES, " ")
    pieces = pc.ascii_split_whitespace(trimmed)
    # Splitting keeps an empty piece at each end that had a space: drop them.
    flat = pieces.flatten()
    keep = pc.greater(pc.binary_length(flat), 0)
    parents = pc.list_parent_indices(pieces).to_numpy()[keep.to_numpy(zero_copy_only=False)]
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents, minlength=len(pieces)), out=offsets[1:])
    return pa.LargeListArray.from_arrays(offsets, flat.filter(keep))


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

    def take(self, indices: np.ndarray) -> Ragged:
        """The rows at ``indices``, in that order."""
        lengths = self.lengths[indices]
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = np.repeat(self.offsets[:-1][indices] - offsets[:-1], lengths)
        return Ragged(self.values[np.arange(offsets[-1]) + starts], offsets)

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


class Vocabulary:
    """Words ranked by frequency, with Keras ``imdb`` encoding conventions.

    ``words[0]`` is the most frequent word (rank 1). A word of rank ``r`` is encoded as
    ``r + index_from``; ``0`` is padding, ``start_char`` (1) starts every sequence and
    ``oov_char`` (2) replaces words outside ``[skip_top, num_words)``. Ties in frequency are
    broken by the word itself (code-point order), so the ranking is deterministic.

    Example:
        >>> vocab = Vocabulary.fit(["a good film", "a bad film", "a film"], num_words=6)
        >>> vocab.encode(["a film", "a good unknown film"])
        [[1, 4, 5], [1, 4, 2, 2, 5]]
        >>> vocab.decode([1, 4, 5])
        '? a film'
    """

    def __init__(
        self,
        words: Sequence[str],
        counts: Sequence[int] | None = None,
        *,
        num_words: int | None = None,
        skip_top: int = 0,
        start_char: int | None = 1,
        oov_char: int | None = 2,
        index_from: int = 3,
    ) -> None:
        _check_settings(num_words, skip_top, start_char, oov_char, index_from)
        self.words = list(words)
        self.counts = list(counts) if counts is not None else [0] * len(self.words)
        if len(self.counts) != len(self.words):
            raise ConfigError("a vocabulary needs one count per word")
        self.num_words = num_words
        self.skip_top = skip_top
        self.start_char = start_char
        self.oov_char = oov_char
        self.index_from = index_from
        self._all = pa.array(self.words, pa.large_string())

    @classmethod
    def fit(cls, texts: Sequence[str], **settings: Any) -> Vocabulary:
        """Rank the words of ``texts`` (training texts only) by frequency.

        Args:
            texts: the training reviews, raw.
            settings: ``num_words``, ``skip_top``, ``start_char``, ``oov_char``, ``index_from``.
        """
        return cls.fit_tokens(token_lists(ensure_texts(texts)), **settings)

    @classmethod
    def fit_tokens(cls, tokens: pa.ListArray, **settings: Any) -> Vocabulary:
        """Like :meth:`fit`, from already-tokenised texts (see :func:`token_lists`)."""
        flat = tokens.flatten()
        counted = pc.value_counts(flat)
        table = pa.table({"word": counted.field("values"), "count": counted.field("counts")})
        order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("word", "ascending")])
        ranked = table.take(order)
        return cls(ranked.column("word").to_pylist(), ranked.column("count").to_pylist(),
                   **settings)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dimension(self) -> int:
        """One more than the largest index :meth:`encode` can produce."""
        return self.num_words if self.num_words else len(self.words) + self.index_from + 1

    def word_index(self) -> dict[str, int]:
        """Word → rank, starting at 1 (Keras ``get_word_index``)."""
        return {word: rank for rank, word in enumerate(self.words, start=1)}

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text as a list of word indices (one list per text)."""
        return self.encode_ragged(ensure_texts(texts)).to_lists()

    def encode_ragged(self, texts: Sequence[str]) -> Ragged:
        """Like :meth:`encode`, as a flat :class:`Ragged` (no Python list per text)."""
        return self.encode_tokens(token_lists(texts))

    def encode_tokens(self, tokens: pa.ListArray) -> Ragged:
        """Encode already-tokenised texts (an Arrow list array from :func:`token_lists`)."""
        return self.encode_positions(self.positions(tokens))

    def positions(self, tokens: pa.ListArray) -> Ragged:
        """Each token's 0-based rank in the whole vocabulary, -1 for words never seen."""
        offsets = np.asarray(tokens.offsets, dtype=np.int64)
        position = pc.index_in(tokens.flatten(), value_set=self._all).fill_null(-1)
        return Ragged(position.to_numpy().astype(np.int32), offsets - offsets[0])

    def encode_positions(self, positions: Ragged) -> Ragged:
        """Word indices from :meth:`positions`, with this vocabulary's cut-off and markers."""
        position = positions.values
        known = (position >= 0) & (position < self._kept_ranks())
        ids = np.where(known, position + np.int32(self.index_from + 1), np.int32(-1))
        return self._apply_markers(Ragged(ids, positions.offsets))

    def _apply_markers(self, encoded: Ragged) -> Ragged:
        ids, offsets = encoded.values, encoded.offsets
        if self.start_char is not None:
            # Insert start_char in front of each row: row i shifts right by i places.
            shifted = offsets + np.arange(len(offsets))
            is_start = np.zeros(len(ids) + len(offsets) - 1, dtype=bool)
            is_start[shifted[:-1]] = True
            values = np.empty(len(is_start), dtype=np.int32)
            values[is_start] = self.start_char
            values[~is_start] = ids
            ids, offsets = values, shifted
        # Keras applies the [skip_top, num_words) window after the start marker is added.
        outside = (ids < self.skip_top) | (ids < 0)
        if self.num_words:
            outside |= ids >= self.num_words
        if self.oov_char is not None:
            ids = np.where(outside, self.oov_char, ids)
        elif outside.any():  # oov_char=None: drop such words, as Keras does
            keep = ~outside
            offsets = np.concatenate([[0], np.cumsum(keep)])[offsets]
            ids = ids[keep]
        return Ragged(ids.astype(np.int32), offsets.astype(np.int64))

    def decode(self, ids: Iterable[int]) -> str:
        """Word indices back to text; reserved and unknown indices become ``'?'`` (the book's)."""
        words, shift = self.words, self.index_from + 1
        return " ".join(words[i - shift] if 0 <= i - shift < len(words) else "?"
                        for i in (int(x) for x in ids))

    def trimmed(self) -> Vocabulary:
        """The same encoder without the words ``num_words`` cuts off (smaller to save)."""
        kept = self._kept_ranks()
        return Vocabulary(self.words[:kept], self.counts[:kept], **self.settings())

    def _kept_ranks(self) -> int:
        if self.num_words is None:
            return len(self.words)
        return max(0, min(len(self.words), self.num_words - self.index_from - 1))

    def settings(self) -> dict[str, Any]:
        return {"num_words": self.num_words, "skip_top": self.skip_top,
                "start_char": self.start_char, "oov_char": self.oov_char,
                "index_from": self.index_from}

    def to_dict(self) -> dict[str, Any]:
        return {"format": _VOCAB_FORMAT, "version": 1, "settings": self.settings(),
                "words": self.words, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        if not isinstance(data, dict) or data.get("format") != _VOCAB_FORMAT:
            raise ConfigError("not a critic vocabulary (missing 'format': 'critic.vocabulary')")
        if data.get("version") != 1:
            raise ConfigError(f"vocabulary version {data.get('version')!r} is not supported")
        return cls(data["words"], data["counts"], **data["settings"])

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary as plain JSON (atomically)."""
        write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _check_settings(num_words: int | None, skip_top: int, start_char: int | None,
                    oov_char: int | None, index_from: int) -> None:
    def natural(name: str, value: Any, *, allow_none: bool = True, minimum: int = 0) -> None:
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"`{name}` must be an integer >= {minimum}"
                              f"{' or None' if allow_none else ''}. Received: {name}={value!r}")

    natural("num_words", num_words, minimum=1)
    natural("skip_top", skip_top, allow_none=False)
    natural("start_char", start_char)
    natural("oov_char", oov_char)
    natural("index_from", index_from, allow_none=False)
