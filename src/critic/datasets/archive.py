"""Read reviews from an aclImdb archive or folder, safely and without extracting anything.

Layout (Maas et al., 2011): ``aclImdb/{train,test}/{pos,neg}/ID_RATING.txt`` and
``aclImdb/train/unsup/ID_0.txt``; ``aclImdb/{train,test}/urls_{pos,neg,unsup}.txt`` name each
review's movie (line i: the IMDB page of the movie of review i). Other files (README, vocab,
``.feat``) are ignored.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from critic._reading import read_regular
from critic.errors import DataError

#: Reviews per folder in the official release; a local copy is accepted if it has exactly these.
IMDB_COUNTS: dict[str, int] = {
    "train/pos": 12_500, "train/neg": 12_500,
    "test/pos": 12_500, "test/neg": 12_500,
    "train/unsup": 50_000,
}
#: The longest review in the release is 14,282 bytes; a "review" far longer is not one.
MAX_REVIEW_BYTES = 1 << 20
_REVIEW = re.compile(r"(?:^|/)(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")
_MOVIE_LIST = re.compile(r"(?:^|/)(train|test)/urls_(pos|neg|unsup)\.txt$")
_MOVIE = re.compile(rb"/title/tt(\d+)")
#: A movie list holds a line of ~50 bytes per review: 50,000 lines is 2.5 MB.
MAX_MOVIE_LIST_BYTES = 64 << 20


@dataclass(frozen=True)
class ReviewColumns:
    """Every review file, column by column, in the order the source listed them."""

    texts: pa.LargeStringArray  # UTF-8 checked
    splits: list[str]  # "train" | "test" | "unsup"
    labels: np.ndarray  # int8: 1 positive, 0 negative, -1 unlabelled
    ids: np.ndarray  # int32, the number in the file name
    ratings: np.ndarray  # int8, 1-10 stars, 0 for unlabelled
    movies: np.ndarray  # int32, the IMDB title number (tt0453418: 453418), -1 if not known


def read_reviews(source: Path, *, expected: dict[str, int] | None = None) -> ReviewColumns:
    """Parse every review in ``source`` (``.tar.gz`` or folder) and check the folder counts.

    Texts stay bytes until Arrow checks them as UTF-8 in one pass, so 100,000 reviews never
    become 100,000 Python strings.

    Args:
        source: an ``aclImdb_v1.tar.gz`` archive, an ``aclImdb`` folder, or its parent.
        expected: reviews expected per ``split/label`` folder; defaults to :data:`IMDB_COUNTS`.
    """
    members = _iter_folder(source) if source.is_dir() else _iter_archive(source)
    names, raws, meta = [], [], []
    movie_lists: dict[str, np.ndarray] = {}
    for name, raw in members:
        match = _REVIEW.search(name)
        if match:
            names.append(name)
            raws.append(raw)
            meta.append(match.groups())
        elif listed := _MOVIE_LIST.search(name):
            movie_lists["/".join(listed.groups())] = _movie_numbers(raw)
    found = Counter(f"{split}/{folder}" for split, folder, _, _ in meta)
    _check_counts(found, source, IMDB_COUNTS if expected is None else expected)
    folders = [folder for _, folder, _, _ in meta]
    texts = _utf8(raws, names, source)
    raws.clear()  # the bytes now live in Arrow; don't hold them twice
    return ReviewColumns(
        texts=texts,
        splits=["unsup" if folder == "unsup" else split for split, folder, _, _ in meta],
        labels=np.array([_LABELS[f] for f in folders], dtype=np.int8),
        ids=np.array([int(m[2]) for m in meta], dtype=np.int32),
        ratings=np.array([int(m[3]) for m in meta], dtype=np.int8),
        movies=np.array([_movie_of(movie_lists, f"{split}/{folder}", int(number))
                         for split, folder, number, _ in meta], dtype=np.int32),
    )


def _movie_numbers(raw: bytes) -> np.ndarray:
    """The title number on each line of a movie list (-1 where a line names none)."""
    numbers = [_MOVIE.search(line) for line in raw.splitlines()]
    return np.array([int(m.group(1)) if m else -1 for m in numbers], dtype=np.int32)


def _movie_of(movie_lists: dict[str, np.ndarray], folder: str, review_id: int) -> int:
    listed = movie_lists.get(folder)
    return int(listed[review_id]) if listed is not None and review_id < len(listed) else -1


_LABELS = {"pos": 1, "neg": 0, "unsup": -1}


def _utf8(raws: list[bytes], names: list[str], source: Path) -> pa.LargeStringArray:
    try:
        return pa.array(raws, pa.large_binary()).cast(pa.large_string())
    except pa.ArrowInvalid:
        for name, raw in zip(names, raws, strict=True):  # find the culprit to name it
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{name} in {source} is not valid UTF-8 (byte {exc.start}); "
                                "the copy is damaged: download aclImdb_v1.tar.gz again") from exc
        raise


def fingerprint(source: Path) -> str:
    """SHA-256 of an archive; for a folder, of its review files' names, sizes and times."""
    if not source.is_dir():
        from critic.datasets.fetch import sha256_file

        return sha256_file(source)
    digest = hashlib.sha256(b"critic-folder-v1")
    for path in sorted(p for p in source.rglob("*.txt") if _size_limit(p.as_posix())):
        stat = path.stat()
        digest.update(f"{path.relative_to(source).as_posix()}\0{stat.st_size}\0"
                      f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _iter_archive(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            for member in archive:
                _refuse_unsafe(member, path)
                if member.isfile() and _size_limit(member.name):
                    _check_size(member.name, member.size, path)  # before reading it
                    handle = archive.extractfile(member)
                    yield member.name, handle.read() if handle else b""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(
            f"{path} is truncated or not a gzip-compressed tar archive ({exc}); "
            "delete it and download aclImdb_v1.tar.gz again, or give the path of a good copy",
            parameter="data") from exc


def _refuse_unsafe(member: tarfile.TarInfo, archive: Path) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DataError(f"{archive} contains {member.name!r}, which would escape the data "
                        "folder; refusing to read this archive")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive} contains {member.name!r}, which is a link or special file; "
                        "refusing to read this archive")


