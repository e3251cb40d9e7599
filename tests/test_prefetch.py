"""critic._startup: work done in a forked child comes back, and so do its failures."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

from critic import _startup as prefetch
from critic.errors import CriticError, DataError


def square_and_pid(values: np.ndarray) -> tuple[np.ndarray, int]:
    return values ** 2, os.getpid()


def fail(message: str) -> None:
    raise DataError(message)


class Unpicklable(Exception):
    def __reduce__(self) -> str:
        raise TypeError("no pickling")


def fail_unpicklably() -> None:
    raise Unpicklable("lambda inside")


def test_result_comes_back_from_another_process() -> None:
    with prefetch.in_child(square_and_pid, np.arange(5)) as child:
        result, pid = child()
    assert np.array_equal(result, [0, 1, 4, 9, 16])
    assert pid != os.getpid()


def test_failures_are_raised_again_in_the_parent() -> None:
    with pytest.raises(DataError, match="no such archive"), \
            prefetch.in_child(fail, "no such archive") as failing:
        failing()
    with pytest.raises(CriticError, match="Unpicklable"), \
            prefetch.in_child(fail_unpicklably) as failing:
        failing()


def test_without_fork_the_work_runs_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with prefetch.in_child(square_and_pid, np.arange(3)) as child:
        result, pid = child()
    assert pid == os.getpid() and np.array_equal(result, [0, 1, 4])


_PARENT_THAT_FAILS_FIRST = """
import multiprocessing, signal, sys
from critic._startup import in_child

def interrupt(signum, frame):  # as the CLI does: SIGTERM raises (and the child inherits it)
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, interrupt)
try:
    with in_child(bytes, 10_000_000):  # more than a pipe holds: the child blocks sending it
        print(multiprocessing.active_children()[0].pid, flush=True)
        raise RuntimeError("the parent failed first")
except RuntimeError:
    pass
"""


def test_a_child_whose_result_is_never_asked_for_is_ended() -> None:
    """A parent that fails before asking (``critic reproduce`` into a run folder that exists)
    must not leave the child blocked on the pipe, holding what it loaded, nor wait for it."""
    done = subprocess.run([sys.executable, "-c", _PARENT_THAT_FAILS_FIRST], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with pytest.raises(ProcessLookupError):  # ended (and reaped), not left blocked
        os.kill(int(done.stdout), 0)
