"""Sparse features: the book's multi-hot vectors, counts, tf-idf and word n-grams, as SciPy CSR.

No dense ``(n, 10000)`` float64 matrix is ever built: 25,000 multi-hot reviews take ~24 MB here
against ~2 GB for the book's ``vectorize_sequences``.

Columns: the unigram block uses the vocabulary's word indices (so with the book's settings
column 1 is the start marker and column 2 counts out-of-vocabulary words, exactly as in the
book's vectors); n-grams of length 2-3, when asked for, follow in columns
``dimension, dimension + 1, …`` ranked by training frequency.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Self

import numpy as np
import scipy.sparse as sp

from critic.errors import ConfigError, DataError
from critic.text import (
    TOKENIZER_VERSION,
    Ragged,
    Tokens,
    Vocabulary,
    check_tokenizer_version,
    ensure_texts,
    tokenize_texts,
)

Weighting = Literal["binary", "count", "tfidf"]
_HASH_LOOKUP_FROM = 100_000  # n-gram codes; below, binary search beats the hash table
_MIX_1, _MIX_2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_TABLE_LOCK = threading.Lock()
_WEIGHTINGS = ("binary", "count", "tfidf")


def multi_hot(sequences: Ragged | Sequence[Sequence[int]], dimension: int,
              *, dtype: Any = np.float32) -> sp.csr_matrix:
    """One row per sequence, 1 in each column whose index occurs in it (the book's encoding).

    Args:
        sequences: ``n`` lists of word indices (or a :class:`Ragged`).
        dimension: number of columns; every index must be below it.
        dtype: ``np.float32`` (default) or ``np.uint8``.

    Returns:
        CSR matrix of shape ``(n, dimension)`` with sorted, unique column indices per row.

    Example:
        >>> multi_hot([[1, 3, 3], [0]], 4).toarray()
        array([[0., 1., 0., 1.],
               [1., 0., 0., 0.]], dtype=float32)
    """
    return _as_ragged(sequences).count_matrix(dimension, binary=True).astype(dtype, copy=False)


def _as_ragged(sequences: Ragged | Sequence[Sequence[int]]) -> Ragged:
    return sequences if isinstance(sequences, Ragged) else Ragged.from_lists(sequences)


def parse_ngram_range(text: str) -> tuple[int, int]:
    """``"1-3"`` → ``(1, 3)``; ``"2"`` → ``(2, 2)``; refuses anything but 1 ≤ LOW ≤ HIGH ≤ 3."""
    low, _, high = text.partition("-")
    try:
        parsed = (int(low), int(high or low))
    except ValueError:
        raise ConfigError(f"{text!r} is not LOW-HIGH, e.g. 1-3", parameter="ngram_range"
                          ) from None
    if not 1 <= parsed[0] <= parsed[1] <= 3:
        raise ConfigError(f"{text!r} is out of bounds: 1 <= LOW <= HIGH <= 3",
                          parameter="ngram_range")
    return parsed


#: The most columns a block of features may have: far more words than any language has, and
#: an index that fits the int32 of a CSR matrix with room to spare.
MAX_COLUMNS = 1 << 24


@dataclass(frozen=True)
class FeatureConfig:
    """How texts become feature vectors; saved beside a model so prediction sees the same.

    Attributes:
        weighting: ``binary`` (multi-hot), ``count``, or ``tfidf`` (smooth idf, l2 rows, as
            scikit-learn's ``TfidfVectorizer`` defaults).
        num_words: columns of the unigram block (the book's 10,000).
        ngram_range: ``(1, 1)`` words only; up to ``(1, 3)`` adds bigrams and trigrams.
        max_ngrams: how many of the most frequent training n-grams (n ≥ 2) to keep.
        start_char, oov_char: the book's marker columns; ``None`` leaves them out.
        sublinear_tf: with tf-idf, use ``1 + log(count)``.
        hashing: hash every n-gram of ``ngram_range`` (words too) into ``num_words`` columns
            instead of counting a vocabulary (:mod:`critic.hashing`): a width that does not
            grow with the data. ``max_ngrams`` is then unused and there are no markers.
    """

    weighting: Weighting = "binary"
    num_words: int = 10_000
    ngram_range: tuple[int, int] = (1, 1)
    max_ngrams: int = 0
    start_char: int | None = 1
    oov_char: int | None = 2
    sublinear_tf: bool = False
    hashing: bool = False

    def __post_init__(self) -> None:
        if self.weighting not in _WEIGHTINGS:
            raise ConfigError(f"`weighting` must be one of {_WEIGHTINGS}. "
                              f"Received: weighting={self.weighting!r}")
        lo, hi = self.ngram_range
        if not (1 <= lo <= hi <= 3):
            raise ConfigError("`ngram_range` must satisfy 1 <= low <= high <= 3. "
                              f"Received: ngram_range={self.ngram_range}")
        if self.hashing and (self.start_char is not None or self.oov_char is not None):
            raise ConfigError("hashed features have no markers: set start_char and oov_char "
                              "to None")
        if hi > 1 and self.max_ngrams < 1 and not self.hashing:
            raise ConfigError("`max_ngrams` must be positive when ngram_range includes n-grams")
        if self.num_words < 5:
            raise ConfigError("`num_words` must be at least 5. "
                              f"Received: num_words={self.num_words}")
        for name in ("num_words", "max_ngrams"):  # beyond, arrays of that width fail to allocate
            if getattr(self, name) > MAX_COLUMNS:
                raise ConfigError(f"`{name}` must be at most {MAX_COLUMNS:,} (columns of the "
                                  f"features). Received: {name}={getattr(self, name):,}",
                                  parameter=name)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        data = dict(data)
        data["ngram_range"] = tuple(data.get("ngram_range", (1, 1)))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.hashing:  # left out, so critic 0.3 still reads such bundles
            del data["hashing"]
        return data


class FeatureSpace:
    """Texts → CSR features, fitted on training texts only.

    The keyword arguments are :class:`FeatureConfig`'s fields (checked in ``fit``);
    :meth:`from_config` builds one from a saved configuration. Bundles and prediction use this
    class, which needs no scikit-learn (importing it costs 0.7 s); its scikit-learn face, for
    pipelines and grid searches, is :class:`critic.estimators.Featurizer`.

    Example:
        >>> f = FeatureSpace(num_words=8).fit(["a good film", "a bad film"])
        >>> f.transform(["a good film"]).shape
        (1, 8)
    """

    #: Whether this class hashes n-grams (:class:`critic.hashing.HashedFeatureSpace`).
    hashes: ClassVar[bool] = False
    _ngram_table: CodeTable | None

    def __init__(self, *, weighting: Weighting = "binary", num_words: int = 10_000,
                 ngram_range: tuple[int, int] = (1, 1), max_ngrams: int = 0,
                 start_char: int | None = 1, oov_char: int | None = 2,
                 sublinear_tf: bool = False, hashing: bool = False) -> None:
        self.weighting, self.num_words, self.ngram_range = weighting, num_words, ngram_range
        self.max_ngrams, self.start_char, self.oov_char = max_ngrams, start_char, oov_char
        self.sublinear_tf, self.hashing = sublinear_tf, hashing

    @classmethod
    def from_config(cls, config: FeatureConfig | None = None) -> Self:
        """An unfitted feature space with ``config``'s settings (the defaults: the book's)."""
        return cls(**(config or FeatureConfig()).to_dict())

    @property
    def config(self) -> FeatureConfig:
        """The settings as a checked :class:`FeatureConfig` (what a bundle saves)."""
        return FeatureConfig(
            weighting=self.weighting, num_words=self.num_words,
            ngram_range=tuple(self.ngram_range),  # type: ignore[arg-type]  # checked there
            max_ngrams=self.max_ngrams, start_char=self.start_char, oov_char=self.oov_char,
            sublinear_tf=self.sublinear_tf, hashing=self.hashing)

    @classmethod
    def from_fitted(cls, config: FeatureConfig, vocabulary: Vocabulary,
                    arrays: dict[str, np.ndarray] | None = None, *,
                    tokenizer_version: int = TOKENIZER_VERSION) -> Self:
        """A fitted featurizer from saved parts (see :meth:`arrays`), checked for consistency;
        it tokenises texts with the tokenizer it was fitted with (``tokenizer_version``).

        Raises:
            ConfigError: the parts do not belong together (e.g. a hand-edited bundle).
        """
        arrays = arrays or {}
        check_tokenizer_version(tokenizer_version)
        check_kind(cls, config)
        featurizer = cls.from_config(config)
        featurizer.tokenizer_version_ = tokenizer_version
        if vocabulary.settings() != {**featurizer._vocabulary_settings(), "skip_top": 0,
                                     "index_from": 3}:
            raise ConfigError(f"the vocabulary's settings {vocabulary.settings()} do not match "
                              f"the feature configuration {config.to_dict()}")
        featurizer.vocabulary_ = vocabulary
        featurizer.ngrams_ = np.asarray(arrays.get("ngrams", np.zeros(0, dtype=np.int64)))
        _check_ngrams(featurizer.ngrams_, config, len(vocabulary.words))
        featurizer._ngram_table = None
        featurizer.idf_ = arrays.get("idf")
        _check_idf(featurizer.idf_, config, featurizer.dimension)
        return featurizer

    def arrays(self) -> dict[str, np.ndarray]:
        """What a fitted featurizer holds beyond its vocabulary: n-gram codes, idf."""
        out = {"ngrams": self.ngrams_} if len(self.ngrams_) else {}
        return out | ({"idf": self.idf_} if self.idf_ is not None else {})

    def fit(self, texts: Sequence[str], y: Any = None) -> Self:
        """Learn the vocabulary (and n-grams, idf) of ``texts``; ``y`` is ignored."""
        self.tokenizer_version_ = TOKENIZER_VERSION
        self._fit_tokens(self.tokenize(texts))
        return self

    def fit_transform(self, texts: Sequence[str], y: Any = None, **fit_params: Any
                      ) -> sp.csr_matrix:
        """:meth:`fit`, then :meth:`transform`, in one pass over ``texts``."""
        self.tokenizer_version_ = TOKENIZER_VERSION
        return self.weigh(self._fit_tokens(self.tokenize(texts)))

    def _fit_tokens(self, tokens: Tokens) -> sp.csr_matrix:
        """Fit on ``tokens``; return their counts, which fitting computes on the way."""
        check_kind(type(self), self.config)
        if len(tokens) and not tokens.ids.lengths.any():
            raise DataError(f"none of the {len(tokens):,} texts holds a word (letters or "
                            "digits): there is nothing to learn from; check the text column")
        self.vocabulary_ = Vocabulary.fit_tokens(tokens, **self._vocabulary_settings())
        occurrences = self._occurrences(tokens)  # computed once, for fitting and counting
        self.ngrams_ = self._fit_ngrams(occurrences)
        self._ngram_table = None  # built when first needed
        counts = self._counts_of(tokens, occurrences)
        self.idf_ = smooth_idf(counts) if self.weighting == "tfidf" else None
        return counts

    @property
    def dimension(self) -> int:
        return self.num_words + len(self.ngrams_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Features of ``texts``: CSR, shape ``(n, dimension)``, float32."""
        self._check_fitted()
        return self.transform_tokens(self.tokenize(texts))

    def tokenize(self, texts: Sequence[str]) -> Tokens:
        """``texts`` tokenised as this featurizer's training texts were."""
        return tokenize_texts(ensure_texts(texts), version=self.tokenizer_version_)

    def transform_tokens(self, tokens: Tokens) -> sp.csr_matrix:
        """Like :meth:`transform`, from already-tokenised texts (see :func:`tokenize_texts`)."""
        return self.weigh(self._counts(tokens))

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """How often each feature occurs in each text, before any weighting."""
        return self._counts(self.tokenize(texts))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Each column's name (see :meth:`column_name`), as scikit-learn's vectorizers give."""
        self._check_fitted()
        return np.array([self.column_name(c) for c in range(self.dimension)], dtype=object)

    def _check_fitted(self) -> None:
        if not hasattr(self, "vocabulary_"):
            from sklearn.exceptions import NotFittedError  # only on this error path

            raise NotFittedError(f"This {type(self).__name__} is not fitted yet: call `fit` "
                                 "with training texts first")

    def column_name(self, column: int) -> str:
        """A readable name for one column: the word, the n-gram, or a marker like ``<start>``."""
        vocabulary, first = self.vocabulary_, self.num_words
        if column >= first:
            return self._ngram_string(int(self.ngrams_[column - first]))
        if column in (vocabulary.start_char, vocabulary.oov_char):
            return "<start>" if column == vocabulary.start_char else "<unknown>"
        rank = column - vocabulary.index_from - 1
        return vocabulary.words[rank] if 0 <= rank < len(vocabulary.words) else "<unused>"

    def column_names(self, tokens: list[str]) -> dict[int, str]:
        """Names of the columns one review's ``tokens`` fill, where they differ from
        :meth:`column_name` (a hashed space names its columns from the review's n-grams)."""
        return {}

    def covers(self, words: Sequence[str]) -> list[bool]:
        """Whether each word has a column of its own (see :meth:`Vocabulary.covers`)."""
        return self.vocabulary_.covers(words)

    def _vocabulary_settings(self) -> dict[str, Any]:
        c = self.config
        return {"num_words": c.num_words, "start_char": c.start_char, "oov_char": c.oov_char}

    def _counts(self, tokens: Tokens) -> sp.csr_matrix:
        return self._counts_of(tokens, self._occurrences(tokens))

    def _counts_of(self, tokens: Tokens, occurrences: list[tuple[np.ndarray, np.ndarray]]
                   ) -> sp.csr_matrix:
        """The word block's counts, with the n-gram block's to its right."""
        words = self.vocabulary_.encode_tokens(tokens).count_matrix(self.num_words)
        if not occurrences or not len(self.ngrams_):  # (training texts may have no n-grams)
            return words
        ngrams = self._ngram_counts(occurrences, len(tokens))
        return sp.hstack([words, ngrams], format="csr", dtype=np.float32)

    def weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Features from :meth:`counts` (binary, counts or tf-idf); may change ``counts``."""
        if self.weighting == "binary":
            counts.data[:] = 1.0
            return counts
        if self.weighting == "count":
            return counts
        if self.sublinear_tf:
            counts.data = 1.0 + np.log(counts.data)
        if self.idf_ is None:
            raise ConfigError("tf-idf features need an idf: fit the featurizer first")
        weighted = counts.multiply(self.idf_[np.newaxis, :]).tocsr().astype(np.float32)
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ weighted, dtype=np.float32)

    def column_values(self, counts: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """What :meth:`weigh` makes of raw ``counts`` at ``columns``, before any row
        normalisation (float64; a count of 0 gives 0)."""
        counts = np.asarray(counts, dtype=np.float64)
        if self.weighting == "binary":
            return (counts > 0).astype(np.float64)
        if self.weighting == "count":
            return counts
        if self.idf_ is None:
            raise ConfigError("tf-idf features need an idf: fit the featurizer first")
        present = counts > 0
        tf = np.where(present, 1.0 + np.log(np.where(present, counts, 1.0)), 0.0) \
            if self.sublinear_tf else counts
        return tf * self.idf_[columns]

    @property
    def normalises_rows(self) -> bool:
        """Whether :meth:`weigh` scales each row to unit length (tf-idf)."""
        return self.weighting == "tfidf"

    def occlusion_deltas(self, tokens: list[str]) -> tuple[list[str], sp.csr_matrix]:
        """The review's distinct words and, one row per word, how the review's raw counts
        change when every occurrence of that word is removed.

        Removing a word only changes the n-grams within ``n - 1`` tokens of where it stood,
        so each change is counted from a short window around each occurrence (the window
        without the word, minus the window) rather than by featurising the review once per
        word: the cost grows with the review's length, not with its length times its
        vocabulary.
        """
        distinct = list(dict.fromkeys(tokens))
        margin = self.ngram_range[1] - 1
        where: dict[str, list[int]] = {word: [] for word in distinct}
        for position, token in enumerate(tokens):
            where[token].append(position)
        owners: list[int] = []
        windows: list[str] = []
        without: list[str] = []
        for row, word in enumerate(distinct):
            for start, stop in _windows(where[word], margin, len(tokens)):
                window = tokens[start:stop]
                owners.append(row)
                windows.append(" ".join(window))
                without.append(" ".join(t for t in window if t != word))
        change = self.counts(without) - self.counts(windows)
        owner = sp.csr_matrix((np.ones(len(owners), dtype=np.float32),
                               (np.array(owners, dtype=np.int64), np.arange(len(owners)))),
                              shape=(len(distinct), len(owners)))
        deltas = sp.csr_matrix(owner @ change)
        deltas.eliminate_zeros()
        return distinct, deltas

    # N-grams: each is an int64 code whose base-(V+1) digits are its words' full-vocabulary
    # positions, so counting and lookup are NumPy sorts and Arrow hash lookups, not Python
    # dicts. An "occurrence" list holds, per n, the row and code of every n-gram in the texts.

    def _occurrences(self, tokens: Tokens) -> list[tuple[np.ndarray, np.ndarray]]:
        lo, hi = self.ngram_range
        if hi < 2:
            return []
        positions = self.vocabulary_.positions(tokens)
        return [self._codes(positions, n) for n in range(max(lo, 2), hi + 1)]

    def _fit_ngrams(self, occurrences: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """The ``max_ngrams`` most frequent codes, ties to the lower code; sorted."""
        if not occurrences:
            return np.zeros(0, dtype=np.int64)
        unique, counts = count_codes(np.concatenate([c for _, c in occurrences]))
        return unique[most_frequent(counts, self.max_ngrams)]

    def ngram_codes(self, texts: Sequence[str]) -> np.ndarray:
        """The code of every n-gram occurrence in ``texts`` (words of this vocabulary only):
        what fitting counts to choose the ``max_ngrams`` kept ones, for a caller that counts
        them batch by batch (:mod:`critic.fitting.spill`)."""
        occurrences = self._occurrences(self.tokenize(texts))
        return (np.concatenate([codes for _, codes in occurrences]) if occurrences
                else np.zeros(0, dtype=np.int64))

    def _lookup(self, codes: np.ndarray) -> np.ndarray:
        """Each code's column among the kept n-grams, -1 if not kept."""
        if len(codes) < _HASH_LOOKUP_FROM:
            # Binary search: ~0.4 µs a code, and nothing to build first.
            at = np.minimum(np.searchsorted(self.ngrams_, codes), len(self.ngrams_) - 1)
            return np.where(self.ngrams_[at] == codes, at, -1)
        with _TABLE_LOCK:  # the Predictor's two threads would otherwise both build it
            if self._ngram_table is None:
                self._ngram_table = CodeTable(self.ngrams_)
        return self._ngram_table.lookup(codes)

    def _ngram_counts(self, occurrences: list[tuple[np.ndarray, np.ndarray]], texts: int
                      ) -> sp.csr_matrix:
        """Counts of the kept n-grams: one block per n (each already in row order), summed."""
        splits = np.cumsum([len(codes) for _, codes in occurrences])[:-1]
        columns = np.split(self._lookup(np.concatenate([c for _, c in occurrences])), splits)
        blocks = [self._ngram_block(rows, column, texts)
                  for (rows, _), column in zip(occurrences, columns, strict=True)]
        return sum(blocks[1:], start=blocks[0])  # no pass over an empty matrix first

    def _ngram_block(self, rows: np.ndarray, columns: np.ndarray, texts: int) -> sp.csr_matrix:
        """Counts of one n's kept n-grams (``columns`` -1: not kept), rows already in order."""
        hit = columns >= 0
        offsets = np.searchsorted(rows[hit], np.arange(texts + 1))
        return Ragged(columns[hit].astype(np.int32), offsets.astype(np.int64)).count_matrix(
            len(self.ngrams_))

    def _codes(self, positions: Ragged, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and code of every n-gram of known words that lies inside one text."""
        base = len(self.vocabulary_.words) + 1
        if base ** n >= 2**62:
            raise ConfigError(f"vocabulary too large ({base - 1} words) for {n}-gram codes")
        position = positions.values.astype(np.int64)
        rows = positions.rows()
        count = len(position) - n + 1
        if count <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        keep = rows[:count] == rows[n - 1:]  # all n words in the same text
        codes = np.zeros(count, dtype=np.int64)
        for k in range(n):
            part = position[k: k + count]
            keep &= part >= 0
            codes = codes * base + (part + 1)  # digits 1..base-1, so no n-gram codes to 0
        return rows[:count][keep], codes[keep]

    def ngram_strings(self) -> list[str]:
        """The kept n-grams as space-joined words, in column order."""
        return [self._ngram_string(code) for code in self.ngrams_.tolist()]

    def _ngram_string(self, code: int) -> str:
        base, parts = len(self.vocabulary_.words) + 1, []
        while code:
            code, position = divmod(code, base)
            parts.append(self.vocabulary_.words[position - 1])
        return " ".join(reversed(parts))


def mix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (fmix64) of uint64 values, in place: every input bit
    moves every output bit."""
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(33)
        h *= _MIX_1
        h ^= h >> np.uint64(33)
        h *= _MIX_2
        h ^= h >> np.uint64(33)
    return h


class CodeTable:
    """A hash table from the kept n-gram codes to their columns, in NumPy, built once.

    Linear probing at load factor 1/2, every probe round vectorised: looking up the 4.5
    million codes of 4,000 reviews takes ~0.3 s, where Arrow's ``index_in`` hashed the 2
    million kept codes anew on every call (0.4 s) before looking up — which made ``nblr``
    predictions of batches below 25,000 reviews half as fast.

    Built without probing: with the codes inserted in the order of their home slots, each
    lands at ``max(home, previous + 1)``, a running maximum. The table runs past its last
    home slot instead of wrapping round, so a probe only ever moves forward.
    """

    def __init__(self, codes: np.ndarray) -> None:
        size = 1 << max(4, int(2 * len(codes) - 1).bit_length())
        self._mask = np.uint64(size - 1)
        # Sorted by home slot as one uint64 key (home, then index) with NumPy's unstable
        # sort: 2 million codes in 0.15 s, against 0.37 s for a stable argsort of the homes.
        bits = max(1, len(codes).bit_length())
        keyed = np.sort((self._slots(codes) << np.uint64(bits))
                        | np.arange(len(codes), dtype=np.uint64))
        order = (keyed & np.uint64((1 << bits) - 1)).astype(np.int64)
        homes = (keyed >> np.uint64(bits)).astype(np.int64)
        steps = np.arange(len(codes), dtype=np.int64)
        places = np.maximum.accumulate(homes - steps) + steps if len(codes) else steps
        length = max(size, int(places[-1]) + 2) if len(codes) else size
        self._keys = np.full(length, -1, dtype=np.int64)  # -1: empty (codes are positive)
        self._columns = np.full(length, -1, dtype=np.int32)
        self._keys[places], self._columns[places] = codes[order], order

    def _slots(self, codes: np.ndarray) -> np.ndarray:
        return mix64(codes.astype(np.uint64)) & self._mask

    def lookup(self, codes: np.ndarray) -> np.ndarray:
        """Each code's column, -1 for codes not in the table."""
        slots = self._slots(codes).astype(np.int64)
        keys = self._keys[slots]
        first = keys == codes
        found = np.full(len(codes), -1, dtype=np.int32)
        found[first] = self._columns[slots[first]]  # columns of hits only: most codes miss
        # The first probe settles most codes; the rest (a collision on the way) probe on.
        active = np.flatnonzero(~first & (keys != -1))
        slots = slots[active] + 1
        while len(active):
            keys = self._keys[slots]
            hit = keys == codes[active]
            found[active[hit]] = self._columns[slots[hit]]
            going = ~hit & (keys != -1)  # an empty slot ends a miss
            active, slots = active[going], slots[going] + 1
        return found


def check_kind(kind: type[FeatureSpace], config: FeatureConfig) -> None:
    """Hashed configurations belong to :class:`critic.hashing.HashedFeatureSpace`."""
    if config.hashing != kind.hashes:
        raise ConfigError(f"{kind.__name__} does not do {'' if config.hashing else 'un'}hashed "
                          "features; use critic.hashing.HashedFeatureSpace for hashed ones")


def _check_ngrams(codes: np.ndarray, config: FeatureConfig, words: int) -> None:
    """Saved n-gram codes must be what :meth:`FeatureSpace._fit_ngrams` makes for ``config``."""
    lo, hi = config.ngram_range
    if codes.ndim != 1 or codes.dtype != np.int64:
        raise ConfigError(f"n-gram codes must be a 1-d int64 array; found {codes.dtype} "
                          f"{codes.shape}")
    if hi < 2 and len(codes):
        raise ConfigError(f"ngram_range {config.ngram_range} has no n-grams, yet "
                          f"{len(codes)} are saved")
    if len(codes) > config.max_ngrams:
        raise ConfigError(f"{len(codes)} n-grams saved but max_ngrams={config.max_ngrams}")
    base = words + 1
    if len(codes) and (codes[0] < base ** max(lo, 2) // base or codes[-1] >= base ** hi
                       or (np.diff(codes) <= 0).any()):
        raise ConfigError(f"the saved n-grams are not {max(lo, 2)}- to {hi}-grams of this "
                          f"{words}-word vocabulary")


def _check_idf(idf: np.ndarray | None, config: FeatureConfig, dimension: int) -> None:
    if config.weighting != "tfidf":
        if idf is not None:
            raise ConfigError(f"{config.weighting} features take no idf, yet one is saved")
    elif idf is None or idf.shape != (dimension,):
        raise ConfigError(f"tf-idf features need an idf of {dimension} values; found "
                          f"{None if idf is None else idf.shape}")


def smooth_idf(counts: sp.csr_matrix) -> np.ndarray:
    """Smooth idf from training counts, as scikit-learn's ``TfidfVectorizer`` computes it."""
    return idf_of(np.bincount(counts.indices, minlength=counts.shape[1]), counts.shape[0])


def idf_of(document_frequencies: np.ndarray, documents: int) -> np.ndarray:
    """Smooth idf of columns found in ``document_frequencies`` of ``documents`` texts."""
    return (np.log((1 + documents) / (1 + document_frequencies)) + 1.0).astype(np.float64)


def count_codes(codes: np.ndarray, weights: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``codes``, sorted, and how often each occurs (or the sum of its
    ``weights``)."""
    # np.sort plus run lengths: 0.3 s on 12 million codes, against 1.2 s for np.unique
    # and 3.1 s for Arrow's hash count.
    order = None if weights is None else np.argsort(codes)
    codes = np.sort(codes) if order is None else codes[order]
    if not len(codes):
        return codes, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    if weights is None:
        return codes[starts], np.diff(np.r_[starts, len(codes)])
    return codes[starts], np.add.reduceat(weights[order], starts)


def most_frequent(counts: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest ``counts``, ties to the lower index, in index order (a
    partition, not a sort: linear time)."""
    if len(counts) <= k:
        return np.arange(len(counts))
    cut = np.partition(counts, len(counts) - k)[len(counts) - k]  # the k-th largest count
    chosen = counts > cut
    ties = np.flatnonzero(counts == cut)[: k - int(chosen.sum())]
    chosen[ties] = True
    return np.flatnonzero(chosen)


def _windows(positions: list[int], margin: int, length: int) -> list[tuple[int, int]]:
    """``[start, stop)`` token windows reaching ``margin`` tokens either side of each position,
    merged where they touch, so no n-gram that a removal changes is counted twice."""
    merged: list[tuple[int, int]] = []
    for position in positions:
        start, stop = max(position - margin, 0), min(position + margin + 1, length)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged
