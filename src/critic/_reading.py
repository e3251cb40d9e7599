"""Reading only what was meant to be read.

A path a user or a bundle names may be a FIFO (reading it hangs), a device (``/dev/zero``
never ends), a folder, or a symbolic link out of the folder it appears in. Files are opened
without blocking and checked on the open descriptor (no window between the check and the
read), and read no further than their expected size.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from critic.errors import CriticError, DataError

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def require_file_or_folder(path: Path, *, error: type[CriticError] = DataError,
                           parameter: str | None = None) -> None:
    """Refuse ``path`` (links followed: the user named it) unless it is a regular file or a
    folder."""
    mode = path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise error(f"{path} is {kind_of(mode)}, not a regular file or folder; give a file "
                    "or a folder", parameter=parameter)


def read_regular(path: Path, *, error: type[CriticError] = DataError,
                 follow_links: bool = True, size: int | None = None,
                 max_bytes: int | None = None) -> bytes:
    """The bytes of ``path``, refused with ``error`` unless it is a regular file (and not a
    link, unless ``follow_links``), of exactly ``size`` bytes and at most ``max_bytes``."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise error(f"{path} is a symbolic link; refusing to follow it") from None
        raise error(f"{path} cannot be read ({exc.strerror})") from None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise error(f"{path} is {kind_of(found.st_mode)}, not a regular file")
        if size is not None and found.st_size != size:
            raise error(f"{path} is {found.st_size:,} bytes, not the {size:,} recorded for it")
        if max_bytes is not None and found.st_size > max_bytes:
            raise error(f"{path} is {found.st_size:,} bytes, more than the {max_bytes:,} "
                        "such a file may have")
    except BaseException:
        os.close(fd)
        raise
    limit = size if size is not None else max_bytes
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(-1 if limit is None else limit + 1)
    if limit is not None and len(data) > limit:  # it grew while being read
        raise error(f"{path} changed while it was read")
    return data
