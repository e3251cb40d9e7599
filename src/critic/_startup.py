"""Start-up costs: run one function in a forked child while the parent imports PyTorch, and
keep the garbage collector off what was imported.

``critic reproduce`` spends about a second importing PyTorch and half a second loading the
book's matrices; neither needs the other, and threads cannot overlap them (both hold the GIL).
A child forked before PyTorch is imported loads the data meanwhile and sends it back through a
pipe. Where ``fork`` does not exist the function simply runs when its result is asked for.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from critic.errors import CriticError

T = TypeVar("T")


@contextlib.contextmanager
def in_child(function: Callable[..., T], *args: Any) -> Iterator[Callable[[], T]]:
    """Start ``function(*args)`` in a forked child; inside the block, call the function it
    gives for the result (exceptions raised in the child are raised again in the parent).
    Leaving the block ends a child whose result was never asked for: a parent that failed
    first (the run folder exists) would leave it blocked on the pipe for good, holding the
    data it loaded."""
    if "fork" not in multiprocessing.get_all_start_methods():
        yield lambda: function(*args)
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_run, args=(sender, function, args), daemon=True)
    process.start()
    sender.close()
    try:
        yield _receiver(function, process, receiver)
    finally:
        receiver.close()
        if process.is_alive():
            # SIGKILL: the child holds nothing to clean up, and it inherited the parent's
            # Python signal handlers (the CLI's turn SIGTERM into an exception, which the child
            # would try to send back through the pipe it is blocked on).
            process.kill()
        process.join()


def _receiver(function: Callable[..., T], process: Any, receiver: Connection
              ) -> Callable[[], T]:

    def result() -> T:
        try:
            failed, value = receiver.recv()
        except EOFError:
            raise CriticError(f"the process running {function.__name__} ended without a "
                              f"result (exit code {process.exitcode})") from None
        finally:
            process.join()
        if failed:
            raise value
        return cast(T, value)

    return result


def _run(sender: Connection, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        sender.send((False, function(*args)))
    except BaseException as exc:  # every failure goes back to the parent
        try:
            sender.send((True, exc))
        except Exception:  # an exception that does not pickle
            sender.send((True, CriticError(traceback.format_exc(limit=3))))
    finally:
        sender.close()


def freeze_heap() -> None:
    """Move everything loaded so far (PyTorch alone: ~half a million objects) out of the
    garbage collector's sight, so later collections (and the one at exit, -0.2 s; or one
    during a request, in the tail latency) stop walking it. Entry points call it, never the
    library, so an application that embeds critic keeps its collector as it was."""
    gc.collect()
    gc.freeze()
