"""The command line's process: its signals, the library's warnings and closed standard
streams, so that every way a command can end gives one line and an exit code."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import typer
from typer.exceptions import TyperException

from critic.errors import CriticError, CriticWarning, DataError

#: The signal that stopped the command, if one did (see :func:`signals_as_interrupts`).
_STOPPED_BY: list[int] = []


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C's KeyboardInterrupt would be, so that the same
    clean-up runs (temporary outputs removed, spill folders deleted)."""

    def __init__(self, number: int) -> None:
        super().__init__(signal.Signals(number).name)
        self.signal = number


@contextlib.contextmanager
def signals_as_interrupts(argv: list[str]) -> Iterator[None]:
    """SIGTERM and SIGHUP handled as Ctrl-C is, for the duration of a command (in the main
    thread only: where Python delivers signals). ``serve`` keeps uvicorn's own handling (it
    drains the requests in flight on SIGTERM)."""
    _STOPPED_BY.clear()
    if argv[:1] == ["serve"] or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number: int, frame: object) -> None:
        _STOPPED_BY[:] = [number]  # typer keeps only the exit code, 130
        raise _Terminated(number)

    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {number: signal.signal(number, interrupt) for number in wanted}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def exit_status(command: Callable[[], object], argv: list[str], *,
                flag_of: Callable[[str], str]) -> int:
    """Run ``command``, the parsed command line ``argv``, and return its exit code: 0, or
    the code it returns; a user's error (every :class:`~critic.errors.CriticError`) is one
    line on stderr, with the option to look at (``flag_of`` the error's parameter), and 2; a
    usage error Typer's message and 2; a failing system (a full disk, a closed stdout) 1;
    an interrupt 130, or 128 + the signal that stopped it; a reader that went away 141."""
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        sys.stdout = ClosedStream("standard output")
    try:
        with warnings_as_lines(), signals_as_interrupts(argv):
            code = command()
        sys.stdout.flush()  # a full disk shows here, while it can still be reported
    except CriticError as exc:
        hint = f" (see {flag_of(exc.parameter)})" if exc.parameter else ""
        complain(f"critic: error: {exc}{hint}")  # one line, grep-able
        return 2
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except TyperException as exc:  # usage errors: the message and their exit code (2)
        exc.show()  # type: ignore[attr-defined]
        return int(exc.exit_code)
    except BrokenPipeError:  # the reader went away (`critic predict … | head`)
        silence_stdout()
        return 141
    except OSError as exc:
        silence_stdout()
        where = f" ({exc.filename})" if exc.filename else ""
        complain(f"critic: error: {exc.strerror or exc}{where}")
        return 1
    return interrupted() if code == 130 else code if isinstance(code, int) else 0


def interrupted() -> int:
    """The exit code of a command that was interrupted, saying why on stderr: 128 + the
    signal that stopped it, or 130 for Ctrl-C."""
    if _STOPPED_BY:
        number = _STOPPED_BY.pop()
        complain(f"critic: stopped by {signal.Signals(number).name}")
        return 128 + number
    complain("critic: interrupted")  # click turns Ctrl-C into 130 without a word
    return 130


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
    """The library's :class:`~critic.errors.CriticWarning` as one ``critic: warning:`` line
    each on stderr (every time: two commands run in one process both warn)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always", CriticWarning)
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *args: Any,
                 **kwargs: Any) -> None:
            if issubclass(category, CriticWarning):
                complain(f"critic: warning: {message}")
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def stdin_bytes() -> BinaryIO:
    """Standard input as bytes; a closed one (``<&-``) is a DataError."""
    if sys.stdin is None:
        raise DataError("stdin is closed: there are no reviews to read from '-'",
                        parameter="input")
    return sys.stdin.buffer


class ClosedStream(io.TextIOBase):
    """Stands in for a closed standard stream: writing to it is an error that says so."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed; give --output or open it")


def silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what could not be
    written does not fail again on the way out."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def complain(message: str) -> None:
    """One line on stderr, if there is one."""
    if sys.stderr is not None:
        print(message, file=sys.stderr)
