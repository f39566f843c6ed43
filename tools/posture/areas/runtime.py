"""Runtime detection: Falco installed, its model rules loaded, enabled, loud enough and alerting.

The model rules travel in the Falco release's `customRules`; each rule weakens when it is removed
or disabled, its priority falls, its condition or exceptions change, or a list or macro it relies
on changes (the diff cannot tell which way a list narrows the rules). The release weakens when it
is removed, loads fewer rule files, stops tolerating the tainted nodes it watched, or forwards
fewer alerts (sidekick off, a higher minimum priority).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from secure_model_serving.cluster.runtime import ALERT_OUTPUTS
from secure_model_serving.serving_vocabulary import FalcoPriority
from tools.manifests import load_yaml
from tools.posture.compare import added, lowered, release_lost
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "runtime detection"
KINDS: frozenset[str] = frozenset()
GROUPS: frozenset[str] = frozenset()
CHARTS = frozenset({"falco"})

_CHART = "falco"
_SUBJECT = f"Helm release {_CHART}"
_RANK = {priority.value: rank for rank, priority in enumerate(FalcoPriority)}
_MINIMUM_PRIORITY_SUFFIX = "_MINIMUMPRIORITY"
_ALERT_TARGETS = frozenset(ALERT_OUTPUTS.values())


def _items(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every rule, list and macro of the custom rules files, as `rule X` / `list X` / `macro X`."""
    found: dict[str, dict[str, Any]] = {}
    for text in (values.get("customRules") or {}).values():
        for item in load_yaml(text) or ():
            for kind in ("rule", "list", "macro"):
                if isinstance(item, dict) and kind in item:
                    found[f"{kind} {item[kind]}"] = item
    return found


def _rule_weakenings(was: dict[str, Any], now: dict[str, Any]) -> Iterator[Finding]:
    before, after = _items(was), _items(now)
    for name, item in before.items():
        current = after.get(name)
        if current is None:
            yield Finding(AREA, _SUBJECT, f"customRules: {name}", "loaded", ABSENT, "no longer detected")
            continue
        if name.startswith("rule "):
            if item.get("enabled", True) is not False and current.get("enabled", True) is False:
                yield Finding(AREA, _SUBJECT, f"customRules: {name}", "enabled", "disabled", "no longer detected")
            priority_was, priority_now = str(item.get("priority", "")).lower(), str(current.get("priority", "")).lower()
            if lowered(_RANK, priority_was, priority_now):
                yield Finding(
                    AREA,
                    _SUBJECT,
                    f"customRules: {name}: priority",
                    priority_was,
                    priority_now,
                    "alerts may fall below the forwarded minimum",
                )
            for field in ("condition", "exceptions"):
                if item.get(field) != current.get(field):
                    yield Finding(
                        AREA,
                        _SUBJECT,
                        f"customRules: {name}: {field}",
                        short(item.get(field)),
                        short(current.get(field)),
                        "review what it still detects",
                    )
        elif item != current:
            field = "items" if name.startswith("list ") else "condition"
            yield Finding(
                AREA,
                _SUBJECT,
                f"customRules: {name}: {field}",
                short(item.get(field)),
                short(current.get(field)),
                "the rules that use it detect something else",
            )


def _alerting(values: dict[str, Any]) -> dict[str, str]:
    return {
        str(e.get("name")): str(e.get("value"))
        for e in dig(values, "falcosidekick.config.extraEnv") or ()
        if "value" in e
    }


def _release_weakenings(was: dict[str, Any], now: dict[str, Any]) -> Iterator[Finding]:
    files_was, files_now = dig(was, "falco.rules_files") or [], dig(now, "falco.rules_files") or []
    lost = [path for path in files_was if path not in files_now]
    if lost:
        yield Finding(
            AREA, _SUBJECT, "falco.rules_files", short(files_was), short(files_now), f"{short(lost)} not loaded"
        )
    lost_tolerations = [t for t in was.get("tolerations") or () if t not in (now.get("tolerations") or ())]
    if lost_tolerations:
        yield Finding(
            AREA, _SUBJECT, "tolerations", short(lost_tolerations), ABSENT, "nodes with these taints go unwatched"
        )
    if dig(was, "falcosidekick.enabled") is True and dig(now, "falcosidekick.enabled") is not True:
        yield Finding(
            AREA, _SUBJECT, "falcosidekick.enabled", "true", short(dig(now, "falcosidekick.enabled")), "no alerts sent"
        )
    alerts_was, alerts_now = _alerting(was), _alerting(now)
    for name, value in alerts_was.items():
        if name.endswith(_MINIMUM_PRIORITY_SUFFIX) and (
            name not in alerts_now or lowered(_RANK, alerts_now[name].lower(), value.lower())
        ):
            yield Finding(
                AREA, _SUBJECT, f"falcosidekick env {name}", value, short(alerts_now.get(name)), "fewer alerts sent"
            )
    targets_was = {e.get("name") for e in dig(was, "falcosidekick.config.extraEnv") or ()} & _ALERT_TARGETS
    targets_now = {e.get("name") for e in dig(now, "falcosidekick.config.extraEnv") or ()} & _ALERT_TARGETS
    for name in sorted(targets_was - targets_now):
        yield Finding(AREA, _SUBJECT, f"falcosidekick env {name}", "set", ABSENT, "alerts no longer forwarded")
    if added([dig(was, "driver")], [dig(now, "driver")]):
        yield Finding(AREA, _SUBJECT, "driver", short(dig(was, "driver")), short(dig(now, "driver")), "review")


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every runtime-detection weakening between two renders."""
    yield from release_lost(AREA, old, new, _CHART, "no runtime detection at all")
    was, now = old.values(_CHART), new.values(_CHART)
    if was is not None and now is not None:
        yield from _rule_weakenings(was, now)
        yield from _release_weakenings(was, now)
