"""Joining a Ray cluster (``critic[ray]``), and what its failures look like to a user.

Ray is imported only here, and only when ``--cluster`` is given; without it nothing changes.
:func:`connected` joins a cluster with Ray's own conventions — ``auto`` (``RAY_ADDRESS`` when
set, else the cluster started on this machine by ``ray start --head``), ``HOST:PORT`` (a head
node), ``ray://HOST:10001`` (Ray Client) — or starts one here (``local``). A head that does not
answer is reported in one line within seconds, before Ray's own retries (which wait a minute)
begin. Whatever a job raises on the cluster comes back as one line (:func:`cluster_error`).

Paths (the bundle, the data, ``--input`` and ``--output``) must be readable by every node
where the work runs: on one machine they are; on a real cluster use shared storage or a URI
(``s3://…``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
from collections.abc import Iterator
from typing import Any

from critic.errors import ClusterError, ConfigError, CriticError

#: Seconds to wait for a head node's port before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0
#: Environment critic's workers need to see as the driver does.
_FORWARDED = ("CRITIC_DATA", "CRITIC_HOME")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--cluster needs Ray: pip install 'critic[ray]'",
                          parameter="cluster") from None
    return ray


@contextlib.contextmanager
def connected(address: str) -> Iterator[Any]:
    """Connect to the Ray cluster at ``address`` (see the module docstring) for the block;
    yields the ``ray`` module. ``local`` starts a cluster for the block and stops it after."""
    ray = _ray()
    target = _resolve(address)
    quiet()
    if target not in ("local", "auto"):
        _check_reachable(target)
    # "local" starts a new cluster even beside a running one (no address would join it).
    options: dict[str, Any] = {
        "address": target, "log_to_driver": False, "logging_level": logging.ERROR,
        "runtime_env": {"env_vars": {k: os.environ[k] for k in _FORWARDED if k in os.environ}}}
    if target == "local":
        options |= {"num_cpus": os.cpu_count() or 1, "include_dashboard": False}
    try:
        with _own_signal_handlers():
            ray.init(**options)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, its own errors
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: "
                           f"{first_line(innermost(exc))}", parameter="cluster") from None
    try:
        yield ray
    except ray.exceptions.RayError as exc:  # an actor, a node or the cluster went away mid-job
        raise cluster_error(exc) from None
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _own_signal_handlers() -> Iterator[None]:
    """Keep the handlers of SIGTERM and SIGHUP that were set before the block: ``ray.init``
    sets its own, which exit with status 15 and a stack dump instead of the command's
    interrupt (its clean-up, its one line, 128 + the signal)."""
    import signal
    import threading

    wanted = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    before = {number: signal.getsignal(number) for number in wanted}
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for number, handler in before.items():
                if handler is not None:
                    signal.signal(number, handler)


@contextlib.contextmanager
def connected_or_none(address: str | None) -> Iterator[Any]:
    """:func:`connected` to ``address`` for the block; ``None`` without an address."""
    if address is None:
        yield None
        return
    with connected(address) as ray:
        yield ray


def quiet() -> None:
    """Ray's own log lines would bury critic's one-line answers: errors come back to the
    driver as exceptions, and critic reports them."""
    for name in ("ray", "ray.data", "ray.train"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _resolve(address: str) -> str:
    """``auto`` is ``RAY_ADDRESS`` when that is set, as for Ray's own tools."""
    address = address.strip()
    if not address:
        raise ConfigError("--cluster needs an address: auto, local, HOST:PORT or "
                          "ray://HOST:10001", parameter="cluster")
    if address == "auto":
        return os.environ.get("RAY_ADDRESS", "").strip() or "auto"
    return address


def _check_reachable(address: str) -> None:
    """Refuse a head node whose port does not answer within :data:`CONNECT_TIMEOUT_S`."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--cluster {address!r} is not auto, local, HOST:PORT or "
                          "ray://HOST:PORT", parameter="cluster")
    try:
        socket.create_connection((host.strip("[]"), int(port)),
                                 timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({reason}): start "
                           "one there with `ray start --head`, or use --cluster local",
                           parameter="cluster") from None


def cluster_error(exc: BaseException) -> CriticError:
    """What the cluster raised, as one line: critic's own error when an actor raised one,
    else the first line of the innermost cause (Ray wraps it in several layers), with a
    failed worker's own cause when Ray's line only announces it."""
    deepest = innermost(exc)
    if isinstance(deepest, CriticError):
        return deepest
    # Ray Train keeps what each worker raised by rank.
    failures = getattr(exc, "worker_failures", None) or {}
    for failure in failures.values():
        if isinstance(cause := innermost(failure), CriticError):
            return cause
    # Ray Data re-raises a worker's error as text inside its own exception (coloured when Ray
    # thinks it writes to a terminal): critic's own message is the line that names critic's
    # error class.
    found = _CRITIC_ERROR.findall(_ANSI.sub("", str(exc)))
    if found:
        return ClusterError(found[-1].strip())
    if failures:  # Ray's own line only says "Training failed due to worker errors:"
        rank, failure = next(iter(failures.items()))
        return ClusterError(f"the job failed on the cluster: worker {rank}: "
                            f"{first_line(innermost(failure))}")
    return ClusterError(f"the job failed on the cluster: {first_line(deepest)}")


_CRITIC_ERROR = re.compile(r"^\s*critic\.errors\.\w+: (.+)$", re.MULTILINE)
#: Terminal colour and cursor codes, which Ray puts in the tracebacks it forwards.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def innermost(exc: BaseException) -> BaseException:
    """The deepest of critic's own errors in ``exc``'s chain of causes, else the last cause.

    Ray wraps what a worker raised in several layers (``cause``, ``__cause__``), and its
    outer layer may itself be of the worker's error class (``RayTaskError(DataError)``, whose
    message is the whole remote traceback): the deepest one carries critic's own message."""
    seen: set[int] = set()
    current: BaseException | None = exc
    last, critics = exc, []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CriticError):
            critics.append(current)
        last = current
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return critics[-1] if critics else last


def first_line(exc: BaseException) -> str:
    """The first line of what ``exc`` says, without terminal codes; a line that only
    announces what follows (ending in a colon) is joined with the next."""
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def gather(ray: Any, refs: list[Any]) -> list[Any]:
    """``ray.get`` with what the actors raised turned into one line."""
    try:
        return list(ray.get(refs))
    except Exception as exc:
        raise cluster_error(exc) from None
