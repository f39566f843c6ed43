"""Flask application factory for the fraud model API.

Endpoints:

* ``POST /v1/predict`` -- score a batch of transactions (strictly validated);
* ``GET /healthz`` -- liveness: the process answers;
* ``GET /readyz`` -- readiness: 200 only once the model was verified and loaded.

Every error, including 404/405/413/415, is answered as JSON.  Production entry
point: ``create_production_app()``, which refuses to start (raises) when the
model fails verification, so gunicorn's master exits non-zero.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from app.config import EXIT_CONFIG, Settings
from app.logs import configure_app_logging
from app.model_loader import LoadedModel, ModelLoadError, load_verified_model
from app.responses import ERROR_CODES, SECURITY_HEADERS, error_document
from app.validation import (
    RequestValidationError,
    parse_json_body,
    validate_transactions,
)
from secure_model_serving.serving_contract import LIVENESS_PATH, PREDICT_PATH, READINESS_PATH

# The deployment handed us a model we must not serve: a configuration error (EX_CONFIG).
EXIT_MODEL_REFUSED = EXIT_CONFIG


@dataclass
class ModelState:
    """The loaded model, or None while the server must report not-ready."""

    model: LoadedModel | None = None


def create_app(
    settings: Settings | None = None,
    *,
    model: LoadedModel | None = None,
    fail_fast: bool = False,
) -> Flask:
    """Build the app.

    ``model`` injects an already loaded model (benchmark baseline).  Otherwise
    the model is verified and loaded now; on failure the app stays not-ready,
    or, with ``fail_fast``, the error propagates so the process cannot serve.
    """
    settings = settings or Settings.from_env()
    logger = configure_app_logging(settings.log_level)
    # No static folder: the API surface is exactly the routes registered below.
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    state = ModelState(model=model)
    if model is None:
        state.model = _load(settings, logger, fail_fast=fail_fast)
    _register_routes(app, settings, state, logger)
    _register_error_handlers(app, settings, logger)
    app.after_request(_add_security_headers)
    return app


def create_production_app() -> Flask:
    """Gunicorn entry point: settings from the environment, fail closed.

    A refused model ends the process with EXIT_MODEL_REFUSED; the reason has
    already been logged as JSON, so no traceback is printed.
    """
    try:
        return create_app(Settings.from_env(), fail_fast=True)
    except ModelLoadError:
        raise SystemExit(EXIT_MODEL_REFUSED) from None


def _load(settings: Settings, logger: logging.Logger, *, fail_fast: bool) -> LoadedModel | None:
    started = time.perf_counter()
    try:
        model = load_verified_model(settings)
    except ModelLoadError as exc:
        logger.error("model refused", extra={"event": "model_refused", "reason": str(exc)})
        if fail_fast:
            raise
        return None
    logger.info(
        "model verified and loaded",
        extra={
            "event": "model_loaded",
            "model_name": model.metadata.model_name,
            "model_version": model.metadata.model_version,
            "model_sha256": model.model_sha256,
            "verify_method": settings.verify_method,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return model


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify(error_document(status, code, message)), status


def _require_json() -> None:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("only the utf-8 charset is accepted")


def _read_body(limit: int) -> bytes:
    try:
        data = request.get_data(cache=False)
    except ParseException as exc:
        # The body's framing is broken (e.g. a bad chunk size): the client's fault, not ours.
        raise BadRequest("the request body framing is invalid") from exc
    # A declared Content-Length over the limit was already refused.  Without
    # one (chunked upload) the stream stops quietly at the limit: a body that
    # fills it is exactly the limit only if the raw stream has nothing more.
    # The worker buffered the body first, so this read never waits on the client.
    if request.content_length is None and len(data) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return data


def _register_routes(app: Flask, settings: Settings, state: ModelState, logger: logging.Logger) -> None:
    def healthz() -> tuple[Response, int]:
        return jsonify({"status": "ok"}), 200

    def readyz() -> tuple[Response, int]:
        model = state.model
        if model is None:
            return _error(503, "model_not_ready", "the model is not verified and loaded")
        return jsonify(
            {
                "status": "ready",
                "model_name": model.metadata.model_name,
                "model_version": model.metadata.model_version,
                "model_sha256": model.model_sha256,
            }
        ), 200

    def predict() -> tuple[Response, int]:
        model = state.model
        if model is None:
            return _error(503, "model_not_ready", "the model is not verified and loaded")
        _require_json()
        body = _read_body(settings.max_request_bytes)
        try:
            payload = parse_json_body(body)
            matrix = validate_transactions(payload, model.metadata.feature_names, settings.max_batch_size)
        except RequestValidationError as exc:
            logger.info(
                "request rejected",
                extra={"event": "request_rejected", "code": exc.code},
            )
            return _error(400, exc.code, exc.message)
        return jsonify(_predictions(model, matrix)), 200

    # No automatic OPTIONS: the API surface is exactly what is listed here.
    app.add_url_rule(
        LIVENESS_PATH,
        "healthz",
        healthz,
        methods=["GET"],
        provide_automatic_options=False,
    )
    app.add_url_rule(
        READINESS_PATH,
        "readyz",
        readyz,
        methods=["GET"],
        provide_automatic_options=False,
    )
    app.add_url_rule(
        PREDICT_PATH,
        "predict",
        predict,
        methods=["POST"],
        provide_automatic_options=False,
    )


def _predictions(model: LoadedModel, matrix: Any) -> dict[str, Any]:
    threshold = model.metadata.decision_threshold
    probabilities = model.fraud_probability(matrix)
    return {
        "model_name": model.metadata.model_name,
        "model_version": model.metadata.model_version,
        "decision_threshold": threshold,
        "predictions": [
            {
                "fraud_probability": float(p),
                "label": "fraud" if p >= threshold else "legitimate",
            }
            for p in probabilities
        ],
    }


def _register_error_handlers(app: Flask, settings: Settings, logger: logging.Logger) -> None:
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        message = _http_message(status, exc, settings)
        response, status = _error(status, ERROR_CODES.get(status, "http_error"), message)
        # Keep protocol headers such as Allow on 405.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    def unexpected_error(exc: Exception) -> tuple[Response, int]:
        logger.error(
            "unhandled error",
            exc_info=exc,
            extra={"event": "unhandled_error", "path": request.path},
        )
        return _error(500, "internal_error", "internal server error")

    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)


def _http_message(status: int, exc: HTTPException, settings: Settings) -> str:
    if status == 404:
        return "no such endpoint"
    if status == 405:
        return "method not allowed for this endpoint"
    if status == 413:
        return f"request body exceeds {settings.max_request_bytes} bytes"
    if status == 415:
        return str(exc.description)
    return "the request could not be processed"


def _add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
