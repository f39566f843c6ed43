"""Kubernetes label selectors (matchLabels and matchExpressions), as the API server evaluates them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["selects"]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """True when `selector` matches `labels`; an empty (or absent) selector matches everything."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or ()
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True
