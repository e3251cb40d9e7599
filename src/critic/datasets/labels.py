"""Labels learned from the data: two (critic's 0/1, pos/neg, … or any two names) or more
(stars, ratings, negative/neutral/positive), each review's label a class index.

A label column is read as it is written: integers stay numbers (so 1–5 stars are ordered),
words are trimmed; the label set is sorted (numbers by value, words alphabetically) and its
order is what a bundle records as ``labels``: index ``i`` is ``labels[i]``. Labels that are all
critic's binary words (0/1, true/false, pos/neg, positive/negative) are read as today:
0 negative, 1 positive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from critic.errors import DataError

#: The most labels a data set may have: more is a column of ids or free text, not classes.
MAX_CLASSES = 1_000
#: A label's name: a word, or a number (kept a number, so the labels are ordered).
Label = str | int | float


def raw_labels(values: Sequence[object], where: str, *, first_row: int = 1) -> np.ndarray:
    """The labels as written: ``int64`` for whole numbers, ``float64`` for other numbers,
    else trimmed strings (``object``); a missing, empty or NaN label, or a column mixing words
    and numbers, is refused naming its row (``values[0]`` being row ``first_row``)."""
    kinds: set[str] = set()
    out: list[Any] = []
    for row, value in enumerate(values):
        bad = (value is None or (isinstance(value, float) and not math.isfinite(value))
               or (isinstance(value, str) and not value.strip()))
        if bad:
            raise DataError(f"{where}: row {row + first_row} has no label ({value!r}); every "
                            "review needs one")
        if isinstance(value, bool):
            kind, value = "word", str(value).lower()
        elif isinstance(value, int | float | np.integer | np.floating):
            kind = "number"
        else:
            kind, value = "word", str(value).strip()
        kinds.add(kind)
        if len(kinds) > 1:
            raise DataError(f"{where}: label {value!r} in row {row + first_row} is a "
                            f"{kind} but the labels before it are "
                            f"{'numbers' if kind == 'word' else 'words'}")
        out.append(value)
    if kinds == {"number"}:
        numbers = np.asarray(out, dtype=np.float64)
        whole = bool(np.all(numbers == np.round(numbers))) and bool(
            np.all(np.abs(numbers) < 2**53))
        return numbers.astype(np.int64) if whole else numbers
    return np.asarray(out, dtype=object)


def is_coded(labels: np.ndarray) -> bool:
    """Whether ``labels`` are already critic's 0/1 (read from its binary words)."""
    return labels.dtype == np.uint8


def encode_labels(parts: Sequence[np.ndarray], where: str
                  ) -> tuple[np.ndarray, tuple[Label, ...] | None]:
    """Class indices for labels read in ``parts`` and their names in order (``None``: critic's
    own 0/1, negative/positive). Refuses one label, a label with a single review, more than
    :data:`MAX_CLASSES` and words mixed with numbers across parts; what training cannot
    use (one label, a label of a single review) is :func:`check_classes`'s."""
    if all(is_coded(part) for part in parts):
        return np.concatenate(parts) if parts else np.zeros(0, np.uint8), None
    kinds = {"word" if part.dtype == object else "number"
             for part in parts if not is_coded(part)}
    if len(kinds) > 1:
        raise DataError(f"{where}: the labels change type between files (words in some, "
                        "numbers in others)")
    values = np.concatenate([part.astype(np.int64) if is_coded(part) and kinds == {"number"}
                             else part for part in parts])
    names, indices = np.unique(values, return_inverse=True)
    if len(names) > MAX_CLASSES:
        raise DataError(f"{where}: {len(names):,} different labels (at most {MAX_CLASSES:,}); "
                        "is the label column a column of ids or text?")
    dtype = np.uint8 if len(names) == 2 else np.int64
    return indices.astype(dtype), tuple(_plain(name) for name in names)


def check_classes(labels: np.ndarray, classes: Sequence[Label] | None, where: str) -> None:
    """Refuse labels that cannot be trained on: one label, a label of a single review."""
    names = list(classes) if classes is not None else ["negative", "positive"]
    counts = np.bincount(labels.astype(np.int64), minlength=len(names))
    present = counts > 0
    if present.sum() < 2:
        only = [name for name, count in zip(names, counts, strict=True) if count]
        raise DataError(f"{where}: every review has the same label"
                        f"{f' ({only[0]!r})' if only else ''}; training needs at least two")
    if classes is None:
        return
    single = [name for name, count in zip(names, counts, strict=True) if count < 2]
    if single:
        raise DataError(f"{where}: label {single[0]!r} has a single review; every label needs "
                        "at least two (one to learn from, one to check)")


