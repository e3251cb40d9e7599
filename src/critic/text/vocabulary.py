"""The frequency-ranked Vocabulary, with Keras ``imdb`` encoding conventions."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from critic._atomic import write_json
from critic.errors import ConfigError
from critic.text.columns import Ragged, ensure_texts
from critic.text.tokenizer import Tokens, tokenize_texts

_DICT_LOOKUP_MAX = 5_000  # distinct words; beyond, Arrow's index_in is faster

_VOCAB_FORMAT = "critic.vocabulary"


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
        self._rank_dict: dict[str, int] | None = None

    @classmethod
    def fit(cls, texts: Sequence[str], **settings: Any) -> Vocabulary:
        """Rank the words of ``texts`` (training texts only) by frequency.

        Args:
            texts: the training reviews, raw.
            settings: ``num_words``, ``skip_top``, ``start_char``, ``oov_char``, ``index_from``.
        """
        return cls.fit_tokens(tokenize_texts(ensure_texts(texts)), **settings)

    @classmethod
    def fit_tokens(cls, tokens: Tokens, **settings: Any) -> Vocabulary:
        """Like :meth:`fit`, from already-tokenised texts (see :func:`tokenize_texts`)."""
        counts = tokens.counts()
        (present,) = np.nonzero(counts)
        table = pa.table({"word": tokens.words.take(pa.array(present)),
                          "count": counts[present]})
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
        return self.encode_tokens(tokenize_texts(ensure_texts(texts)))

    def encode_tokens(self, tokens: Tokens) -> Ragged:
        """Encode already-tokenised texts (from :func:`tokenize_texts`)."""
        return self._encode(self._id_table(self._ranks(tokens.words)), tokens.ids)

    def positions(self, tokens: Tokens) -> Ragged:
        """Each token's 0-based rank in the whole vocabulary, -1 for words never seen."""
        return Ragged(self._ranks(tokens.words)[tokens.ids.values], tokens.ids.offsets)

    def encode_positions(self, positions: Ragged) -> Ragged:
        """Word indices from :meth:`positions`, with this vocabulary's cut-off and markers."""
        table = self._id_table(np.arange(-1, len(self.words), dtype=np.int32))
        return self._encode(table, Ragged(positions.values + np.int32(1), positions.offsets))

    def _ranks(self, words: pa.Array) -> np.ndarray:
        """0-based rank of each of ``words`` in this vocabulary, -1 if absent."""
        if len(words) <= _DICT_LOOKUP_MAX:
            # A few hundred words (one request): a Python dict built once beats Arrow's
            # index_in, which hashes the whole vocabulary again on every call.
            rank_of = self._rank_of()
            return np.fromiter((rank_of.get(w, -1) for w in words.to_pylist()), np.int32,
                               count=len(words))
        found = pc.index_in(words, value_set=self._all).fill_null(-1)
        return found.to_numpy(zero_copy_only=False).astype(np.int32)

    def _rank_of(self) -> dict[str, int]:
        if self._rank_dict is None:
            self._rank_dict = {word: rank for rank, word in enumerate(self.words)}
        return self._rank_dict

    def _id_table(self, ranks: np.ndarray) -> np.ndarray:
        """The encoded index for each rank: Keras's offset, cut-off and window, or -1 to drop.

        Working per distinct word (a table of ~100,000) instead of per token (12 million)
        keeps encoding to a single gather.
        """
        ids = ranks.astype(np.int64) + self.index_from + 1
        outside = (ranks < 0) | (ranks >= self._kept_ranks()) | (ids < self.skip_top)
        ids[outside] = -1 if self.oov_char is None else self.oov_char
        return ids.astype(np.int32)

    def _start_id(self) -> int:
        """``start_char`` after Keras's ``[skip_top, num_words)`` window (-1: dropped)."""
        start = self.start_char
        if start is None:
            return -1
        if start < self.skip_top or (self.num_words and start >= self.num_words):
            return -1 if self.oov_char is None else self.oov_char
        return start

    def _encode(self, table: np.ndarray, indices: Ragged) -> Ragged:
        offsets, start = indices.offsets, self._start_id()
        if start >= 0:  # one slot in front of every row: row i shifts right by i places
            shifted = offsets + np.arange(len(offsets))
            values = np.full(len(indices.values) + len(indices), start, dtype=np.int32)
            token_slots = np.ones(len(values), dtype=bool)
            token_slots[shifted[:-1]] = False
            values[token_slots] = table[indices.values]
            offsets = shifted
        else:
            values = table[indices.values]
        if self.oov_char is None and (values < 0).any():  # Keras drops such words
            kept = values >= 0
            offsets = np.concatenate([[0], np.cumsum(kept)])[offsets]
            values = values[kept]
        return Ragged(values, offsets.astype(np.int64, copy=False))

    def decode(self, ids: Iterable[int]) -> str:
        """Word indices back to text; reserved and unknown indices become ``'?'`` (the book's)."""
        words, shift = self.words, self.index_from + 1
        return " ".join(words[i - shift] if 0 <= i - shift < len(words) else "?"
                        for i in (int(x) for x in ids))

    def covers(self, words: Sequence[str]) -> list[bool]:
        """Whether each word has its own index (is ranked within ``num_words``, not skipped)."""
        rank_of, kept = self._rank_of(), self._kept_ranks()
        return [(rank := rank_of.get(word, -1)) >= 0 and rank < kept
                and rank + self.index_from + 1 >= self.skip_top for word in words]

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
