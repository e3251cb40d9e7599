"""Normalisation, tokenisation and the frequency-ranked Vocabulary (Keras ``imdb`` conventions).

Normalisation, in order (one implementation, used at training and at prediction time):

1. HTML character references are unescaped (``&amp;`` → ``&``, ``&#8217;`` → ``’``);
2. apostrophe look-alikes (``’ ‘ ‛ ʼ ′ ´ ` ＇``) become ``'``, then Unicode NFKC folds
   compatibility forms (full-width ``Ｇｏｏｄ`` → ``Good``, ligatures, non-breaking spaces);
3. lower-case (Unicode-aware);
4. HTML tags (``<br />``, ``<i>``, ``</p>``, ``<a href="…">``: the elements of HTML, not any
   text between angle brackets, so ``<3`` and ``<grin>`` keep their words) become spaces;
5. every run of characters that are not letters, digits or apostrophes becomes a space
   (so punctuation, hyphens and other HTML splits words: ``well-made`` → ``well made``);
6. apostrophes at the edge of a word are dropped (``'quoted'`` → ``quoted``), inside a word kept
   (``don't``, ``it's``).

Tokens are then the space-separated pieces. The work runs in Arrow's C++ string kernels (RE2),
split across threads for large inputs. Version 1 of the tokenizer (critic ≤ 0.2) did steps 3, 5
and 6 and removed only line breaks; it is kept, so bundles trained with it still predict with
the tokens they were trained on.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from critic._atomic import write_json
from critic.errors import ConfigError, DataError

# Version 1's patterns. A break is matched whole before the punctuation class can swallow its
# "<" (RE2 takes the leftmost match, so the space before a break must belong to the break's
# alternative); version 2 does the same with every tag.
_BREAKS_AND_PUNCTUATION = r"\s*<br\s*/?>|[^\p{L}\p{N}'<]+|<"
# The same pattern for lower-cased ASCII text, where \p{L} is a-z and \p{N} is 0-9. RE2 takes
# ~1.8 ms to compile the Unicode classes, and Arrow compiles on every call: for one short
# review that was most of the cost of a prediction.
_BREAKS_AND_PUNCTUATION_ASCII = r"\s*<br\s*/?>|[^a-z0-9'<]+|<"
_EDGE_APOSTROPHES = r"(?:^| )'+|'+(?: |$)"
# The elements of HTML (and comments): a tag is removed only if it names one, so the angle
# brackets of "<3" or "<sighs>" in a review are punctuation, not markup.
_HTML_ELEMENTS = (
    "a|abbr|address|article|aside|b|big|blockquote|body|br|button|caption|center|cite|code|"
    "col|dd|del|details|dfn|div|dl|dt|em|embed|font|footer|form|h[1-6]|head|header|hr|html|i|"
    "iframe|img|input|ins|kbd|label|li|link|main|mark|meta|nav|noscript|ol|p|pre|q|s|samp|"
    "script|section|small|span|strike|strong|style|sub|summary|sup|table|tbody|td|tfoot|th|"
    "thead|title|tr|tt|u|ul|var|wbr")
# Attribute values in quotes may hold anything, angle brackets included.
_TAG = rf"""<!--.*?-->|</?(?:{_HTML_ELEMENTS})(?:[\s/](?:"[^"]*"|'[^']*'|[^<>"'])*)?>"""
_TAGS_AND_PUNCTUATION = rf"\s*(?:{_TAG})|[^\p{{L}}\p{{N}}'<]+|<"
_TAGS_AND_PUNCTUATION_ASCII = rf"\s*(?:{_TAG})|[^a-z0-9'<]+|<"
# Text without "<" holds no tag: the plain patterns do, and RE2 compiles them in 35 µs against
# 250 µs for the tag alternation (Arrow compiles on every call: one review's whole budget).
_PUNCTUATION = r"[^\p{L}\p{N}']+"
# What _PUNCTUATION still finds once the table has made spaces: not the spaces themselves
# (every one a match, and RE2 pays per match), so a run may leave several spaces.
_OTHER_PUNCTUATION = r"[^\p{L}\p{N}' ]+"
# Tags alone, and any other "<" (punctuation): a pass before the punctuation table.
_TAG_OR_BRACKET = rf"{_TAG}|<"
# The bytes a word keeps once lower-cased: a-z, 0-9, the apostrophe, and every byte of a
# character beyond ASCII (those texts go through _PUNCTUATION as well); the rest are spaces.
_WORD_BYTES = np.full(256, 0x20, dtype=np.uint8)
for _kept in (*range(ord("a"), ord("z") + 1), *range(ord("0"), ord("9") + 1), ord("'"),
              *range(0x80, 0x100)):
    _WORD_BYTES[_kept] = _kept
_PUNCTUATION_ASCII = r"[^a-z0-9']+"
_APOSTROPHES = "[\u2019\u2018\u201b\u02bc\u2032\u00b4`\uff07]"
# Characters NFKC changes, or may: beyond Latin-1, and Latin-1's compatibility characters.
_NFKC_CANDIDATES = (r"[^\x{00}-\x{ff}]"
                    r"|[\x{a0}\x{a8}\x{aa}\x{af}\x{b2}-\x{b5}\x{b8}-\x{ba}\x{bc}-\x{be}]")
_REFERENCE = "&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);"
_DICT_LOOKUP_MAX = 5_000  # distinct words; beyond, Arrow's index_in is faster
_PIECE_TEXTS = 1_500  # 50,000 reviews: 34 pieces; peak RSS 380 MB against 530 MB with 8
# The tokenizer's large temporaries go to the C allocator, which hands freed memory back to
# the system; Arrow's default pool keeps it, which raised peak RSS by ~150 MB on 50,000 reviews.
_POOL = pa.system_memory_pool()
_VOCAB_FORMAT = "critic.vocabulary"
#: Bumped whenever normalisation or tokenisation changes, so caches of tokens are not reused
#: and a bundle tokenises as it was trained.
TOKENIZER_VERSION = 2
TOKENIZER_VERSIONS = (1, 2)


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


def tokenize(texts: Sequence[str], *, version: int = TOKENIZER_VERSION) -> list[list[str]]:
    """Split each text into normalised tokens (see the module docstring for the rules).

    Example:
        >>> tokenize(["It's a <br />well-made film!"])
        [["it's", 'a', 'well', 'made', 'film']]
    """
    return tokenize_texts(ensure_texts(texts), version=version).to_lists()


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


@dataclass(frozen=True)
class Tokens:
    """Tokenised texts, dictionary-encoded: the tokens of text ``i`` are ``words[ids[i]]``.

    Holding an int32 per token (instead of a string) keeps 50,000 reviews' 12 million tokens in
    ~50 MB.
    """

    words: pa.Array  # the distinct tokens
    ids: Ragged  # indices into ``words``

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, start: int, stop: int | None = None) -> Tokens:
        return Tokens(self.words, self.ids.slice(start, stop))

    def counts(self) -> np.ndarray:
        """How often each of ``words`` occurs in these texts."""
        return np.bincount(self.ids.values, minlength=len(self.words))

    def to_lists(self) -> list[list[str]]:
        flat = self.words.take(pa.array(self.ids.values)).to_pylist()
        return [flat[lo:hi] for lo, hi in itertools.pairwise(self.ids.offsets.tolist())]


