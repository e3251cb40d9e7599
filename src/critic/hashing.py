"""Hashed n-gram features: a feature space that does not grow with the data.

Every word, bigram and trigram is hashed into one of ``num_words`` columns, as Vowpal Wabbit
and fastText do, so nothing is learned before transforming and the width is fixed whatever
the number of reviews: a stream of millions of reviews is featurised batch by batch in
constant memory, and every batch (and every process, and every machine) puts an n-gram in
the same column. Measured on IMDB (``nblr``, liblinear, 25,000 training reviews): 2**22
hashed columns of all 1-3-grams 0.9172 test accuracy, 2**24 0.9168, against 0.9196 for the
2.1 million columns of a counted vocabulary; with streaming minibatches 2**20 columns lost
0.8 points to 2**22 (collisions), 2**21 0.4.

The hash is critic's own and fixed: the FNV-1a prime over each word's UTF-8 bytes, then
MurmurHash3's 64-bit finaliser; an n-gram's hash mixes its words' hashes in order. Bundles
depend on it, so ``tests/test_hashing.py`` pins its values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from critic.errors import ConfigError
from critic.features import FeatureConfig, FeatureSpace, check_kind, mix64, smooth_idf
from critic.text import TOKENIZER_VERSION, Tokens, Vocabulary

_PRIME = np.uint64(1099511628211)  # FNV-1a's 64-bit prime
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_UNIQUE_BELOW = 8  # entries per column below which sorting keys beats SciPy's per-row sort


def hash_words(words: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string, the same in every process (uint64 ``(n,)``).

    Polynomial over the UTF-8 bytes (``sum (b_i + 1) · P^(L-1-i)`` mod 2**64), computed for
    all strings at once, then finalised with the length mixed in.
    """
    array = words.cast(pa.large_string()) if words.type != pa.large_string() else words
    if len(array) == 0:
        return np.zeros(0, dtype=np.uint64)
    _, offset_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int64, count=len(array) + 1,
                            offset=array.offset * 8)
    lengths = np.diff(offsets)
    raw = (np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0]:offsets[-1]]
           if data_buffer is not None else np.zeros(0, dtype=np.uint8))
    exponent = np.repeat(offsets[1:] - offsets[0], lengths) - 1 - np.arange(len(raw))
    with np.errstate(over="ignore"):
        term = raw.astype(np.uint64) + np.uint64(1)
        power, base = np.ones(len(raw), dtype=np.uint64), np.full(len(raw), _PRIME)
        while exponent.any():  # square-and-multiply: log2(longest word) rounds
            odd = (exponent & 1).astype(bool)
            power[odd] *= base[odd]
            base *= base
            exponent >>= 1
        term *= power
        sums = np.zeros(len(array), dtype=np.uint64)
        present = lengths > 0
        if present.any():
            sums[present] = np.add.reduceat(term, (offsets[:-1] - offsets[0])[present])
        return mix64(sums ^ (lengths.astype(np.uint64) * _GOLDEN))


