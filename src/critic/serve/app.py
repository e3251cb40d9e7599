"""The prediction service behind ``critic serve``: FastAPI on uvicorn, plus the web page.

Endpoints: ``POST /v1/predict``, ``POST /`` (Hugging Face's text-classification answer, as an
Inference Endpoint gives it), ``GET /v1/model``, ``GET /healthz``, ``GET /readyz``, the KServe
v2 health and metadata routes, ``GET /metrics`` (Prometheus text), ``GET /`` (the page),
``GET /docs`` (OpenAPI). Every error is JSON ``{"error": {"code", "message"}}`` with a 4xx
status (503 when overloaded); no stack trace ever leaves the process. The guard in front
(:mod:`critic.serve.guard`) reads the body under its limits and sheds load; here each request
is checked against the per-request limits and scored in one of a bounded number of slots.
:mod:`critic.serve.server` runs it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from critic import __version__
from critic.errors import DataError
from critic.predict import UNSET, Prediction, Predictor, Unset
from critic.serve import v2
from critic.serve.guard import GuardMiddleware, Metrics, Slots, error_body
from critic.serve.limits import Limits

# Bodies this small are parsed and scored on the event loop: at most ~2,000 characters, a
# few milliseconds even for adversarial text (2.5 µs a character at worst, as measured by
# benchmarks/bench_tokenize_cost.py), and cheaper than the thread pool's round trip.
_INLINE_BYTES = 2_048


class Parameters(BaseModel):
    top_k: int | None = Field(
        None, ge=1, description="Give each review its labels ranked best first, this many "
        "of them (null: all); Hugging Face's parameter.")
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = Field(
        None, description="Hugging Face's parameter: 'softmax' or 'sigmoid' give each label's "
        "probability (the same for critic's two-class models), 'none' its log-odds.")

    model_config = {"extra": "forbid", "strict": True}


class PredictRequest(BaseModel):
    inputs: str | list[str] = Field(description="One review, or a list of reviews.")
    explain: bool = Field(False, description="Add the words that pushed each decision.")
    parameters: Parameters | None = Field(None, description="Hugging Face's body parameters.")

    model_config = {"extra": "forbid", "strict": True}

    @property
    def texts(self) -> list[str]:
        return [self.inputs] if isinstance(self.inputs, str) else self.inputs

    @property
    def function_to_apply(self) -> str:
        given = self.parameters.function_to_apply if self.parameters else None
        return given or "softmax"

    @property
    def top_k(self) -> int | Unset | None:
        """``top_k`` as given, or :data:`UNSET` when the body does not name it."""
        if self.parameters is None or "top_k" not in self.parameters.model_fields_set:
            return UNSET
        return self.parameters.top_k


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None, *, path: str = "",
                   method: str = "") -> Response:
    """The error in the shape the route's protocol has (see :func:`error_body`)."""
    return Response(error_body(code, message, path=path, method=method), status_code=status,
                    headers=headers, media_type="application/json")


