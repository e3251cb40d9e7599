"""The prediction service behind ``critic serve``: FastAPI on uvicorn, plus the web page.

Endpoints: ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz``, ``GET /readyz``,
``GET /metrics`` (Prometheus text), ``GET /`` (the page), ``GET /docs`` (OpenAPI). Every error
is JSON ``{"error": {"code", "message"}}`` with a 4xx status; no stack trace ever leaves the
process. Limits (inputs per request, characters per review, body size, concurrent requests)
protect the service; each has a safe default and a ``critic serve`` option.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from critic import __version__
from critic._startup import freeze_heap
from critic.errors import ConfigError
from critic.models.config import check_positive
from critic.predict import Predictor, load

log = logging.getLogger("critic.serve")
_INLINE_CHARS = 20_000
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; beyond these the service answers 413 or 503."""

    max_inputs: int = 1_000  # reviews per request
    max_chars: int = 100_000  # characters per review
    max_body_bytes: int = 10_000_000  # request body
    max_concurrent: int = 64  # requests in progress at once

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            check_positive(name, value)


class PredictRequest(BaseModel):
    inputs: str | list[str] = Field(description="One review, or a list of reviews.")
    explain: bool = Field(False, description="Add the words that pushed each decision.")

    model_config = {"extra": "forbid", "strict": True}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers=headers)


