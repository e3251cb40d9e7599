"""Read reviews from an aclImdb archive or folder, safely and without extracting anything.

Layout (Maas et al., 2011): ``aclImdb/{train,test}/{pos,neg}/ID_RATING.txt`` and
``aclImdb/train/unsup/ID_0.txt``. Other files (README, vocab, ``.feat``) are ignored.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from critic.errors import DataError

#: Reviews per folder in the official release; a local copy is accepted if it has exactly these.
IMDB_COUNTS: dict[str, int] = {
    "train/pos": 12_500, "train/neg": 12_500,
    "test/pos": 12_500, "test/neg": 12_500,
    "train/unsup": 50_000,
}
_REVIEW = re.compile(r"(?:^|/)(train|test)/(pos|neg|unsup)/(\d+)_(\d+)\.txt$")


@dataclass(frozen=True)
class RawReview:
    """One review file: where it sits in the layout, and its decoded text."""

    split: str  # "train" | "test" | "unsup"
    label: int  # 1 positive, 0 negative, -1 unlabelled
    review_id: int
    rating: int  # 1-10 stars, 0 for unlabelled
    text: str


def read_reviews(source: Path, *, expected: dict[str, int] | None = None) -> list[RawReview]:
    """Parse every review in ``source`` (``.tar.gz`` or folder) and check the folder counts.

    Args:
        source: an ``aclImdb_v1.tar.gz`` archive, an ``aclImdb`` folder, or its parent.
        expected: reviews expected per ``split/label`` folder; defaults to :data:`IMDB_COUNTS`.
    """
    members = _iter_folder(source) if source.is_dir() else _iter_archive(source)
    reviews = [_parse(name, raw, source) for name, raw in members]
    reviews = [r for r in reviews if r is not None]
    _check_counts(reviews, source, IMDB_COUNTS if expected is None else expected)
    return reviews


def fingerprint(source: Path) -> str:
    """SHA-256 of an archive; for a folder, of its review files' names, sizes and times."""
    if not source.is_dir():
        from critic.datasets.fetch import sha256_file

        return sha256_file(source)
    digest = hashlib.sha256(b"critic-folder-v1")
    for path in sorted(p for p in source.rglob("*.txt") if _REVIEW.search(p.as_posix())):
        stat = path.stat()
        digest.update(f"{path.relative_to(source).as_posix()}\0{stat.st_size}\0"
                      f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _iter_archive(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            for member in archive:
                _refuse_unsafe(member, path)
                if member.isfile() and _REVIEW.search(member.name):
                    handle = archive.extractfile(member)
                    yield member.name, handle.read() if handle else b""
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(
            f"{path} is truncated or not a gzip-compressed tar archive ({exc}); "
            "delete it and download aclImdb_v1.tar.gz again, or point --data at a good copy"
        ) from exc


def _refuse_unsafe(member: tarfile.TarInfo, archive: Path) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DataError(f"{archive} contains {member.name!r}, which would escape the data "
                        "folder; refusing to read this archive")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive} contains {member.name!r}, which is a link or special file; "
                        "refusing to read this archive")


def _iter_folder(root: Path) -> Iterator[tuple[str, bytes]]:
    base = root / "aclImdb" if (root / "aclImdb").is_dir() else root
    for path in sorted(base.glob("*/*/*.txt")):
        name = path.relative_to(base).as_posix()
        if not _REVIEW.search(name):
            continue
        if path.is_symlink():
            raise DataError(f"{path} is a symbolic link; refusing to follow links in the data")
        yield name, path.read_bytes()


def _parse(name: str, raw: bytes, source: Path) -> RawReview | None:
    match = _REVIEW.search(name)
    if match is None:
        return None
    split, folder, review_id, rating = match.groups()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} in {source} is not valid UTF-8 (byte {exc.start}); the copy "
                        "is damaged: download aclImdb_v1.tar.gz again") from exc
    label = {"pos": 1, "neg": 0, "unsup": -1}[folder]
    return RawReview("unsup" if folder == "unsup" else split, label, int(review_id),
                     int(rating), text)


def _check_counts(reviews: list[RawReview], source: Path, expected: dict[str, int]) -> None:
    found: dict[str, int] = dict.fromkeys(expected, 0)
    for review in reviews:
        folder = {1: "pos", 0: "neg", -1: "unsup"}[review.label]
        key = f"{'train' if review.split == 'unsup' else review.split}/{folder}"
        found[key] = found.get(key, 0) + 1
    wrong = [f"{key}: {found.get(key, 0):,} (expected {want:,})"
             for key, want in expected.items() if found.get(key, 0) != want]
    wrong += [f"{key}: {n:,} (expected none)" for key, n in found.items() if key not in expected]
    if wrong:
        raise DataError(f"{source} does not have the aclImdb layout: reviews per folder — "
                        + "; ".join(wrong) + ". Use the official aclImdb_v1.tar.gz")
