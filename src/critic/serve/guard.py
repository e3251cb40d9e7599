"""What stands between the network and the model: the request's time and size limits, load
shedding, concurrency slots for scoring, and request metrics.

The guard is pure ASGI (no ``BaseHTTPMiddleware``) and reads each request's body itself, under
a size cap and a deadline, before the application sees it. So a client that sends half a body
and waits costs a connection, not a slot; a body larger than the cap is refused while it
streams in (chunked or not); and no error raised while reading can surface as a 500.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from critic.serve.limits import Limits

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Cheap routes answered even under overload, so health checks do not fail a busy service.
_NEVER_SHED = frozenset({"/healthz", "/readyz", "/metrics", "/v2/health/live",
                         "/v2/health/ready"})


def error_body(code: str, message: str, *, path: str = "", method: str = "") -> bytes:
    """The JSON an error answer carries, in the shape of the route's protocol: the open
    inference protocol's ``{"error": message}`` under ``/v2``, Hugging Face's ``{"error":
    message, "error_type": code}`` for ``POST /``, else ``{"error": {"code", "message"}}``."""
    if path == "/v2" or path.startswith("/v2/"):
        return json.dumps({"error": message}).encode()
    if path == "/" and method == "POST":
        return json.dumps({"error": message, "error_type": code}).encode()
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_messages(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None, *, path: str = "",
                   method: str = "") -> tuple[Message, Message]:
    """The ASGI start and body messages of a JSON error answer."""
    body = error_body(code, message, path=path, method=method)
    raw_headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return ({"type": "http.response.start", "status": status, "headers": raw_headers},
            {"type": "http.response.body", "body": body})


async def send_error(send: Send, status: int, code: str, message: str,
                     headers: dict[str, str] | None = None, *, scope: Scope | None = None
                     ) -> None:
    """Answer with the JSON error shape straight over ASGI (cheap: no framework)."""
    path, method = (scope["path"], scope["method"]) if scope else ("", "")
    for event in error_messages(status, code, message, headers, path=path, method=method):
        await send(event)


#: Built once: under overload, most requests get this answer.
_OVERLOADED = error_messages(503, "overloaded", "the service is overloaded; retry shortly",
                             {"Retry-After": "1"})


class Metrics:
    """Request counts, latencies and reviews scored, in Prometheus's text format (HELP, TYPE).

    With several worker processes (``critic serve --workers N``) each worker's values live in
    ``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_client``'s multiprocess mode) and every scrape
    adds up all the workers, whichever one answers it; in one process they stay in memory.
    """

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Histogram,
            disable_created_metrics,
        )

        # No *_created series: multiprocess mode has none, so one worker or many expose the
        # same names (the setting is the process's; this process is the service).
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter("critic_requests", "Requests answered, by route and status.",
                                 ["method", "path", "status"], registry=self.registry)
        self._latency = Histogram("critic_request_seconds", "Time to answer a request.",
                                  buckets=_LATENCY_BUCKETS, registry=self.registry)
        self._scored = Counter("critic_inputs_scored", "Reviews scored.",
                               registry=self.registry)

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        self._requests.labels(method, path, str(status)).inc()
        self._latency.observe(seconds)

    def scored(self, n: int) -> None:
        self._scored.inc(n)

    def render(self) -> bytes:
        """The exposition: this process's metrics, or every worker's in multiprocess mode."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return bytes(generate_latest(self.registry))
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # untyped
        return bytes(generate_latest(merged))


class Slots:
    """At most ``size`` requests scoring at once; taking a slot never waits."""

    def __init__(self, size: int) -> None:
        self.size, self.taken = size, 0
        self._lock = threading.Lock()

    @contextmanager
    def take(self) -> Iterator[bool]:
        """Yields whether a slot was free (and holds it for the block if so)."""
        with self._lock:
            free = self.taken < self.size
            self.taken += free
        try:
            yield free
        finally:
            if free:
                with self._lock:
                    self.taken -= 1


