"""``critic serve``: uvicorn with an HTTP protocol that holds up against careless and hostile
clients.

uvicorn's httptools protocol, with four changes, each for a way the service could be held
hostage or answer outside its JSON error shape:

- the request line and headers are capped (431), as uvicorn does not cap them;
- they must arrive within the read timeout (408), so a client that connects, or starts a
  request, and then waits holds nothing for long;
- a request that is not HTTP gets the JSON error shape (400), not plain text;
- on SIGTERM no request a client has sent is reset: the connections waiting in the listen
  backlog are taken in, a fresh connection or one whose request is arriving keeps its read
  timeout, an idle one is given a moment to deliver a request already sent; each is answered
  and closed, requests in progress finish (up to the graceful timeout) and new connections
  are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from critic._startup import freeze_heap
from critic.bundle import bundle_bytes
from critic.errors import ConfigError, check_positive
from critic.predict import load
from critic.serve.app import create_app
from critic.serve.guard import GuardMiddleware, error_body, route
from critic.serve.limits import Limits

log = logging.getLogger("critic.serve")
_DRAIN_IDLE = 0.5  # seconds an idle connection may still deliver a request after SIGTERM
_REASONS = {400: b"Bad Request", 408: b"Request Timeout",
            431: b"Request Header Fields Too Large", 501: b"Not Implemented"}
_WORKER_BYTES = 250_000_000  # a worker's memory beside its model (Python, NumPy, the app)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits, read timeouts, JSON protocol errors and
    a draining shutdown (see the module docstring)."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._header_bytes = self._pending_header_bytes = 0
        self._in_headers = False
        self._headers_too_large = False
        self._refusal: tuple[int, str, str] | None = None
        self._draining = False
        self._timer: asyncio.TimerHandle | None = None

    # A timer runs from the connection's start, and from each request's first byte, until
    # the request's headers are complete.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self._headers_timed_out, self.limits.read_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes, self._in_headers = 0, True
        self._pending_header_bytes = 0
        self._arm(self._headers_timed_out, self.limits.read_timeout)

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._headers_too_large = True
            raise _HeadersTooLarge  # stops the parser; uvicorn then calls send_400_response

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._check_transfer_coding()
        self._disarm()
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answer this one, then close

    def _check_transfer_coding(self) -> None:
        """Only ``chunked`` alone, and only in HTTP/1.1, is a body framing this server reads:
        another coding (``gzip, chunked``) would reach the application still encoded, and
        HTTP/1.0 has no chunked framing. Both are 501 (RFC 9112, section 6.1)."""
        codings = [c.strip().lower() for name, value in self.headers
                   if name == b"transfer-encoding" for c in value.decode("latin-1").split(",")]
        if not codings:
            return
        if codings != ["chunked"]:
            self._refusal = (501, "not_implemented", "the transfer coding "
                             f"{', '.join(codings)!r} is not supported: send the body with "
                             "Content-Length or as plain chunked")
        elif self.parser.get_http_version() == "1.0":
            self._refusal = (501, "not_implemented", "a chunked body needs HTTP/1.1; with "
                             "HTTP/1.0 send Content-Length")
        else:
            return
        raise _Refused  # stops the parser; uvicorn then calls send_400_response

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():
            # The parser holds a header until it is complete, so the callbacks cannot see one
            # that never ends: count what is fed while the headers are incomplete (for the
            # tail of a pipelined request's body in the same read, a safe over-count).
            self._pending_header_bytes += len(data)
            if self._pending_header_bytes > self.limits.max_header_bytes:
                self._headers_too_large = True
                self.send_400_response("")
        else:
            self._pending_header_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:
            self._reject(*self._refusal)
        elif self._headers_too_large:
            self._reject(431, "headers_too_large", "the request line and headers are larger "
                         f"than {self.limits.max_header_bytes:,} bytes")
        else:
            self._reject(400, "bad_request", "the request is not valid HTTP/1.1")

    def shutdown(self) -> None:
        self._draining = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        elif self.cycle is None or self._in_headers:
            # A request is arriving, or a fresh connection's first one has not been read yet
            # (its client connected to send one): the read timeout armed for its headers
            # still runs, and the answer will close the connection.
            pass
        else:
            # Idle after an answer, as far as we have read: the client may have sent another
            # request just before the signal, still in the socket's buffer. Closing now
            # would reset it.
            self._arm(self._close_if_idle, _DRAIN_IDLE)

    def _close_if_idle(self) -> None:
        if not self._in_headers and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()

    def _headers_timed_out(self) -> None:  # armed only while headers are awaited
        self._reject(408, "request_timeout", "the request did not arrive within "
                     f"{self.limits.read_timeout:g} s")

    def _reject(self, status: int, code: str, message: str) -> None:
        """Answer a request the application never saw, then close the connection."""
        self._disarm()
        if self.transport.is_closing():
            return
        body = error_body(code, message)
        guard = _guard_of(self.app)
        if guard is not None:  # counted as every answer is (/metrics)
            path = self.url.decode("latin-1").partition("?")[0] if self.url else ""
            guard.metrics.observe("-", route(path) if path else "other", status, 0.0)
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                             % (status, _REASONS[status], len(body), body))
        self.transport.close()

    def _arm(self, callback: Any, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _HeadersTooLarge(Exception):
    pass


class _Refused(Exception):
    pass


def _guard_of(app: Any) -> GuardMiddleware | None:
    """The guard inside the middleware uvicorn wraps the application in."""
    for _ in range(8):
        if isinstance(app, GuardMiddleware):
            return app
        app = getattr(app, "app", None)
    return None


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but on shutdown the connections the kernel has already accepted
    for it (its listen backlog, whose clients have sent their requests) are taken in and
    answered before the listening socket closes, instead of being reset with it."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self._take_in_waiting_connections()
        await super().shutdown(sockets)

    async def _take_in_waiting_connections(self) -> None:
        loop = asyncio.get_running_loop()
        # The factory uvicorn's own start-up builds for its listening sockets.
        protocol_class: Any = self.config.http_protocol_class
        protocol = functools.partial(protocol_class, config=self.config,
                                     server_state=self.server_state,
                                     app_state=self.lifespan.state)
        waiting = [connection for server in self.servers for listening in server.sockets
                   for connection in _accept_all(listening.fileno())]
        # Stop listening before anything awaits: a connection the kernel completes between
        # the last accept and the close would be reset with the backlog.
        for server in self.servers:
            server.close()
        await asyncio.gather(*(loop.connect_accepted_socket(protocol, connection)
                               for connection in waiting), return_exceptions=True)


def _accept_all(fd: int) -> list[socket.socket]:
    """Every connection waiting on the listening socket ``fd``, without blocking."""
    accepted: list[socket.socket] = []
    with socket.socket(fileno=os.dup(fd)) as listening:
        listening.setblocking(False)
        while True:
            try:
                connection, _ = listening.accept()
            except OSError:  # none left (BlockingIOError), or the socket is gone
                return accepted
            connection.setblocking(False)
            accepted.append(connection)


def app_from_environment() -> Any:
    """Factory for ``uvicorn --factory`` worker processes: the bundle and limits come from
    ``CRITIC_SERVE_BUNDLE`` and ``CRITIC_SERVE_LIMITS`` (JSON), set by :func:`run`."""
    limits = Limits(**json.loads(os.environ.get("CRITIC_SERVE_LIMITS", "{}")))
    try:
        predictor = load(os.environ["CRITIC_SERVE_BUNDLE"])
    except Exception as exc:  # any reason: respawning cannot mend it
        # The supervisor would start another worker that fails the same way, again and
        # again, while the others answer ready: stop the service instead, and say why.
        log.error("critic serve: a worker cannot load the model (%s); stopping the service",
                  exc)
        os.kill(os.getppid(), signal.SIGTERM)
        raise SystemExit(1) from None
    app = create_app(predictor, limits)
    freeze_heap()
    return app


def run(bundle: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000,
        workers: int = 1, limits: Limits | None = None) -> None:
    """Serve ``bundle`` with uvicorn until stopped (what ``critic serve`` does)."""
    import dataclasses

    limits = limits or Limits()
    check_positive("workers", workers)
    if not 1 <= port <= 65_535:
        raise ConfigError(f"`port` must be between 1 and 65535. Received: port={port}",
                          parameter="port")
    predictor = load(bundle)  # refuse to start on a missing or damaged bundle
    _check_workers(workers, Path(bundle))
    _check_address(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s, reachable from other machines", host)
    options: dict[str, Any] = {
        "host": host, "port": port, "log_level": "info",
        "http": functools.partial(GuardedHttpProtocol, limits=limits),
        "timeout_graceful_shutdown": limits.graceful_timeout_s}
    if workers == 1:
        app = create_app(predictor, limits)
        freeze_heap()
        DrainingServer(uvicorn.Config(app, **options)).run()
        return
    # Worker processes run uvicorn's own server: each drains its connections, but the
    # listen backlog they share is not taken in before it closes.
    os.environ["CRITIC_SERVE_LIMITS"] = json.dumps(dataclasses.asdict(limits))
    with _shared_metrics_folder(), _private_copy(Path(bundle)) as copy:
        # Every worker, a respawned one too, loads this copy of the bundle as it was checked
        # at start: the same model in all, whatever happens to the folder meanwhile.
        os.environ["CRITIC_SERVE_BUNDLE"] = str(copy)
        uvicorn.run("critic.serve.server:app_from_environment", factory=True,
                    workers=workers, **options)


def _check_workers(workers: int, bundle: Path) -> None:
    """Refuse more workers than the cores, or than the memory holds (each loads the model)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    model = bundle_bytes(bundle)
    each = _WORKER_BYTES + 2 * model
    available = _available_memory()
    fit = max(1, available // each) if available else workers
    limit = min(cores, fit)
    if workers > limit:
        reason = (f"{cores} core{'s' * (cores > 1)}" if cores <= fit else
                  f"{available / 1e9:.1f} GB of free memory holds {fit} of ~{each / 1e6:,.0f} MB")
        raise ConfigError(f"`workers` must be at most {limit} on this machine ({reason}). "
                          f"Received: workers={workers}", parameter="workers")


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0  # unknown: only the cores bound the workers


def _check_address(host: str, port: int) -> None:
    """Bind ``host:port`` once before saying anything, so a host that is not an address of
    this machine, or a port in use, is a one-line error (exit 2), not uvicorn's."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"`host` {host!r} is not an address ({exc})", parameter="host"
                          ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(f"cannot serve on {host}:{port}: {exc.strerror or exc}",
                              parameter="host") from None


@contextlib.contextmanager
def _private_copy(bundle: Path) -> Iterator[Path]:
    """A copy of the bundle's files (hard links where the file system allows), removed at
    the end."""
    with tempfile.TemporaryDirectory(prefix="critic-serve-") as folder:
        copy = Path(folder) / bundle.name
        copy.mkdir()
        for source in bundle.iterdir():
            if source.is_file():
                try:
                    os.link(source, copy / source.name)
                except OSError:
                    shutil.copy2(source, copy / source.name)
        yield copy


@contextlib.contextmanager
def _shared_metrics_folder() -> Iterator[None]:
    """Where the workers keep their metrics so any of them can report all (prometheus_client's
    multiprocess mode): the user's ``PROMETHEUS_MULTIPROC_DIR`` if set, else a fresh folder
    removed at the end (one left from an earlier run would add its counts to this one's)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="critic-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
