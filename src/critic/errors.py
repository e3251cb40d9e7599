"""Exception types that carry a message meant for the user.

The CLI turns every :class:`CriticError` into one line on stderr and exit code 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations


class CriticError(Exception):
    """A problem the user can fix: the message says what is wrong and how to fix it."""


class DataError(CriticError, ValueError):
    """A dataset source is missing, corrupt, hostile or laid out wrongly."""


class ConfigError(CriticError, ValueError):
    """A hyper-parameter or option has an impossible value."""


class RunFolderError(CriticError):
    """A run folder cannot be written (exists already, or not writable)."""