class LoadShedder:
    """Tells when the event loop has fallen behind, so new work is refused, not queued.

    Every request waits for the loop; with more arriving than it can score, they queue
    inside the server and every answer gets slow. A timer that should fire every few
    milliseconds measures how late the loop runs: when it ran more than ``max_delay`` late
    last time and is that late again now, the loop is overloaded, not hiccuping (a garbage
    collection, a big batch holding the GIL), and a new prediction is answered 503 at once.
    The timer runs only while requests arrive, so an idle service never wakes.
    """

    _BEAT = 0.005  # seconds between heartbeats while busy
    _IDLE = 1.0  # seconds without a request before the heartbeat stops

    def __init__(self, max_delay: float) -> None:
        self.max_delay = max_delay
        self._beat_at = self._seen_at = 0.0
        self._was_late = False  # the last heartbeat came more than max_delay late
        self._loop: asyncio.AbstractEventLoop | None = None  # where the heartbeat runs

    def overloaded(self) -> bool:
        now = time.perf_counter()
        self._seen_at = now
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # idle until now (or a new loop, as in tests)
            self._loop, self._beat_at, self._was_late = loop, now, False
            loop.call_later(self._BEAT, self._beat, loop)
            return False
        return self._was_late and now - self._beat_at > self.max_delay

    def _beat(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:
            return
        now = time.perf_counter()
        self._was_late = now - self._beat_at > self._BEAT + self.max_delay
        self._beat_at = now
        if now - self._seen_at > self._IDLE:
            self._loop = None
            return
        loop.call_later(self._BEAT, self._beat, loop)


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class GuardMiddleware:
    """Load shedding, the body's size and time limits, and request metrics, in front of the
    application (see the module docstring)."""

    def __init__(self, app: ASGIApp, limits: Limits, metrics: Metrics) -> None:
        self.app, self.limits, self.metrics = app, limits, metrics
        self.shedder = LoadShedder(limits.max_delay_ms / 1000)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, send_counting)
        finally:
            self.metrics.observe(scope["method"], route(scope["path"]), status["code"],
                                 time.perf_counter() - started)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] not in _NEVER_SHED and self.shedder.overloaded():
            if scope["path"] == "/v1/predict":
                for event in _OVERLOADED:
                    await send(event)
            else:  # in the shape of the route's protocol
                await send_error(send, 503, "overloaded", "the service is overloaded; retry "
                                 "shortly", {"Retry-After": "1"}, scope=scope)
            return
        try:
            body = await self._read_body(scope, receive)
        except _TooLarge:
            await send_error(send, 413, "body_too_large", "the request body is larger than "
                             f"{self.limits.max_body_bytes:,} bytes", scope=scope)
            return
        except _TooSlow:
            await send_error(send, 408, "request_timeout", "the request body did not arrive "
                             f"within {self.limits.read_timeout:g} s", {"Connection": "close"},
                             scope=scope)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            raise _TooLarge
        deadline = asyncio.get_running_loop().time() + self.limits.read_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                # asyncio.timeout, not wait_for: no task of its own, so a body that is all
                # here already is read without giving the loop away (see LoadShedder).
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over the body already read, then the client's own events
    (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


_ROUTES = frozenset({"/", "/healthz", "/readyz", "/metrics", "/v1/predict", "/v1/model",
                     "/docs", "/redoc", "/openapi.json", "/v2", "/v2/health/live",
                     "/v2/health/ready"})


def route(path: str) -> str:
    """The path as a metrics label: known routes, or ``other`` (bounded label values)."""
    if path in _ROUTES:
        return path
    if path.startswith("/static-offline-docs/"):  # the /docs page's scripts and styles
        return "/static-offline-docs"
    if path.startswith("/v2/models/"):
        return "/v2/models/{model}/infer" if path.endswith("/infer") else "/v2/models/{model}"
    return "other"