def tokenize_texts(texts: Sequence[str], *, version: int = TOKENIZER_VERSION) -> Tokens:
    """Tokenise many texts at once (the fast path behind :func:`tokenize`), with the
    tokenizer of ``version`` (see the module docstring).

    Large inputs are cut in pieces tokenised on all cores; each piece is dictionary-encoded as
    soon as it is split, so no array of 12 million token strings is ever held.
    """
    check_tokenizer_version(version)
    array = texts.arrow if isinstance(texts, TextColumn) else arrow_strings(texts)
    threads = os.cpu_count() or 1
    # Small pieces bound the temporaries each thread holds (and its malloc arena keeps).
    pieces = max(1, -(-len(array) // _PIECE_TEXTS))
    bounds = [len(array) * i // pieces for i in range(pieces + 1)]
    chunks = [array.slice(lo, hi - lo) for lo, hi in itertools.pairwise(bounds)]
    tokenize_chunk = _tokenize_chunk if version == TOKENIZER_VERSION else _tokenize_chunk_v1
    if len(chunks) == 1:  # a thread pool costs more than one small piece takes
        encoded = [tokenize_chunk(chunks[0])]
    else:
        with ThreadPoolExecutor(threads) as pool:  # Arrow's kernels release the GIL
            encoded = list(pool.map(tokenize_chunk, chunks))
    offsets, total = [np.zeros(1, dtype=np.int64)], 0
    for _, chunk_offsets in encoded:
        offsets.append(chunk_offsets[1:] + total)
        total += int(chunk_offsets[-1])
    # One dictionary for all pieces: encode the concatenated piece dictionaries (small), then
    # map each piece's indices through it, freeing each piece as soon as it is copied.
    dictionaries = [piece.dictionary for piece, _ in encoded]
    merged = pc.dictionary_encode(pa.concat_arrays(dictionaries) if dictionaries
                                  else pa.array([], pa.large_string()))
    words, to_merged = merged.dictionary, merged.indices.to_numpy(zero_copy_only=False)
    flat = np.empty(total, dtype=np.int32)
    at = first = 0
    for k, (piece, _) in enumerate(encoded):
        mapping = to_merged[first: first + len(piece.dictionary)]
        flat[at: at + len(piece)] = mapping[piece.indices.to_numpy(zero_copy_only=False)]
        at, first = at + len(piece), first + len(piece.dictionary)
        encoded[k] = (None, None)  # type: ignore[assignment]
    return Tokens(words, Ragged(flat, np.concatenate(offsets)))


#: Where a review's sentences end: a line break, or ``.``, ``!`` or ``?`` before a space.
_SENTENCE_END = re.compile(r"<br\s*/?>|(?<=[.!?])\s+")


def split_sentences(texts: Sequence[str], *, min_words: int = 3
                    ) -> tuple[list[str], np.ndarray]:
    """Every sentence of ``texts`` of at least ``min_words`` words, and the index of the text
    each came from: the short texts that ``nblr`` adds to its training reviews, and that
    :func:`critic.evaluation.short_texts` checks models on.

    Example:
        >>> split_sentences(["Loved it. The cast is great!<br />Ten out of ten.", "Dull."])
        (['The cast is great!', 'Ten out of ten.'], array([0, 0]))
    """
    sentences: list[str] = []
    owners: list[int] = []
    for index, text in enumerate(texts):
        for piece in _SENTENCE_END.split(text):
            if len(piece.split()) >= min_words:
                sentences.append(piece.strip())
                owners.append(index)
    return sentences, np.array(owners, dtype=np.int64)


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


def check_tokenizer_version(version: Any) -> None:
    if version not in TOKENIZER_VERSIONS:
        raise ConfigError(f"tokenizer version {version!r} is unknown to this critic, which "
                          f"knows versions {list(TOKENIZER_VERSIONS)}")


def _tokenize_chunk(array: pa.Array) -> tuple[pa.DictionaryArray, np.ndarray]:
    pool = _POOL
    array = _fold_unicode(_unescape_html(array))
    if len(_texts_holding(array, b"`")):
        array = pc.replace_substring(array, "`", "'", memory_pool=pool)
    lowered = pc.utf8_lower(array, memory_pool=pool)
    del array
    if lowered.null_count:  # not from critic's readers; the patterns handle it as before
        return _split_words(_spaced_by_pattern(lowered))
    untagged = lowered
    if len(_texts_holding(lowered, b"<")):
        # Tags first, then punctuation: the same words as the one pattern of both
        # (_TAGS_AND_PUNCTUATION), since its punctuation runs stop at every "<".
        untagged = pc.replace_substring_regex(lowered, _TAG_OR_BRACKET, " ", memory_pool=pool)
    spaced = _punctuation_to_spaces(untagged)
    del untagged
    # Which apostrophes _EDGE_APOSTROPHES removes can depend on how many spaces the one
    # pattern left between two runs of them ("a' 'b" keeps the second, "a'  'b" does not):
    # the texts where two runs have nothing but spaces between go the patterns' way.
    offsets, data = _string_buffers(spaced)
    apart = _ApostropheRuns(data, offsets).texts_apart()
    if len(apart):
        exact = pc.replace_substring_regex(_spaced_by_pattern(lowered.take(pa.array(apart))),
                                           _EDGE_APOSTROPHES, " ", memory_pool=pool)
        mask = np.zeros(len(spaced), dtype=bool)
        mask[apart] = True
        spaced = pc.replace_with_mask(spaced, pa.array(mask), exact, memory_pool=pool)
        offsets, data = _string_buffers(spaced)
    return _split_spaced(offsets, _ApostropheRuns(data, offsets, skip=apart).blank())


def _spaced_by_pattern(lowered: pa.Array) -> pa.Array:
    """Tags and punctuation as spaces by the one regular expression."""
    all_ascii = pc.all(pc.string_is_ascii(lowered)).as_py() is not False
    if len(_texts_holding(lowered, b"<")):
        pattern = _TAGS_AND_PUNCTUATION_ASCII if all_ascii else _TAGS_AND_PUNCTUATION
    else:
        pattern = _PUNCTUATION_ASCII if all_ascii else _PUNCTUATION
    return pc.replace_substring_regex(lowered, pattern, " ", memory_pool=_POOL)


def _punctuation_to_spaces(lowered: pa.Array) -> pa.Array:
    """Every character but letters, digits and apostrophes as a space (``_PUNCTUATION``).

    The regular expression is most of a tokenisation's time, so ASCII bytes go through a
    table in NumPy (UTF-8 never uses them inside another character), and the pattern scans
    only the texts that hold other characters: one IMDB review in ten.
    """
    offsets, data = _string_buffers(lowered)
    spaced = _string_array(offsets, _WORD_BYTES[data])
    others = np.flatnonzero(~pc.string_is_ascii(lowered, memory_pool=_POOL).to_numpy(
        zero_copy_only=False))
    if not len(others):
        return spaced
    mask = np.zeros(len(spaced), dtype=bool)
    mask[others] = True
    rewritten = pc.replace_substring_regex(spaced.take(pa.array(others)), _OTHER_PUNCTUATION,
                                           " ", memory_pool=_POOL)
    return pc.replace_with_mask(spaced, pa.array(mask), rewritten, memory_pool=_POOL)


class _ApostropheRuns:
    """The runs of apostrophes in texts whose only separator is the space (UTF-8 ``data``
    cut at ``offsets``), but those in the texts ``skip``; found from the apostrophes'
    positions, so the cost is theirs, not the texts'."""

    def __init__(self, data: np.ndarray, offsets: np.ndarray,
                 skip: np.ndarray | None = None) -> None:
        self.data, self.offsets = data, offsets
        at = np.flatnonzero(data == 0x27)
        text = np.searchsorted(offsets, at, side="right") - 1
        if skip is not None and len(skip):
            kept = ~np.isin(text, skip)
            at, text = at[kept], text[kept]
        joined = (np.diff(at) == 1) & (np.diff(text) == 0)  # apostrophe k + 1 goes on k's run
        first = np.r_[True, ~joined] if len(at) else np.zeros(0, dtype=bool)
        last = np.r_[~joined, True] if len(at) else np.zeros(0, dtype=bool)
        self.starts, self.ends = at[first], at[last]  # ends inclusive
        self.text = text[first]

    def texts_apart(self) -> np.ndarray:
        """The texts where a run follows another with only spaces between them."""
        if len(self.starts) < 2:
            return np.zeros(0, dtype=np.int64)
        gap_from, gap_to = self.ends[:-1] + 1, self.starts[1:]  # between run k and k + 1
        candidate = np.flatnonzero((self.text[1:] == self.text[:-1]) & (gap_to > gap_from)
                                   & (self.data[np.minimum(gap_from, len(self.data) - 1)]
                                      == 0x20))
        apart = [k for k in candidate.tolist()  # few: a run and a space after it
                 if not (self.data[gap_from[k]:gap_to[k]] != 0x20).any()]
        return np.unique(self.text[1:][apart])

    def blank(self) -> np.ndarray:
        """``data`` (a copy) with the runs ``_EDGE_APOSTROPHES`` matches as spaces: each
        that starts its text or follows a space, or ends its text or comes before a space
        (exact where no two runs have only spaces between them: :meth:`texts_apart`)."""
        data = self.data.copy()
        if not len(self.starts):
            return data
        starts, ends, n = self.starts, self.ends, len(data)
        left = (starts == self.offsets[self.text]) | (data[np.maximum(starts - 1, 0)] == 0x20)
        right = (ends == self.offsets[self.text + 1] - 1) | (
            data[np.minimum(ends + 1, n - 1)] == 0x20)
        removed = left | right
        lengths = ends[removed] - starts[removed] + 1
        firsts = np.repeat(starts[removed], lengths)
        data[firsts + _ranks_within(lengths)] = 0x20
        return data


def _ranks_within(lengths: np.ndarray) -> np.ndarray:
    """0, 1, …, length - 1 for each of ``lengths``, one after another."""
    total = int(lengths.sum())
    return np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _split_spaced(offsets: np.ndarray, data: np.ndarray
                  ) -> tuple[pa.DictionaryArray, np.ndarray]:
    """:func:`_split_words` of texts (UTF-8 ``data`` cut at ``offsets``) whose only
    separator is the space and whose edge apostrophes are gone, in NumPy."""
    first, last = _text_edges(offsets)
    word = data != 0x20
    before = np.zeros_like(word)  # the byte before is a word's, in the same text
    before[1:] = word[:-1]
    before[first] = False
    after = np.zeros_like(word)
    after[:-1] = word[1:]
    after[last] = False
    starts = np.flatnonzero(word & ~before)
    ends = np.flatnonzero(word & ~after) + 1
    token_offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=token_offsets[1:])
    tokens = _string_array(token_offsets, data[word])
    return pc.dictionary_encode(tokens, memory_pool=_POOL), np.searchsorted(starts, offsets)


def _string_buffers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A ``large_string`` array's offsets (from 0) and UTF-8 bytes, as NumPy views."""
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        array.offset: array.offset + len(array) + 1]
    if data_buffer is None:
        return offsets - offsets[0], np.zeros(0, dtype=np.uint8)
    return offsets - offsets[0], np.frombuffer(data_buffer, dtype=np.uint8)[
        offsets[0]:offsets[-1]]


def _string_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets),
                                            pa.py_buffer(np.ascontiguousarray(data)))