class Metrics:
    """Counters and a latency histogram, exposed in Prometheus's text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.buckets = [0] * (len(_LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.inputs_scored = 0

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, path, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            index = next((i for i, b in enumerate(_LATENCY_BUCKETS) if seconds <= b),
                         len(_LATENCY_BUCKETS))
            self.buckets[index] += 1
            self.latency_sum += seconds
            self.latency_count += 1

    def scored(self, n: int) -> None:
        with self._lock:
            self.inputs_scored += n

    def render(self) -> str:
        with self._lock:
            lines = ["# TYPE critic_requests_total counter"]
            lines += [f'critic_requests_total{{method="{m}",path="{p}",status="{s}"}} {n}'
                      for (m, p, s), n in sorted(self.requests.items())]
            lines.append("# TYPE critic_request_seconds histogram")
            running = 0
            for bound, count in zip((*_LATENCY_BUCKETS, "+Inf"), self.buckets, strict=True):
                running += count
                lines.append(f'critic_request_seconds_bucket{{le="{bound}"}} {running}')
            lines += [f"critic_request_seconds_sum {self.latency_sum:.6f}",
                      f"critic_request_seconds_count {self.latency_count}",
                      "# TYPE critic_inputs_scored_total counter",
                      f"critic_inputs_scored_total {self.inputs_scored}"]
        return "\n".join(lines) + "\n"


class GuardMiddleware:
    """Body-size and concurrency limits, and request metrics, before FastAPI sees a request.

    Pure ASGI (no BaseHTTPMiddleware) so a body larger than the limit is refused while it
    streams in, and a request beyond the concurrency limit costs almost nothing.
    """

    def __init__(self, app: ASGIApp, limits: Limits, metrics: Metrics) -> None:
        self.app, self.limits, self.metrics = app, limits, metrics
        self.in_flight = 0
        self._lock = threading.Lock()

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

        with self._lock:
            busy = self.in_flight >= self.limits.max_concurrent
            if not busy:
                self.in_flight += 1
        try:
            if busy:
                await error_response(503, "overloaded", "too many requests in progress; "
                                     "retry shortly", {"Retry-After": "1"}
                                     )(scope, receive, send_counting)
                return
            declared = dict(scope["headers"]).get(b"content-length")
            if declared is not None and declared.isdigit() and \
                    int(declared) > self.limits.max_body_bytes:
                await self._too_large(scope, receive, send_counting)
                return
            await self.app(scope, self._bounded(receive), send_counting)
        except _BodyTooLarge:
            await self._too_large(scope, receive, send_counting)
        finally:
            if not busy:
                with self._lock:
                    self.in_flight -= 1
            self.metrics.observe(scope["method"], _route(scope["path"]), status["code"],
                                 time.perf_counter() - started)

    def _bounded(self, receive: Receive) -> Receive:
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limits.max_body_bytes:
                raise _BodyTooLarge
            return message

        return bounded

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(413, "body_too_large", f"the request body is larger than "
                             f"{self.limits.max_body_bytes:,} bytes")(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _route(path: str) -> str:
    known = {"/", "/healthz", "/readyz", "/metrics", "/v1/predict", "/v1/model", "/docs",
             "/openapi.json"}
    return path if path in known else "other"  # bounded label values


def create_app(predictor: Predictor, limits: Limits | None = None) -> ASGIApp:
    """The service for one loaded model: the FastAPI app behind its guard (body size,
    concurrency and metrics), as an ASGI application."""
    limits = limits or Limits()
    metrics = Metrics()
    app = FastAPI(title="critic", version=__version__,
                  description="Sentiment of reviews: positive or negative, with reasons.")
    app.state.predictor, app.state.limits, app.state.metrics = predictor, limits, metrics
    _add_error_handlers(app)

    schema = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()}}}}

    @app.post("/v1/predict", openapi_extra=schema)
    async def predict(http_request: Request) -> dict[str, Any]:
        # The body is parsed here, not by FastAPI, so that a client that forgets the JSON
        # content type, sends bytes that are not UTF-8, or gets a type wrong is told exactly
        # that, and the scoring itself runs in the thread pool.
        request = _parse_predict_request(await http_request.body())
        texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
        _check_inputs(texts, limits)
        if sum(map(len, texts)) <= _INLINE_CHARS and not request.explain:
            # A short request scores in well under a millisecond: cheaper than handing it to
            # the thread pool and back, which showed in the latency tail under load.
            return _predictions(predictor, texts, False, metrics)
        return await run_in_threadpool(_predictions, predictor, texts, request.explain, metrics)

    @app.get("/v1/model")
    def model_info() -> dict[str, Any]:
        bundle = predictor.bundle
        return {"name": bundle.path.name, "critic_version": bundle.config["critic_version"],
                "config": {k: bundle.config[k] for k in ("model", "features", "tokenizer",
                                                         "labels", "threshold", "training")},
                "metrics": {"test": _test_metrics(bundle.metrics)},
                "data_checksum": bundle.config.get("data", {}).get("checksum"),
                "limits": asdict(limits)}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}  # the model is loaded before the app exists

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> str:
        return metrics.render()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("critic.serve").joinpath("web/index.html").read_text("utf-8")

    return GuardMiddleware(app, limits, metrics)


def _predictions(predictor: Predictor, texts: list[str], explain: bool,
                 metrics: Metrics) -> dict[str, Any]:
    predictions = []
    for text, prediction in zip(texts, predictor.predictions(texts), strict=True):
        item: dict[str, Any] = {"label": prediction.label, "score": prediction.probability}
        if prediction.words == 0:
            item["warning"] = "no words found; scored from the model's prior alone"
        if explain:
            explanation = predictor.explain(text)
            item["tokens"] = explanation.tokens
            item["explanation"] = [{"word": w.word, "contribution": w.contribution}
                                   for w in explanation.words]
            item["explanation_method"] = explanation.method  # occlusion, or additive n-grams
        predictions.append(item)
    metrics.scored(len(texts))
    return {"predictions": predictions}


def _parse_predict_request(body: bytes) -> PredictRequest:
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(422, "invalid_request", f"the body is not valid UTF-8 (byte {exc.start})"
                       ) from exc
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"the body is not valid JSON ({exc})") from exc
    try:
        return PredictRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"
        message = {
            "inputs": "`inputs` must be a string or a list of strings",
            "explain": "`explain` must be true or false",
        }.get(field, f"{field}: {first['msg']}")
        raise ApiError(422, "invalid_request", message) from exc


def _check_inputs(texts: list[str], limits: Limits) -> None:
    if not texts:
        raise ApiError(422, "empty_inputs", "`inputs` must hold at least one review")
    if len(texts) > limits.max_inputs:
        raise ApiError(413, "too_many_inputs", f"{len(texts):,} reviews in one request; the "
                       f"limit is {limits.max_inputs:,}: send them in batches")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise ApiError(413, "review_too_long", f"review {i} has {len(text):,} characters; "
                           f"the limit is {limits.max_chars:,}")


def _test_metrics(metrics: dict[str, Any]) -> dict[str, Any] | None:
    test = metrics.get("test")
    if isinstance(test, dict):
        return {k: test.get(k) for k in ("accuracy", "loss", "roc_auc", "reviews")}
    return None  # a bundle trained on the user's own reviews has no test split


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            message = "the body is not valid JSON (or not UTF-8)"
        else:
            message = f"{where or 'body'}: {first.get('msg', 'invalid request')}"
        return error_response(422, "invalid_request", message)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal_error", "the service failed to answer; the error "
                              "is in its log")


def app_from_environment() -> ASGIApp:
    """Factory for ``uvicorn --factory`` worker processes: the bundle and limits come from
    ``CRITIC_SERVE_BUNDLE`` and ``CRITIC_SERVE_LIMITS`` (JSON), set by :func:`run`."""
    limits = Limits(**json.loads(os.environ.get("CRITIC_SERVE_LIMITS", "{}")))
    app = create_app(load(os.environ["CRITIC_SERVE_BUNDLE"]), limits)
    freeze_heap()
    return app


def run(bundle: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000,
        workers: int = 1, limits: Limits | None = None) -> None:
    """Serve ``bundle`` with uvicorn until stopped (what ``critic serve`` does)."""
    import dataclasses

    import uvicorn

    limits = limits or Limits()
    check_positive("workers", workers)
    if not 1 <= port <= 65_535:
        raise ConfigError(f"`port` must be between 1 and 65535. Received: port={port}",
                          parameter="port")
    predictor = load(bundle)  # refuse to start on a missing or damaged bundle
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s, reachable from other machines", host)
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "info",
                               "timeout_graceful_shutdown": 30}
    if workers == 1:
        app = create_app(predictor, limits)
        freeze_heap()
        uvicorn.run(app, **options)
        return
    os.environ["CRITIC_SERVE_BUNDLE"] = str(Path(bundle).resolve())
    os.environ["CRITIC_SERVE_LIMITS"] = json.dumps(dataclasses.asdict(limits))
    uvicorn.run("critic.serve.app:app_from_environment", factory=True, workers=workers,
                **options)
