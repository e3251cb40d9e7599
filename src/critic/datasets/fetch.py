"""Find the IMDB archive: explicit path → ``CRITIC_DATA`` → cache → verified download.

The download goes to a ``.part`` file that is renamed only once its SHA-256 matches the
canonical archive's, so an interrupted or tampered download is never mistaken for the data.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from critic._reading import require_file_or_folder
from critic.errors import DataError

CANONICAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
CANONICAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
_CHUNK = 1 << 20


def critic_home() -> Path:
    """The cache folder: ``$CRITIC_HOME`` or ``~/.cache/critic``."""
    return Path(os.environ.get("CRITIC_HOME") or Path.home() / ".cache" / "critic").expanduser()


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_source(path: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """Return the path of the IMDB data: an archive or an extracted ``aclImdb`` folder.

    Order: ``path`` → ``$CRITIC_DATA`` → ``$CRITIC_HOME/aclImdb_v1.tar.gz`` → download.

    Example:
        >>> resolve_source("../shared/data/aclImdb_v1.tar.gz")  # doctest: +SKIP
    """
    for given, origin in ((path, "the given path"), (os.environ.get("CRITIC_DATA"), "CRITIC_DATA")):
        if given:
            candidate = Path(given).expanduser().resolve()
            if not candidate.exists():
                raise DataError(
                    f"{origin} {str(candidate)!r} does not exist: point it at aclImdb_v1.tar.gz "
                    "or an extracted aclImdb/ folder"
                )
            require_file_or_folder(candidate, parameter="data")  # a FIFO would hang
            return candidate
    cached = critic_home() / ARCHIVE_NAME
    if cached.exists():
        return cached
    if not download:
        raise DataError(
            f"no IMDB data found: give its path, set CRITIC_DATA, or put {ARCHIVE_NAME} in "
            f"{cached.parent}", parameter="data")
    return download_archive(CANONICAL_URL, cached, sha256=CANONICAL_SHA256)


def download_archive(url: str, target: Path, *, sha256: str, progress: bool = True) -> Path:
    """Download ``url`` to ``target`` through a ``.part`` file, verifying its SHA-256."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the cache folder {target.parent}: {exc.strerror}; "
                        "set CRITIC_HOME to a writable folder") from exc
    part = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _progress(enabled=progress) as bar:
                task = bar.add_task(f"downloading {target.name}", total=total)
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.advance(task, len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise DataError(f"could not download {url}: {exc}; check the network, or give the path "
                        "of a local copy of aclImdb_v1.tar.gz", parameter="data") from exc
    if digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise DataError(f"the download from {url} has SHA-256 {digest.hexdigest()}, expected "
                        f"{sha256}; it was deleted. Try again, or give the path of a local copy",
                        parameter="data")
    os.replace(part, target)
    return target


def _progress(*, enabled: bool) -> Progress:
    from rich.console import Console

    return Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), console=Console(file=sys.stderr), transient=True,
        disable=not enabled,
    )
