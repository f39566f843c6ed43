"""Structured logging: one JSON object per line, for the app and for gunicorn.

Fields passed through ``extra=`` become top-level keys.  Request bodies,
query strings and headers other than the user agent are never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from gunicorn import glogging

APP_LOGGER = "app"
_MAX_FIELD_CHARS = 1024
# Attributes every LogRecord has; anything else came in through ``extra=``.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_FIELD_CHARS:
        return value[:_MAX_FIELD_CHARS] + "..."
    return value


class JsonFormatter(logging.Formatter):
    """Render a record as a single-line JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = _clip(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # default=str keeps odd extras (paths, numpy scalars) from breaking a line.
        return json.dumps(entry, default=str, ensure_ascii=True)


class JsonStdoutHandler(logging.StreamHandler):
    """Writes to the current ``sys.stdout`` at each record, not the one at setup.

    Same idea as ``logging.lastResort`` for stderr: redirections of stdout
    (including a test runner's capture) are honoured.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)
        self.setFormatter(JsonFormatter())

    @property
    def stream(self) -> Any:
        return sys.stdout


def configure_app_logging(level: str = "INFO") -> logging.Logger:
    """Route every log record of the process to stdout as JSON (idempotent).

    The handler sits on the root logger so that third-party libraries
    (model_signing, scikit-learn) and Python warnings are JSON too; they are
    kept at WARNING while the ``app`` logger follows ``level``.
    """
    root = logging.getLogger()
    if not any(isinstance(handler, JsonStdoutHandler) for handler in root.handlers):
        root.addHandler(JsonStdoutHandler())
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    logger = logging.getLogger(APP_LOGGER)
    logger.setLevel(level)
    return logger


class GunicornJsonLogger(glogging.Logger):
    """Gunicorn logger class emitting JSON error and access logs."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: dt.timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "event": "http_request",
            "method": environ.get("REQUEST_METHOD"),
            # PATH_INFO only: query strings may carry data we must not keep.
            "path": environ.get("PATH_INFO"),
            "status": _as_int(status),
            "bytes_sent": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
        }
        # Handler errors are swallowed by logging itself (Handler.handleError).
        self.access_log.info("request", extra=fields)


def _as_int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