def _size_limit(name: str) -> int:
    """The most bytes the member ``name`` may have: a review's, a movie list's, or 0 for a
    file that is not read."""
    if _REVIEW.search(name):
        return MAX_REVIEW_BYTES
    return MAX_MOVIE_LIST_BYTES if _MOVIE_LIST.search(name) else 0


def _check_size(name: str, size: int, source: Path) -> None:
    limit = _size_limit(name)
    if size > limit:
        kind = "review" if limit == MAX_REVIEW_BYTES else "movie list"
        raise DataError(f"{name} in {source} is {size:,} bytes; no IMDB {kind} is over "
                        f"{limit:,}: this is not the aclImdb data")


def _iter_folder(root: Path) -> Iterator[tuple[str, bytes]]:
    base = root / "aclImdb" if (root / "aclImdb").is_dir() else root
    for folder in (*base.glob("*"), *base.glob("*/*")):  # the glob below follows their links
        if folder.is_symlink() and folder.is_dir():
            raise DataError(f"{folder} is a symbolic link; refusing to follow links in the data")
    for path in sorted([*base.glob("*/*/*.txt"), *base.glob("*/urls_*.txt")]):
        name = path.relative_to(base).as_posix()
        if limit := _size_limit(name):
            yield name, read_regular(path, follow_links=False, max_bytes=limit)


def _check_counts(found: Counter[str], source: Path, expected: dict[str, int]) -> None:
    wrong = [f"{key}: {found.get(key, 0):,} (expected {want:,})"
             for key, want in expected.items() if found.get(key, 0) != want]
    wrong += [f"{key}: {n:,} (expected none)" for key, n in found.items() if key not in expected]
    if wrong:
        raise DataError(f"{source} does not have the aclImdb layout: reviews per folder — "
                        + "; ".join(wrong) + ". Use the official aclImdb_v1.tar.gz")