def _plain(name: Any) -> Label:
    value = name.item() if isinstance(name, np.generic) else name
    return value if isinstance(value, int | float) else str(value)


class StreamLabels:
    """A stream's label set, learned as its batches are read, with the same rules as
    :func:`encode_labels` applied to all of them at once.

    Each batch's labels get provisional codes as they come (:meth:`code`): critic's coded 0/1
    keep 0 and 1; a label as written gets the next free code the first time it is seen.
    :meth:`finish` then gives the label set in its order and ``remap``, each provisional
    code's index in it. A stream of critic's two words only stays 0 negative, 1 positive,
    its codes unchanged (``remap`` is ``[0, 1]``).
    """

    def __init__(self) -> None:
        self._written: dict[Label, int] = {}  # a label as written → its provisional code
        self._kind: str | None = None  # "word" or "number", of the labels as written
        self._coded: set[int] = set()  # which of critic's 0/1 were seen coded
        self._first = ""  # where the first label as written was read

    def code(self, labels: np.ndarray, where: str) -> np.ndarray:
        """Provisional codes (``int16``) of one batch's ``labels``, read from ``where``."""
        if is_coded(labels):
            self._coded.update(np.unique(labels).tolist())
            return labels.astype(np.int16)
        names, inverse = np.unique(labels, return_inverse=True)
        self._same_kind("number" if np.issubdtype(labels.dtype, np.number) else "word", where)
        codes = np.empty(len(names), dtype=np.int16)
        for i, name in enumerate(names.tolist()):
            if name not in self._written:
                if len(self._written) >= MAX_CLASSES:
                    raise DataError(f"{where}: more than {MAX_CLASSES:,} different labels; "
                                    "is the label column a column of ids or text?")
                self._written[name] = 2 + len(self._written)
            codes[i] = self._written[name]
        return codes[inverse]

    @classmethod
    def union(cls, parts: Sequence[StreamLabels], where: str) -> StreamLabels:
        """The labels several readers of one stream saw (a cluster's workers, each its own
        parts): :meth:`finish` of the union gives every reader the same label set."""
        union = cls()
        for part in parts:
            if part._kind is not None:
                union._same_kind(part._kind, part._first)
            union._coded |= part._coded
            for name in part._written:
                union._written.setdefault(name, 2 + len(union._written))
        return union

    def _same_kind(self, kind: str, where: str) -> None:
        """Labels of ``kind`` (words or numbers) read from ``where``: the first set the
        kind, and any other kind is refused, naming both places."""
        if self._kind is None:
            self._kind, self._first = kind, where
        elif kind != self._kind:
            raise DataError(f"{where}: the labels are {kind}s but those of {self._first} are "
                            f"{self._kind}s; a data set's labels are all one or the other")

    def finish(self, where: str, own: StreamLabels | None = None
               ) -> tuple[tuple[Label, ...] | None, np.ndarray]:
        """The label set (``None``: critic's negative, positive) and ``remap``: the final
        label (``uint8`` for two labels, as :func:`encode_labels` gives) of each
        provisional code — of ``own``'s codes, when this is the :meth:`union` of several
        readers' and ``own`` one of them."""
        from critic.datasets.files import binary_label

        own = own or self
        width = 2 + len(own._written)
        binary = {name: binary_label(name) for name in self._written}
        if all(code is not None for code in binary.values()):
            remap = np.zeros(width, dtype=np.uint8)
            remap[1] = 1
            for name, code in own._written.items():
                remap[code] = binary[name] or 0  # none is None here
            return None, remap
        written = dict(self._written)
        for coded in sorted(self._coded):  # critic's 0/1 beside other labels
            written.setdefault(self._written_as(coded, where), coded)
        names = sorted(written)
        index = {name: i for i, name in enumerate(names)}
        remap = np.zeros(width, dtype=np.uint8 if len(names) == 2 else np.int64)
        for name, code in own._written.items():
            remap[code] = index[name]
        for coded in own._coded:
            remap[coded] = index[self._written_as(coded, where)]
        return tuple(_plain(name) for name in names), remap

    def _written_as(self, coded: int, where: str) -> Label:
        """How critic's coded ``coded`` (0 or 1) was written, in a stream whose other
        batches hold other labels: the number itself, or the one word of that meaning
        among the labels as written."""
        from critic.datasets.files import binary_label

        if self._kind == "number":
            return coded
        words = [name for name in self._written if binary_label(name) == coded]
        if len(words) != 1:
            meaning = "positive" if coded else "negative"
            raise DataError(f"{where}: some batches hold only critic's two label words "
                            f"(read as {meaning}) and others other labels, and the "
                            f"{meaning} word cannot be told from them in a stream; train in "
                            "memory (--mode memory) or write the labels as numbers")
        return words[0]