def ngram_hashes(word_hashes: np.ndarray, rows: np.ndarray, n: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Row and hash of every ``n``-gram lying inside one text, from its tokens' hashes."""
    count = len(word_hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        code = mix64(word_hashes[:count] + np.uint64(n))
        for k in range(1, n):
            code = mix64(code * _GOLDEN + word_hashes[k: k + count])
    inside = rows[:count] == rows[n - 1: n - 1 + count]
    return rows[:count][inside], code[inside]


class HashedFeatureSpace(FeatureSpace):
    """Texts → CSR features with every n-gram of ``ngram_range`` hashed into ``num_words``
    columns: nothing to count first, nothing that grows with the data.

    Fitting learns nothing but, for tf-idf, the idf; the vocabulary is empty. Markers
    (``start_char``, ``oov_char``) do not exist here.

    Example:
        >>> space = HashedFeatureSpace(num_words=2**20, ngram_range=(1, 2), hashing=True,
        ...                            start_char=None, oov_char=None)
        >>> space.fit([]).transform(["a good film"]).nnz
        5
    """

    hashes = True

    def _fit_tokens(self, tokens: Tokens) -> sp.csr_matrix:
        check_kind(type(self), self.config)
        self.vocabulary_ = Vocabulary([], **self._vocabulary_settings())
        self.ngrams_ = np.zeros(0, dtype=np.int64)
        self._ngram_table = None
        self.idf_ = None
        counts = self._counts(tokens)
        if self.weighting == "tfidf":
            self.idf_ = smooth_idf(counts)
        return counts

    @classmethod
    def from_fitted(cls, config: FeatureConfig, vocabulary: Vocabulary,
                    arrays: dict[str, np.ndarray] | None = None, *,
                    tokenizer_version: int = TOKENIZER_VERSION) -> Self:
        if vocabulary.words:
            raise ConfigError("hashed features keep no vocabulary, yet one is saved")
        return super().from_fitted(config, vocabulary, arrays,
                                   tokenizer_version=tokenizer_version)

    def _counts(self, tokens: Tokens) -> sp.csr_matrix:
        rows, columns = self._hashed_columns(tokens)
        return _count_matrix(rows, columns, len(tokens), self.num_words)

    def _hashed_columns(self, tokens: Tokens) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of every n-gram occurrence in ``tokens``."""
        hashes = hash_words(tokens.words)[tokens.ids.values]
        rows = tokens.ids.rows()
        low, high = self.ngram_range
        found = [ngram_hashes(hashes, rows, n) for n in range(low, high + 1)]
        all_rows = np.concatenate([r for r, _ in found])
        codes = np.concatenate([c for _, c in found])
        return all_rows, (codes % np.uint64(self.num_words)).astype(np.int64)

    def column_name(self, column: int) -> str:
        return f"#{column}"  # a hashed column has no name of its own; see column_names

    def column_names(self, tokens: list[str]) -> dict[int, str]:
        """The names of the columns one review's ``tokens`` fill: its own n-grams (two that
        share a column are joined by `` | ``)."""
        hashes = hash_words(pa.array(tokens, pa.large_string()))
        one_row = np.zeros(len(tokens), dtype=np.int64)
        names: dict[int, list[str]] = {}
        low, high = self.ngram_range
        for n in range(low, high + 1):
            _, codes = ngram_hashes(hashes, one_row, n)  # position i: tokens[i:i + n]
            columns = (codes % np.uint64(self.num_words)).tolist()
            for start, column in enumerate(columns):
                gram = " ".join(tokens[start: start + n])
                if gram not in names.setdefault(column, []):
                    names[column].append(gram)
        return {column: " | ".join(grams) for column, grams in names.items()}

    def covers(self, words: Sequence[str]) -> list[bool]:
        return [True] * len(words)  # every word has its column


def _count_matrix(rows: np.ndarray, columns: np.ndarray, texts: int, width: int
                  ) -> sp.csr_matrix:
    """CSR ``(texts, width)`` float32 of how often each (row, column) pair occurs."""
    if len(columns) * _UNIQUE_BELOW < width:  # a few reviews: sort their keys
        keys, counts = np.unique(rows * width + columns, return_counts=True)
        return sp.csr_matrix((counts.astype(np.float32), (keys // width, keys % width)),
                             shape=(texts, width))
    # Rows come in one sorted run per n-gram length: a stable sort merges the runs, then
    # SciPy sorts and merges each row's columns (faster than two transposes, whose cost
    # grows with the 4 million columns).
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(texts + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=texts), out=indptr[1:])
    matrix = sp.csr_matrix((np.ones(len(columns), dtype=np.float32), columns[order], indptr),
                           shape=(texts, width))
    matrix.sum_duplicates()
    return matrix


def fitted_feature_space(config: FeatureConfig, vocabulary: Vocabulary,
                         arrays: dict[str, Any] | None = None, *, tokenizer_version: int
                         ) -> FeatureSpace:
    """:meth:`FeatureSpace.from_fitted` for either kind of feature space."""
    kind = HashedFeatureSpace if config.hashing else FeatureSpace
    return kind.from_fitted(config, vocabulary, arrays, tokenizer_version=tokenizer_version)