def create_app(predictor: Predictor, limits: Limits | None = None) -> ASGIApp:
    """The service for one loaded model: the FastAPI app behind its guard (the body read
    under its limits, load shedding, metrics), as an ASGI application."""
    limits = limits or Limits()
    metrics = Metrics()
    # /docs and /redoc from assets in the installed package, not a CDN: they work offline.
    app = FastAPIOffline(title="critic", version=__version__,
                         description="Sentiment of reviews: positive or negative, with reasons.")
    app.state.predictor, app.state.limits, app.state.metrics = predictor, limits, metrics
    _add_error_handlers(app)

    schema = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": PredictRequest.model_json_schema()}}}}

    slots = app.state.slots = Slots(limits.max_concurrent)

    async def off_the_loop(body: bytes, work: Callable[[bytes], Response]) -> Response:
        """``work(body)`` under a slot: on the event loop only when the body is too small
        for it to take more than a few milliseconds (a long review's tokens, a large body's
        JSON and the answer's all go to the thread pool, so /healthz never waits), and never
        for an explanation (the review is scored once per word)."""
        with slots.take() as free:
            if not free:
                raise ApiError(503, "overloaded", "too many requests are being scored; retry "
                               "shortly", {"Retry-After": "1"})
            if len(body) <= _INLINE_BYTES and b'"explain"' not in body:
                return work(body)
            return await run_in_threadpool(work, body)

    def scored(answer: Answer) -> Callable[[bytes], Response]:
        def work(body: bytes) -> Response:
            # The body is parsed here, not by FastAPI, so that a client that forgets the JSON
            # content type, sends bytes that are not UTF-8, or gets a type wrong is told
            # exactly that.
            request = _parse_predict_request(body)
            _check_inputs(request.texts, request.explain, limits)
            return _json(answer(predictor, request, metrics))
        return work

    async def scored_request(http_request: Request, answer: Answer) -> Response:
        return await off_the_loop(await http_request.body(), scored(answer))

    @app.post("/v1/predict", openapi_extra=schema)
    async def predict(http_request: Request) -> Response:
        """Each review's label, score (the confidence in that label) and probabilities."""
        return await scored_request(http_request, _predictions)

    @app.post("/", openapi_extra=schema)
    async def pipeline(http_request: Request) -> Response:
        """Hugging Face's Inference Endpoint text-classification protocol: one list of
        ``{label, score}`` per input, best first (``parameters.top_k``: how many; all by
        default)."""
        return await scored_request(http_request, _pipeline_predictions)

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
    @app.head("/healthz", include_in_schema=False)  # for probes that only look at the status
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    @app.head("/readyz", include_in_schema=False)
    def readyz() -> dict[str, str]:
        return {"status": "ready"}  # the model is loaded before the app exists

    _add_kserve_routes(app, predictor, off_the_loop, limits, metrics)

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse)
    @app.head("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("critic.serve").joinpath("web/index.html").read_text("utf-8")

    return GuardMiddleware(app, limits, metrics)


Answer = Callable[[Predictor, "PredictRequest", Metrics], Any]


def _predictions(predictor: Predictor, request: PredictRequest, metrics: Metrics
                 ) -> dict[str, Any]:
    predictions = []
    for text, prediction in zip(request.texts, _score(predictor, request.texts, metrics),
                                strict=True):
        item = prediction.to_dict()
        if not isinstance(request.top_k, Unset):
            item["labels"] = [{"label": x["label"], "score": round(x["score"], 6)} for x in
                              _ranked(prediction, request.top_k, request.function_to_apply)]
        if prediction.words == 0:
            item["warning"] = "no words found; scored from the model's prior alone"
        if request.explain:
            explanation = predictor.explain(text)
            item["tokens"] = explanation.tokens
            item["explanation"] = [{"word": w.word, "contribution": w.contribution}
                                   for w in explanation.words]
            item["explanation_method"] = explanation.method  # occlusion, or additive n-grams
        predictions.append(item)
    return {"predictions": predictions}


def _pipeline_predictions(predictor: Predictor, request: PredictRequest, metrics: Metrics
                          ) -> list[Any]:
    if request.explain:
        raise ApiError(422, "invalid_request", "explanations are given by /v1/predict")
    top_k = None if isinstance(request.top_k, Unset) else request.top_k
    return [_ranked(p, top_k, request.function_to_apply)
            for p in _score(predictor, request.texts, metrics)]


def _ranked(prediction: Prediction, top_k: int | None, function: str) -> list[dict[str, Any]]:
    """The labels best first, ``top_k`` of them, scored as ``function_to_apply`` asks."""
    ranked = prediction.ranked()[:top_k]
    if function == "none":  # log-odds: the sigmoid of each is its probability
        for item in ranked:
            p = min(max(item["score"], 1e-15), 1 - 1e-15)
            item["score"] = math.log(p) - math.log1p(-p)
    return ranked


def _json(content: Any) -> Response:
    return Response(json.dumps(content).encode(), media_type="application/json")


def _score(predictor: Predictor, texts: list[str], metrics: Metrics) -> list[Prediction]:
    try:
        predictions = predictor.predictions(texts)
    except DataError as exc:  # text that is not text: a lone surrogate from a JSON escape
        raise ApiError(422, "invalid_text", str(exc)) from None
    metrics.scored(len(texts))
    return predictions


def _parse_predict_request(body: bytes) -> PredictRequest:
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ApiError(422, "invalid_request", f"the body is not valid UTF-8 (byte {exc.start})"
                       ) from exc
    except ValueError as exc:
        raise ApiError(422, "invalid_request", f"the body is not valid JSON ({exc})") from exc
    except RecursionError:
        raise ApiError(422, "invalid_request", "the body nests JSON too deeply") from None
    try:
        return PredictRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"
        message = {
            "inputs": "`inputs` must be a string or a list of strings",
            "explain": "`explain` must be true or false",
            "parameters": "`parameters` takes `top_k` (a positive integer or null) and "
                          "`function_to_apply` ('softmax', 'sigmoid' or 'none')",
        }.get(field, f"{field}: {first['msg']}")
        raise ApiError(422, "invalid_request", message) from exc


def _check_inputs(texts: list[str], explain: bool, limits: Limits) -> int:
    """Refuse what the limits do not allow; return the request's characters."""
    if not texts:
        raise ApiError(422, "empty_inputs", "`inputs` must hold at least one review")
    if len(texts) > limits.max_inputs:
        raise ApiError(413, "too_many_inputs", f"{len(texts):,} reviews in one request; the "
                       f"limit is {limits.max_inputs:,}: send them in batches")
    for i, text in enumerate(texts):
        if len(text) > limits.max_chars:
            raise ApiError(413, "review_too_long", f"review {i} has {len(text):,} characters; "
                           f"the limit is {limits.max_chars:,}")
    characters = sum(map(len, texts))
    if explain and characters > limits.max_explain_chars:
        raise ApiError(413, "explanation_too_large", f"explaining {characters:,} characters "
                       f"in one request; the limit is {limits.max_explain_chars:,}: explain "
                       "fewer reviews per request")
    return characters


def _test_metrics(metrics: dict[str, Any]) -> dict[str, Any] | None:
    test = metrics.get("test")
    if isinstance(test, dict):
        return {k: test.get(k) for k in ("accuracy", "loss", "roc_auc", "reviews")}
    return None  # a bundle trained on the user's own reviews has no test split


def _add_kserve_routes(app: FastAPI, predictor: Predictor,
                       off_the_loop: Callable[[bytes, Callable[[bytes], Response]], Any],
                       limits: Limits, metrics: Metrics) -> None:
    """The open inference protocol (KServe v2; Triton's HTTP client speaks it): health,
    metadata, a Triton-style model config, and infer (see :mod:`critic.serve.v2`)."""
    name = predictor.bundle.path.name
    labels = list(predictor.labels)

    @app.get("/v2")
    def server_metadata() -> dict[str, Any]:
        return {"name": "critic", "version": __version__,
                "extensions": ["binary_tensor_data", "model_configuration"]}

    @app.get("/v2/health/live")
    def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    def ready() -> dict[str, bool]:
        return {"ready": True}  # the model is loaded before the app exists

    def known(model: str, version: str | None = None) -> None:
        if model != name:
            raise ApiError(404, "model_not_found", f"this server holds the model {name!r}, "
                           f"not {model!r}")
        if version is not None and version != v2.VERSION:
            raise ApiError(404, "model_not_found", f"the model {name!r} has version "
                           f"{v2.VERSION!r} only, not {version!r}")

    def metadata() -> dict[str, Any]:
        return {"name": name, "versions": [v2.VERSION], "platform": f"critic-{__version__}",
                **v2.tensor_metadata(len(labels)),
                # The order of the classes along the probabilities' second axis.
                "parameters": {"labels": labels}}

    # Each route with and without a version (the model has one: v2.VERSION).
    @app.get("/v2/models/{model}")
    @app.get("/v2/models/{model}/versions/{version}")
    def model_metadata(model: str, version: str | None = None) -> dict[str, Any]:
        known(model, version)
        return metadata()

    @app.get("/v2/models/{model}/ready")
    @app.get("/v2/models/{model}/versions/{version}/ready")
    def model_ready(model: str, version: str | None = None) -> dict[str, Any]:
        known(model, version)
        return {"name": name, "ready": True}

    def config() -> dict[str, Any]:
        """What Triton's ``get_model_config`` reads, for the same tensors."""
        return {"name": name, "platform": "critic", "backend": "critic", "max_batch_size": 0,
                "input": [{"name": v2.INPUT, "data_type": "TYPE_STRING", "dims": [-1]}],
                "output": [{"name": "label", "data_type": "TYPE_STRING", "dims": [-1]},
                           {"name": "probabilities", "data_type": "TYPE_FP64",
                            "dims": [-1, len(labels)]}],
                "parameters": {"labels": {"string_value": ",".join(labels)}}}

    @app.get("/v2/models/{model}/config")
    @app.get("/v2/models/{model}/versions/{version}/config")
    def model_config(model: str, version: str | None = None) -> dict[str, Any]:
        known(model, version)
        return config()

    def infer_work(header_length: str | None) -> Callable[[bytes], Response]:
        def work(body: bytes) -> Response:
            try:
                request = v2.parse_infer(body, header_length)
            except v2.V2Error as exc:
                raise ApiError(exc.status, "invalid_request", exc.message) from None
            _check_inputs(request.texts, False, limits)
            predictions = _score(predictor, request.texts, metrics)
            verdicts = [p.label for p in predictions]
            probabilities = np.array([[p.probabilities[label] for label in labels]
                                      for p in predictions], dtype=np.float64
                                     ).reshape(len(predictions), len(labels))
            content, json_length = v2.encode(request, name, verdicts, probabilities)
            if json_length is None:
                return Response(content, media_type="application/json")
            return Response(content, media_type="application/octet-stream",
                            headers={"Inference-Header-Content-Length": str(json_length)})
        return work

    async def infer(http_request: Request, model: str, version: str | None) -> Response:
        known(model, version)
        if http_request.headers.get("content-encoding", "identity").lower() != "identity":
            raise ApiError(400, "invalid_request", "compressed request bodies are not "
                           "supported: send the inference request uncompressed")
        work = infer_work(http_request.headers.get("inference-header-content-length"))
        return await off_the_loop(await http_request.body(), work)

    @app.post("/v2/models/{model}/infer")
    async def model_infer(http_request: Request, model: str) -> Response:
        """Labels and class probabilities of BYTES ``text`` (open inference protocol)."""
        return await infer(http_request, model, None)

    @app.post("/v2/models/{model}/versions/{version}/infer")
    async def model_version_infer(http_request: Request, model: str, version: str) -> Response:
        """The same as ``/v2/models/{model}/infer`` for the model's one version."""
        return await infer(http_request, model, version)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        path = request.url.path
        if exc.status == 422 and (path == "/v2" or path.startswith("/v2/")):
            exc.status = 400  # the open inference protocol's status for a bad request
        return error_response(exc.status, exc.code, exc.message, exc.headers,
                              path=request.url.path, method=request.method)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            message = "the body is not valid JSON (or not UTF-8)"
        else:
            message = f"{where or 'body'}: {first.get('msg', 'invalid request')}"
        return error_response(422, "invalid_request", message, path=request.url.path,
                              method=request.method)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), path=request.url.path,
                              method=request.method)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return error_response(500, "internal_error", "the service failed to answer; the error "
                              "is in its log", path=request.url.path, method=request.method)
