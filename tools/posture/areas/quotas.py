"""Quotas: a namespace's ResourceQuota and LimitRange must not loosen or go.

A quota weakens when a limit rises or is dropped, or when it gains scopes (it then counts fewer
objects); a LimitRange when a maximum rises or is dropped. Both weaken when deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from secure_model_serving.formats import parse_quantity
from tools.posture.compare import pairs, removed_protection
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "quota"
KINDS = frozenset({"ResourceQuota", "LimitRange"})
GROUPS: frozenset[str] = frozenset()
CHARTS: frozenset[str] = frozenset()


def _raised(old: Any, new: Any) -> bool:
    try:
        return parse_quantity(str(new)) > parse_quantity(str(old))
    except ValueError:
        return new != old


def _bounds(subject: str, field: str, was: dict[str, Any], now: dict[str, Any]) -> Iterator[Finding]:
    for name, value in sorted(was.items()):
        if name not in now:
            yield Finding(AREA, subject, f"{field}.{name}", str(value), ABSENT, "no longer bounded")
        elif _raised(value, now[name]):
            yield Finding(AREA, subject, f"{field}.{name}", str(value), str(now[name]), "raised")


def _in_deleted_namespace(old: Render, new: Render, namespace: str) -> bool:
    return old.namespace_labels(namespace) is not None and new.namespace_labels(namespace) is None


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every quota weakening between two renders."""
    for key, was, now in pairs(old, new, "ResourceQuota"):
        if was is None or _in_deleted_namespace(old, new, key.namespace):
            continue
        if now is None:
            yield removed_protection(AREA, key, "the namespace's consumption is unbounded")
            continue
        yield from _bounds(str(key), "spec.hard", dig(was, "spec.hard") or {}, dig(now, "spec.hard") or {})
        for field in ("spec.scopes", "spec.scopeSelector"):
            if dig(now, field) and dig(now, field) != dig(was, field):
                yield Finding(
                    AREA, str(key), field, short(dig(was, field)), short(dig(now, field)), "counts fewer objects"
                )
    for key, was, now in pairs(old, new, "LimitRange"):
        if was is None or _in_deleted_namespace(old, new, key.namespace):
            continue
        if now is None:
            yield removed_protection(AREA, key, "containers without limits are no longer bounded")
            continue
        new_limits = {entry.get("type"): entry for entry in dig(now, "spec.limits") or ()}
        for entry in dig(was, "spec.limits") or ():
            current = new_limits.get(entry.get("type"), {})
            yield from _bounds(
                str(key), f"spec.limits[{entry.get('type')}].max", entry.get("max") or {}, current.get("max") or {}
            )
