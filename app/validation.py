"""Strict parsing and validation of prediction requests.

Accepted body (UTF-8 JSON)::

    {"transactions": [{"amount": 0.3, "amount_to_avg_ratio": -1.2, ...}, ...]}

Each transaction must carry exactly the model's features, each a finite JSON
number (booleans are not numbers here).  Anything else raises
:class:`RequestValidationError` with a message meant for the API client; no
part of the request is ever logged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

TOP_LEVEL_KEY = "transactions"
# Unknown keys are echoed back to help clients, but never unbounded.
_PREVIEW_KEYS = 3
_PREVIEW_CHARS = 40


class RequestValidationError(ValueError):
    """The request is well-formed HTTP but not an acceptable prediction request."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _reject_constant(name: str) -> NoReturn:
    raise RequestValidationError(f"{name} is not a valid JSON number", code="invalid_json")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RequestValidationError(f"duplicate key {_preview(key)}", code="invalid_json")
        result[key] = value
    return result


def _preview(key: str) -> str:
    text = key if len(key) <= _PREVIEW_CHARS else key[:_PREVIEW_CHARS] + "..."
    return json.dumps(text)


def parse_json_body(body: bytes) -> Any:
    """Decode a request body, rejecting NaN/Infinity, duplicates and deep nesting."""
    if not body:
        raise RequestValidationError("request body is empty", code="invalid_json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestValidationError("request body is not valid UTF-8", code="invalid_json") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except RequestValidationError:
        raise
    except RecursionError as exc:
        raise RequestValidationError("JSON is nested too deeply", code="invalid_json") from exc
    except json.JSONDecodeError as exc:
        raise RequestValidationError(f"malformed JSON: {exc.msg} at position {exc.pos}", code="invalid_json") from exc
    except ValueError as exc:  # e.g. integers beyond Python's digit limit
        raise RequestValidationError("malformed JSON: number out of range", code="invalid_json") from exc


def validate_transactions(payload: Any, feature_names: Sequence[str], max_batch: int) -> np.ndarray:
    """Turn a parsed payload into a float64 matrix in ``feature_names`` order."""
    if not isinstance(payload, dict):
        raise RequestValidationError("the JSON body must be an object")
    extra = [key for key in payload if key != TOP_LEVEL_KEY]
    if extra:
        raise RequestValidationError(f"unexpected top-level keys: {_preview_list(extra)}")
    if TOP_LEVEL_KEY not in payload:
        raise RequestValidationError(f'missing "{TOP_LEVEL_KEY}"')
    transactions = payload[TOP_LEVEL_KEY]
    if not isinstance(transactions, list):
        raise RequestValidationError(f'"{TOP_LEVEL_KEY}" must be an array')
    if not transactions:
        raise RequestValidationError(f'"{TOP_LEVEL_KEY}" must not be empty')
    if len(transactions) > max_batch:
        raise RequestValidationError(
            f"batch of {len(transactions)} exceeds the limit of {max_batch} transactions",
            code="batch_too_large",
        )
    matrix = np.empty((len(transactions), len(feature_names)), dtype=np.float64)
    for index, transaction in enumerate(transactions):
        matrix[index] = _validate_row(index, transaction, feature_names)
    return matrix


def _preview_list(keys: Sequence[str]) -> str:
    shown = ", ".join(_preview(key) for key in keys[:_PREVIEW_KEYS])
    hidden = len(keys) - _PREVIEW_KEYS
    return shown + (f" and {hidden} more" if hidden > 0 else "")


def _validate_row(index: int, transaction: Any, feature_names: Sequence[str]) -> list[float]:
    where = f"transactions[{index}]"
    if not isinstance(transaction, dict):
        raise RequestValidationError(f"{where} must be an object")
    missing = [name for name in feature_names if name not in transaction]
    if missing:
        raise RequestValidationError(f"{where} is missing features: {', '.join(missing)}")
    if len(transaction) != len(feature_names):
        known = set(feature_names)
        unknown = [key for key in transaction if key not in known]
        raise RequestValidationError(f"{where} has unknown keys: {_preview_list(unknown)}")
    return [_number(f"{where}.{name}", transaction[name]) for name in feature_names]


def _number(where: str, value: Any) -> float:
    # bool is a subclass of int in Python, so test the exact types.
    if type(value) not in (int, float):
        raise RequestValidationError(f"{where} must be a number")
    try:
        number = float(value)
    except OverflowError as exc:
        raise RequestValidationError(f"{where} is out of range") from exc
    if not math.isfinite(number):
        raise RequestValidationError(f"{where} must be finite")
    return number
