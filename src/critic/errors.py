"""Every error a user can cause, in one hierarchy under :class:`CriticError`.

Messages say what is wrong and how to fix it in the library's own terms (parameter names,
paths). An error may name the ``parameter`` it is about; the command line turns that into its
option (``validation_size`` → ``--validation-size``), so the library never speaks of flags.
The CLI prints every :class:`CriticError` as one line and exits 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import os
from typing import Any


class CriticError(Exception):
    """A problem the user can fix: the message says what is wrong and how to fix it.

    Args:
        message: what is wrong and how to fix it.
        parameter: the argument of the library call the problem is about, if one is.
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class DataError(CriticError, ValueError):
    """A data source or input file is missing, corrupt, hostile or laid out wrongly."""


class ConfigError(CriticError, ValueError):
    """A hyper-parameter or option has an impossible value."""


class BundleError(CriticError):
    """A model bundle is missing, damaged, or made by an incompatible critic."""


class ClusterError(CriticError):
    """The cluster cannot be reached, or its work failed; the message says which and why."""


class ModeError(ConfigError):
    """A model family was asked to train in a mode it cannot (in memory, streamed, on a
    cluster): refused, never routed elsewhere."""


class ReportError(CriticError):
    """A folder holds no results critic knows how to report on."""


class OutputError(CriticError):
    """An output (file, bundle, run folder) cannot be written where it was asked for."""


class OutputExistsError(OutputError, FileExistsError):
    """The output exists already and replacing it was not asked for."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(f"{path} exists already; choose another path or allow replacing it",
                         parameter="overwrite")
        self.path = path


def check_positive(name: str, value: Any) -> None:
    """Refuse anything but a positive integer, with a Keras-style message."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


class CriticWarning(UserWarning):
    """Something done that the user should know of, without stopping the work (files of a
    folder skipped); the command line prints it as one ``critic: warning:`` line."""
