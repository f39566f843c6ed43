"""The one shape of every refusal: a JSON error document with the security headers.

Used by the Flask app for its own errors and by the gunicorn worker (``app.worker``) for the
refusals it writes before a request reaches Flask (malformed requests, limits, read deadline).
Standard library only: the worker imports it in every process.
"""

from __future__ import annotations

import json
from http import HTTPStatus

__all__ = ["ERROR_CODES", "SECURITY_HEADERS", "error_document", "raw_error_response"]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
"""Headers on every response, success or refusal."""

ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "request_too_large",
    414: "request_line_too_long",
    415: "unsupported_media_type",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}
"""Machine-readable `error.code` per HTTP status; other statuses get `http_error`."""


def error_document(status: int, code: str, message: str) -> dict[str, dict[str, object]]:
    """The JSON body of a refusal."""
    return {"error": {"status": status, "code": code, "message": message}}


def raw_error_response(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 refusal that closes the connection, for writing straight to a socket."""
    body = json.dumps(error_document(status, ERROR_CODES.get(status, "http_error"), message)).encode()
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    headers = {
        "Connection": "close",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **SECURITY_HEADERS,
    }
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode("latin-1") + b"\r\n" + body
