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
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from critic.errors import ConfigError
from critic.text.columns import Ragged, TextColumn, arrow_strings, ensure_texts

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
_PIECE_TEXTS = 1_500  # 50,000 reviews: 34 pieces; peak RSS 380 MB against 530 MB with 8
# The tokenizer's large temporaries go to the C allocator, which hands freed memory back to
# the system; Arrow's default pool keeps it, which raised peak RSS by ~150 MB on 50,000 reviews.
_POOL = pa.system_memory_pool()
#: Bumped whenever normalisation or tokenisation changes, so caches of tokens are not reused
#: and a bundle tokenises as it was trained.
TOKENIZER_VERSION = 2
TOKENIZER_VERSIONS = (1, 2)


def tokenize(texts: Sequence[str], *, version: int = TOKENIZER_VERSION) -> list[list[str]]:
    """Split each text into normalised tokens (see the module docstring for the rules).

    Example:
        >>> tokenize(["It's a <br />well-made film!"])
        [["it's", 'a', 'well', 'made', 'film']]
    """
    return tokenize_texts(ensure_texts(texts), version=version).to_lists()


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
        untagged = pc.replace_substring_regex(_without_dead_comments(lowered), _TAG_OR_BRACKET,
                                              " ", memory_pool=pool)
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
        lowered = _without_dead_comments(lowered)
        pattern = _TAGS_AND_PUNCTUATION_ASCII if all_ascii else _TAGS_AND_PUNCTUATION
    else:
        pattern = _PUNCTUATION_ASCII if all_ascii else _PUNCTUATION
    return pc.replace_substring_regex(lowered, pattern, " ", memory_pool=_POOL)


def _without_dead_comments(lowered: pa.Array) -> pa.Array:
    """``lowered`` with the ``!`` of every ``<!--`` that no ``-->`` closes on its line made a
    ``?``: the same tokens (both are punctuation, and such an opening never matches the
    comment of ``_TAG``), in linear time. RE2 takes the leftmost match, so at each dead
    opening it scanned to the line's end before settling for the ``<`` alone: quadratic in
    the length of ``'<!--' * 25000`` (2.6 s for 100,000 characters)."""
    if lowered.null_count:
        return lowered
    offsets, data = _string_buffers(lowered)
    if len(data) < 4:
        return lowered
    opens = np.flatnonzero((data[:-3] == 0x3C) & (data[1:-2] == 0x21) & (data[2:-1] == 0x2D)
                           & (data[3:] == 0x2D))
    if not len(opens):
        return lowered
    closes = np.flatnonzero((data[:-2] == 0x2D) & (data[1:-1] == 0x2D) & (data[2:] == 0x3E))
    breaks = np.flatnonzero(data == 0x0A)
    ends = offsets[np.searchsorted(offsets, opens, side="right")]  # each opening's text end
    # The comment's body starts after "<!--" and stops at the first "-->" (".*?"), which must
    # come before the text's end and before a line break ("." is not "\n").
    close = np.append(closes, len(data))[np.searchsorted(closes, opens + 4)]
    line_break = np.append(breaks, len(data))[np.searchsorted(breaks, opens + 4)]
    dead = opens[(close + 3 > ends) | (line_break < close)]
    if not len(dead):
        return lowered
    data = data.copy()
    data[dead + 1] = ord("?")
    return _string_array(offsets.copy(), data)


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
        return pc.utf8_normalize(_marks_in_order(texts), form="NFKC", memory_pool=_POOL)

    is_ascii = pc.string_is_ascii(array, memory_pool=_POOL).to_numpy(zero_copy_only=False)
    return _rewrite_matching(array, np.flatnonzero(~is_ascii), _NFKC_CANDIDATES, fold)


def _marks_in_order(texts: pa.Array) -> pa.Array:
    """``texts`` with those that may hold a long run of combining marks decomposed (NFKD) and
    put in canonical order here, in O(n log n): the same NFKC, but Arrow's (utf8proc's)
    canonical ordering is an insertion sort, quadratic in such a run (``'a' + '\\u0301' *
    16000 + '\\u0316' * 16000``: 1.6 s). A run of 32 marks takes at least 64 bytes beyond
    ASCII in a row, so only texts with such a stretch (CJK, say) are looked at."""
    if texts.null_count:
        return texts
    offsets, data = _string_buffers(texts)
    high = data >= 0x80
    starts = np.zeros(len(data), dtype=bool)
    starts[offsets[:-1][offsets[:-1] < len(data)]] = True
    stretch = np.cumsum(~high | starts)  # a new stretch at each ASCII byte and each text
    long_stretch = np.flatnonzero(np.bincount(stretch, weights=high) >= 64)
    if not len(long_stretch):
        return texts
    first_byte = np.searchsorted(stretch, long_stretch)
    positions = np.unique(np.searchsorted(offsets, first_byte, side="right") - 1)
    ordered = pa.array([_canonical_decomposition(text)
                        for text in texts.take(pa.array(positions)).to_pylist()], texts.type)
    mask = np.zeros(len(texts), dtype=bool)
    mask[positions] = True
    return pc.replace_with_mask(texts, pa.array(mask), ordered, memory_pool=_POOL)


def _canonical_decomposition(text: str) -> str:
    """NFKD of ``text``: each character decomposed, then each run of combining marks sorted
    by combining class (a stable sort, as Unicode's canonical ordering is)."""
    decomposed = "".join(unicodedata.normalize("NFKD", c) if c >= "\x80" else c
                         for c in text)
    return "".join("".join(sorted(run, key=unicodedata.combining)) if mark else "".join(run)
                   for mark, run in itertools.groupby(decomposed, key=_is_mark))


def _is_mark(character: str) -> bool:
    return unicodedata.combining(character) != 0


def _unescape_html(array: pa.Array) -> pa.Array:
    """HTML character references unescaped (``html.unescape``), in the few texts that hold
    one: ``&name;``, ``&#123;`` or ``&#x1F;``, with its semicolon ("Tom & Jerry", "AT&T" and
    "Q&A" are left alone)."""
    def unescape(texts: pa.Array) -> pa.Array:
        return pa.array([html.unescape(_LONG_DECIMAL_REFERENCE.sub("&#1114112", text))
                         for text in texts.to_pylist()], texts.type, memory_pool=_POOL)

    return _rewrite_matching(array, _texts_holding(array, b"&"), _REFERENCE, unescape)


#: A decimal reference of 8 digits or more (beyond U+10FFFF, so html.unescape gives U+FFFD):
#: written as the first such number, since Python refuses to read an int of over 4,300 digits
#: (``&#`` and 5,000 digits raised ValueError) and reads a long one in quadratic time.
_LONG_DECIMAL_REFERENCE = re.compile(r"&#0*[1-9][0-9]{7,}")


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
