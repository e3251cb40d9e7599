"""Atomic writes: write under a temporary name in the target's folder, then rename.

A reader never sees a half-written file or folder, and a failure leaves what was there before.
:func:`claim_output` checks a target before any work is done, the same way for every command:
an existing target is replaced only when asked, and only if it is a regular file or a real
folder (never a link, device or pipe), and the folder it goes in must be writable.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from critic.errors import OutputError, OutputExistsError


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    write_bytes(target, text.encode("utf-8"))


def write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically; a failure (a full disk, a read-only folder)
    is an :class:`OutputError` and leaves what was there."""
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc


def write_json(target: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    write_text(target, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_csv(target: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts with the same keys) as CSV with a header, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(target, buffer.getvalue())


@contextlib.contextmanager
def atomic_dir(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; it becomes ``target`` only if the block succeeds.

    With ``overwrite`` an existing ``target`` is replaced, but only after the new folder is
    complete, so a failed run never destroys the previous one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the folder the usual mode
    try:
        yield tmp
        if target.exists():
            if not overwrite:
                raise FileExistsError(target)
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def claim_output(target: str | os.PathLike[str], *, overwrite: bool = False,
                 kind: Literal["file", "folder"] = "folder") -> Path:
    """Check that ``target`` can be written, before the work that produces it starts.

    Raises:
        OutputExistsError: it exists and ``overwrite`` is false.
        OutputError: it exists but is not a regular ``kind`` (a link, a device, a pipe, a file
            where a folder is wanted), or its folder cannot be written.
    """
    path = Path(target)
    if path.is_symlink() or path.exists():
        if not overwrite:
            raise OutputExistsError(path)
        regular = path.is_dir() if kind == "folder" else path.is_file()
        if path.is_symlink() or not regular:
            raise OutputError(f"{path} exists and is not a regular {kind}; refusing to replace "
                              "it: choose another path", parameter="output")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: {parent} is not a writable folder; choose "
                          "another path", parameter="output")
    return path


def refuse_overlap(output: str | os.PathLike[str], *,
                   inputs: Iterable[str | os.PathLike[str] | None] = (),
                   bundle: str | os.PathLike[str] | None = None,
                   parameter: str = "output") -> None:
    """Refuse an ``output`` that is, holds or lies inside one of ``inputs`` (files, folders or
    globs; remote URIs are not checked) or the ``bundle`` being read, comparing resolved
    paths (links followed, hard links seen), before anything is written: writing it would
    destroy what the command reads."""
    named = [(source, "the input") for source in inputs if source is not None]
    named += [(bundle, "the bundle")] if bundle is not None else []
    target = os.path.realpath(output)
    for source, what in named:
        for path in _local_paths(str(source)):
            relation = _relation(target, os.path.realpath(path))
            if relation:
                raise OutputError(f"{output} {relation} {what} {path}; writing it would "
                                  "destroy what is being read: choose another path",
                                  parameter=parameter)


def _local_paths(source: str) -> list[str]:
    """The local paths a source names: itself, or what its glob matches."""
    if "://" in source:
        return []
    if glob.has_magic(source):
        return glob.glob(source, recursive=True)
    return [source]


def _relation(target: str, source: str) -> str | None:
    """How ``target`` overlaps ``source`` (both resolved), in words; ``None`` if it does not."""
    if target == source or (os.path.exists(target) and os.path.exists(source)
                            and os.path.samefile(target, source)):
        return "is"
    if target.startswith(source.rstrip("/") + "/"):
        return "lies inside"
    if source.startswith(target.rstrip("/") + "/"):
        return "holds"
    return None


@contextlib.contextmanager
def staged_folder(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """:func:`atomic_dir` with its own failures as :class:`OutputError` (the block's
    exceptions pass through unchanged)."""
    claim_output(target, overwrite=overwrite)
    stage = atomic_dir(target, overwrite=overwrite)
    try:
        tmp = stage.__enter__()
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    try:
        yield tmp
    except BaseException:
        stage.__exit__(*sys.exc_info())
        raise
    try:
        stage.__exit__(None, None, None)
    except FileExistsError as exc:  # it appeared while the work ran
        raise OutputExistsError(target) from exc
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc


def write_folder(target: Path, files: dict[str, bytes], *, overwrite: bool = False) -> Path:
    """Write ``files`` (relative path → content) as the folder ``target``, atomically."""
    with staged_folder(target, overwrite=overwrite) as tmp:
        try:
            for name, content in files.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_bytes(content)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return target
