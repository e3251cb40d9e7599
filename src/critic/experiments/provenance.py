"""What produced a result: the command line and the versions of the libraries that computed it."""

from __future__ import annotations

import platform
import shlex
import sys
from importlib import metadata


def command_line() -> str:
    """The command as the user typed it (``critic …``), for the record."""
    return shlex.join(["critic", *sys.argv[1:]])


def environment() -> dict[str, str]:
    """Python, platform and the versions of the packages that do the work."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("critic", "numpy", "scipy", "torch", "pyarrow", "scikit-learn",
                    "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
