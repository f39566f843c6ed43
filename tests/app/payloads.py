"""Prediction request bodies for tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.features import FEATURE_NAMES


def transaction(value: float = 0.0, **overrides: Any) -> dict[str, Any]:
    """A valid transaction with every feature set to ``value``."""
    row: dict[str, Any] = dict.fromkeys(FEATURE_NAMES, value)
    row.update(overrides)
    return row


def rows_payload(matrix: np.ndarray) -> dict[str, Any]:
    """A prediction request body for the rows of ``matrix``."""
    return {"transactions": [dict(zip(FEATURE_NAMES, map(float, row), strict=True)) for row in matrix]}