def _text_edges(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first and the last byte of every text that is not empty."""
    filled = offsets[1:] > offsets[:-1]
    return offsets[:-1][filled], offsets[1:][filled] - 1


def _fold_unicode(array: pa.Array) -> pa.Array:
    """Apostrophe look-alikes and NFKC, in the texts that hold a character they change.

    NFKC leaves ASCII and Latin-1's letters as they are, and Arrow's NFKC is slow (8 ms for
    1,500 reviews), so only texts with a character beyond Latin-1, or one of Latin-1's
    compatibility characters (no-break space, ´, ², ½, …), are folded: on IMDB, one review in
    ten is not pure ASCII, most of them for an é.
    """
    def fold(texts: pa.Array) -> pa.Array:
        texts = pc.replace_substring_regex(texts, _APOSTROPHES, "'", memory_pool=_POOL)
        return pc.utf8_normalize(texts, form="NFKC", memory_pool=_POOL)

    is_ascii = pc.string_is_ascii(array, memory_pool=_POOL).to_numpy(zero_copy_only=False)
    return _rewrite_matching(array, np.flatnonzero(~is_ascii), _NFKC_CANDIDATES, fold)


def _unescape_html(array: pa.Array) -> pa.Array:
    """HTML character references unescaped (``html.unescape``), in the few texts that hold
    one: ``&name;``, ``&#123;`` or ``&#x1F;``, with its semicolon ("Tom & Jerry", "AT&T" and
    "Q&A" are left alone)."""
    def unescape(texts: pa.Array) -> pa.Array:
        return pa.array([html.unescape(text) for text in texts.to_pylist()], texts.type,
                        memory_pool=_POOL)

    return _rewrite_matching(array, _texts_holding(array, b"&"), _REFERENCE, unescape)


def _texts_holding(array: pa.Array, character: bytes) -> np.ndarray:
    """Positions of the texts holding an ASCII ``character``, found in the UTF-8 bytes with
    NumPy (0.2 ms for 1,500 reviews; Arrow's substring search takes 3 ms)."""
    _, offsets_buffer, data_buffer = array.buffers()
    if data_buffer is None or not len(array):
        return np.zeros(0, dtype=np.int64)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        array.offset: array.offset + len(array) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]]
    found = np.flatnonzero(data == character[0]) + offsets[0]
    return np.unique(np.searchsorted(offsets, found, side="right") - 1)


