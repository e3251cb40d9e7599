"""critic._startup: work done in a forked child comes back, and so do its failures."""

from __future__ import annotations

import multiprocessing
import os

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


def big(size: int) -> bytes:
    return bytes(size)  # more than a pipe holds: the child blocks until it is read


def test_a_child_whose_result_is_never_asked_for_is_ended() -> None:
    """A parent that fails before asking (``critic reproduce`` into a run folder that exists)
    must not leave the child blocked on the pipe, holding what it loaded."""
    with pytest.raises(DataError, match="the parent failed first"), \
            prefetch.in_child(big, 10_000_000):
        process = next(p for p in multiprocessing.active_children())
        raise DataError("the parent failed first")
    process.join(timeout=10)
    assert not process.is_alive()
