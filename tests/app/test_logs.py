"""Structured logs: every line the app writes is one JSON object, and no request data leaks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from app.config import MODEL_FILENAME
from app.logs import APP_LOGGER, JsonFormatter
from app.server import create_app
from tests.app.payloads import transaction
from tests.app.signed import SignedModel, flip_byte


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = text.splitlines()
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]


def _record(message: str = "hello", **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("app.test", logging.INFO, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_formatter_writes_one_line_with_extras_at_top_level() -> None:
    line = JsonFormatter().format(_record("two\nlines", event="thing", count=3, where=Path("/x")))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "two\nlines"
    assert (entry["event"], entry["count"], entry["where"]) == ("thing", 3, "/x")
    assert {"ts", "level", "logger", "pid"} <= entry.keys()


def test_formatter_clips_long_fields_and_keeps_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        record = _record(reason="x" * 5000)
        record.exc_info = (type(exc), exc, exc.__traceback__)
    entry = json.loads(JsonFormatter().format(record))
    assert len(entry["reason"]) < 1100
    assert "ValueError: boom" in entry["exception"]


def test_a_refused_model_is_logged_as_json(signed_copy: SignedModel, capsys: pytest.CaptureFixture[str]) -> None:
    flip_byte(signed_copy.model_dir / MODEL_FILENAME)
    create_app(signed_copy.settings())
    entries = _json_lines(capsys.readouterr().out)
    refused = [entry for entry in entries if entry.get("event") == "model_refused"]
    assert len(refused) == 1
    assert refused[0]["level"] == "error"
    assert MODEL_FILENAME in refused[0]["reason"]


def test_requests_are_logged_without_their_content(
    signed_model: SignedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    client = create_app(signed_model.settings()).test_client()
    capsys.readouterr()
    secret = "4111-1111-1111-1111"
    client.post("/v1/predict", json={"transactions": [transaction(), {secret: 1}]})
    entries = _json_lines(capsys.readouterr().out)
    assert [entry["event"] for entry in entries] == ["request_rejected"]
    assert entries[0]["code"] == "invalid_request"
    assert secret not in json.dumps(entries)


def test_library_warnings_are_json_too(signed_model: SignedModel, capsys: pytest.CaptureFixture[str]) -> None:
    create_app(signed_model.settings())
    capsys.readouterr()
    logging.getLogger("model_signing").warning("from a library")
    logging.getLogger("model_signing").info("below the library threshold")
    logging.getLogger(APP_LOGGER).info("app info is kept")
    entries = _json_lines(capsys.readouterr().out)
    assert [entry["message"] for entry in entries] == ["from a library", "app info is kept"]