def _rewrite_matching(array: pa.Array, positions: np.ndarray, pattern: str,
                      rewrite: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """``array`` with ``rewrite`` applied to the texts at ``positions`` (found by a cheap
    test) that match ``pattern``: the regular expression scans only those (scanning all of
    1,500 reviews takes 4 ms), and the rest is not copied through Python."""
    if not len(positions):
        return array
    subset = array.take(pa.array(positions))
    hits = pc.match_substring_regex(subset, pattern, memory_pool=_POOL).to_numpy(
        zero_copy_only=False)
    if not hits.any():
        return array
    mask = np.zeros(len(array), dtype=bool)
    mask[positions[hits]] = True
    return pc.replace_with_mask(array, pa.array(mask), rewrite(subset.filter(pa.array(hits))),
                                memory_pool=_POOL)


def _tokenize_chunk_v1(array: pa.Array) -> tuple[pa.DictionaryArray, np.ndarray]:
    """Version 1: lower-case, line breaks and punctuation to spaces, edge apostrophes."""
    lowered = pc.utf8_lower(array, memory_pool=_POOL)
    all_ascii = pc.all(pc.string_is_ascii(lowered)).as_py() is not False
    pattern = _BREAKS_AND_PUNCTUATION_ASCII if all_ascii else _BREAKS_AND_PUNCTUATION
    return _split_words(pc.replace_substring_regex(lowered, pattern, " ", memory_pool=_POOL))


def _split_words(spaced: pa.Array) -> tuple[pa.DictionaryArray, np.ndarray]:
    """Edge apostrophes dropped, then the words between spaces: dictionary-encoded words
    and each text's offsets into them."""
    pool = _POOL
    trimmed = pc.replace_substring_regex(spaced, _EDGE_APOSTROPHES, " ", memory_pool=pool)
    del spaced
    pieces = pc.ascii_split_whitespace(trimmed, memory_pool=pool)
    # Splitting keeps an empty piece at each end that had a space: drop them.
    flat = pieces.flatten()  # a view of the values (no allocation)
    keep = pc.greater(pc.binary_length(flat, memory_pool=pool), 0, memory_pool=pool)
    parents = pc.list_parent_indices(pieces).to_numpy()[keep.to_numpy(zero_copy_only=False)]
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents, minlength=len(pieces)), out=offsets[1:])
    kept = pc.filter(flat, keep, memory_pool=pool)
    return pc.dictionary_encode(kept, memory_pool=pool), offsets


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
