"""Webhook failure policies of every admission add-on, read from every Helm release's values.

A webhook that fails open admits everything while it is down or slow. Any value named
`...failurePolicy` that was `Fail` and is no longer (a dropped value takes the chart's default,
which is `Ignore` for some charts), and any `failOpen` turned on, in any release, is a weakening.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from secure_model_serving.serving_vocabulary import FailurePolicy
from tools.posture.findings import Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "admission webhook"
KINDS: frozenset[str] = frozenset()
GROUPS: frozenset[str] = frozenset()
CHARTS: frozenset[str] = frozenset()

_FAIL = FailurePolicy.FAIL


def _switches(values: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every failure-policy and fail-open setting."""
    if isinstance(values, dict):
        for key, value in values.items():
            inner = f"{path}.{key}" if path else str(key)
            if str(key).lower().endswith("failurepolicy") or str(key).lower() == "failopen":
                yield inner, value
            else:
                yield from _switches(value, inner)


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every webhook of a release on both sides that now fails open."""
    for chart in sorted(old.releases.keys() & new.releases.keys()):
        was, now = old.values(chart) or {}, new.values(chart) or {}
        subject = f"Helm release {chart}"
        for path, value in _switches(was):
            current = dig(now, path)
            if path.lower().endswith("failurepolicy") and value == _FAIL and current != _FAIL:
                yield Finding(AREA, subject, path, _FAIL, short(current), "the webhook admits everything when it fails")
        for path, value in _switches(now):
            before = dig(was, path)
            opened = value == FailurePolicy.IGNORE and before not in tuple(FailurePolicy)
            if path.lower().endswith("failurepolicy") and opened:
                yield Finding(AREA, subject, path, short(before), value, "the webhook admits everything when it fails")
            if path.lower().endswith("failopen") and value is True and before is not True:
                yield Finding(AREA, subject, path, short(before), "true", "the webhook admits everything when it fails")
