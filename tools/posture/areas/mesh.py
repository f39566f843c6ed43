"""Mesh security: PeerAuthentication (mTLS) and AuthorizationPolicy, judged per namespace.

Istio allows every request to a workload that no ALLOW policy selects. The platform's
`allow-nothing` (an ALLOW policy without rules or selector) makes every namespace default-deny,
and ALLOW rules then name callers. So deleting `allow-nothing`, or all ALLOW policies, is a
weakening (allow-all), while deleting one ALLOW rule is stricter and silent. A new or changed ALLOW
rule is a weakening unless an old rule matched at least the same requests; a DENY rule that goes
is a weakening. mTLS weakens when a mode leaves STRICT or the STRICT policy goes. An EnvoyFilter
patches the proxy's configuration beyond what the other APIs can say, so any new or changed one is
flagged for review, and losing one (the platform's bound the request read time) is a weakening.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.posture.compare import pairs, removed_protection
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "mesh security"
KINDS = frozenset({"PeerAuthentication", "AuthorizationPolicy", "EnvoyFilter"})
GROUPS: frozenset[str] = frozenset()
CHARTS: frozenset[str] = frozenset()

_STRICT = "STRICT"
_RESTRICTING = ("DENY", "CUSTOM")


def _modes(document: dict[str, Any]) -> dict[str, str]:
    spec = document.get("spec") or {}
    modes = {"mtls.mode": dig(spec, "mtls.mode") or "UNSET"}
    modes.update(
        {
            f"portLevelMtls.{port}.mode": (v or {}).get("mode", "UNSET")
            for port, v in (spec.get("portLevelMtls") or {}).items()
        }
    )
    return modes


def _peer_authentication_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "PeerAuthentication"):
        if was is None:
            if now is not None:
                weak = {path: mode for path, mode in _modes(now).items() if mode in ("PERMISSIVE", "DISABLE")}
                for path, mode in sorted(weak.items()):
                    yield Finding(AREA, str(key), f"spec.{path}", ABSENT, mode, "plaintext accepted")
            continue
        if now is None:
            if _STRICT in _modes(was).values():
                yield removed_protection(AREA, key, "STRICT mTLS no longer required")
            continue
        old_modes, new_modes = _modes(was), _modes(now)
        for path, mode in old_modes.items():
            # An unset port level inherits the policy's own mode.
            current = new_modes.get(path, new_modes["mtls.mode"])
            if mode == _STRICT and current != _STRICT:
                yield Finding(AREA, str(key), f"spec.{path}", mode, current, "plaintext accepted")
        for path, mode in new_modes.items():
            if path not in old_modes and mode in ("PERMISSIVE", "DISABLE") and old_modes["mtls.mode"] == _STRICT:
                yield Finding(AREA, str(key), f"spec.{path}", _STRICT, mode, "plaintext accepted on this port")
        if dig(now, "spec.selector") and not dig(was, "spec.selector"):
            yield Finding(
                AREA, str(key), "spec.selector", ABSENT, short(dig(now, "spec.selector")), "no longer namespace-wide"
            )


def _value_covers(wide: str, narrow: str) -> bool:
    """Istio string matching: exact, `*`, a `prefix*` or a `*suffix`."""
    return (
        wide in (narrow, "*")
        or (wide.endswith("*") and narrow.startswith(wide[:-1]))
        or (wide.startswith("*") and narrow.endswith(wide[1:]))
    )


def _values_cover(wide: dict[str, Any], narrow: dict[str, Any]) -> bool:
    """Whether a source or operation `narrow` matches no request that `wide` does not."""
    for field, values in wide.items():
        if field.startswith("not"):
            if not set(values or ()) <= set(narrow.get(field) or ()):
                return False
        elif field not in narrow or not all(
            any(_value_covers(str(w), str(n)) for w in values or ()) for n in narrow[field] or ()
        ):
            return False
    return True


def _side_covers(wide: list[dict[str, Any]] | None, narrow: list[dict[str, Any]] | None, inner: str) -> bool:
    if not wide:
        return True
    if not narrow:
        return False
    return all(any(_values_cover(w.get(inner) or {}, n.get(inner) or {}) for w in wide) for n in narrow)


def _rule_covers(wide: dict[str, Any], narrow: dict[str, Any]) -> bool:
    """Whether every request `narrow` matches is matched by `wide`."""
    conditions_ok = all(condition in (narrow.get("when") or ()) for condition in wide.get("when") or ())
    return (
        _side_covers(wide.get("from"), narrow.get("from"), "source")
        and _side_covers(wide.get("to"), narrow.get("to"), "operation")
        and conditions_ok
    )


def _allow_policies(render: Render, namespace: str) -> list[dict[str, Any]]:
    return [
        doc.get("spec") or {}
        for key, doc in render.of_kind("AuthorizationPolicy").items()
        if key.namespace == namespace and (dig(doc, "spec.action") or "ALLOW") == "ALLOW"
    ]


def _default_deny(render: Render, namespace: str) -> bool:
    """Whether a namespace-wide ALLOW policy makes unmatched requests denied for every pod."""
    return any(not spec.get("selector") and not spec.get("targetRef") for spec in _allow_policies(render, namespace))


def _authorization_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    namespaces = {key.namespace for key in old.of_kind("AuthorizationPolicy")}
    for namespace in sorted(namespaces):
        if old.namespace_labels(namespace) is not None and new.namespace_labels(namespace) is None:
            continue  # the namespace itself is deleted
        if _default_deny(old, namespace) and not _default_deny(new, namespace):
            now = "ALLOW policies only for selected pods" if _allow_policies(new, namespace) else "none"
            yield Finding(
                AREA,
                f"AuthorizationPolicies of {namespace}",
                "namespace-wide ALLOW (allow-nothing)",
                "default deny",
                now,
                "requests no rule allows are now allowed: allow-all",
            )
    for key, was, now in pairs(old, new, "AuthorizationPolicy"):
        spec_was, spec_now = (was or {}).get("spec") or {}, (now or {}).get("spec") or {}
        action_was, action_now = spec_was.get("action") or "ALLOW", spec_now.get("action") or "ALLOW"
        if was is not None and action_was in _RESTRICTING:
            kept = now is not None and action_now == action_was
            lost = [
                r
                for r in spec_was.get("rules") or [{}]
                if not kept or not any(_rule_covers(n, r) for n in spec_now.get("rules") or [{}])
            ]
            if lost:
                yield Finding(
                    AREA,
                    str(key),
                    "spec.rules",
                    short(lost),
                    ABSENT if now is None else short(spec_now.get("rules")),
                    f"{action_was} rule no longer applies",
                )
        # Where no ALLOW policy stood, everything was allowed: a new ALLOW policy only restricts.
        if now is None or action_now != "ALLOW" or not _allow_policies(old, key.namespace):
            continue
        old_rules = spec_was.get("rules") or [] if action_was == "ALLOW" else []
        for rule in spec_now.get("rules") or []:
            if not any(_rule_covers(r, rule) for r in old_rules):
                yield Finding(AREA, str(key), "spec.rules", "(not allowed)", short(rule), "ALLOW rule added or widened")
        if was is not None and spec_was.get("selector") and not spec_now.get("selector") and spec_now.get("rules"):
            yield Finding(
                AREA, str(key), "spec.selector", short(spec_was["selector"]), ABSENT, "the ALLOW now covers every pod"
            )


def _envoy_filter_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "EnvoyFilter"):
        if now is None:
            yield removed_protection(AREA, key, "its bound on the proxy is gone")
        elif was is None or was.get("spec") != now.get("spec"):
            why = "patches the proxy beyond Istio's APIs: review what it changes"
            yield Finding(AREA, str(key), "spec", "(absent)" if was is None else "as before", "changed", why)


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every mTLS and authorization weakening between two renders."""
    yield from _envoy_filter_weakenings(old, new)
    yield from _peer_authentication_weakenings(old, new)
    yield from _authorization_weakenings(old, new)
