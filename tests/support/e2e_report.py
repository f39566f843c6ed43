"""The real-API-server tier's report (tests/e2e): one entry per test (stack, group, case, outcome,
details), a JSON file and the summary lines, the last two of which are

    supply-chain: signed admitted S/S; unsigned refused U/U; other key refused K/K; tag refused T/T;
        outside policy refused O/O; bare prefix refused B/B; model signature held V/V; mesh-injected admitted M/M;
        keyless policy validated K/K
    e2e: applied N objects, E errors; attack denied A/A; legit admitted L/L; expansion refused X/X;
        rbac checks R/R; runbook contained B/B; tenants I/I; supply-chain C/C

Counts are of cases whose expected verdict held: an xfail (a known defect) counts in the total,
never as held, and so does any failure or error. A case skipped because it does not apply to a
stack (one stack's model-pod fixtures in another) is left out of the totals and counted apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["GROUPS", "SUPPLY_GROUPS", "Entry", "summary_lines", "write_report"]

GROUPS = ("apply", "attack", "legit", "expansion", "rbac", "runbook", "tenants")
SUPPLY_GROUPS = {
    "supply:signed": "signed admitted",
    "supply:unsigned": "unsigned refused",
    "supply:other-key": "other key refused",
    "supply:tag": "tag refused",
    "supply:outside": "outside policy refused",
    "supply:bare-prefix": "bare prefix refused",
    "supply:model": "model signature held",
    "supply:mesh-injected": "mesh-injected admitted",
    "supply:keyless": "keyless policy validated",
}
"""The supply-chain cases (tests/e2e/test_supply_chain.py), in the order the summary prints them."""


@dataclass
class Entry:
    """One test of the tier and what it found."""

    nodeid: str
    stack: str
    group: str
    outcome: str = "not run"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return self.outcome == "passed"


def _counts(entries: Iterable[Entry], group: str) -> tuple[int, int]:
    chosen = [entry for entry in entries if entry.group == group and entry.outcome != "skipped"]
    return sum(entry.held for entry in chosen), len(chosen)


def summary_lines(entries: list[Entry]) -> list[str]:
    """Per-stack lines, then the one-line summary (always last)."""
    lines = []
    order = ["dev", "staging", "prod"]
    stacks = sorted({entry.stack for entry in entries}, key=lambda s: (order.index(s) if s in order else len(order), s))
    applied = errors = 0
    for stack in stacks:
        mine = [entry for entry in entries if entry.stack == stack]
        parts = []
        for group in GROUPS[1:]:
            held, total = _counts(mine, group)
            parts.append(f"{group} {held}/{total}")
        xfailed = sum(entry.outcome == "xfailed" for entry in mine)
        skipped = sum(entry.outcome == "skipped" for entry in mine)
        for entry in mine:
            if entry.group == "apply":
                applied += int(entry.details.get("applied", 0))
                errors += int(entry.details.get("errors", 0)) + (0 if entry.held else 1)
        action = next((e.details.get("enforcement") for e in mine if e.details.get("enforcement")), "?")
        lines.append(
            f"e2e[{stack}] (enforcementAction {action}): {', '.join(parts)}; {xfailed} known defects (xfail); "
            f"{skipped} not applicable (skipped)"
        )
    attack, attacks = _counts(entries, "attack")
    legit, legits = _counts(entries, "legit")
    expansion, expansions = _counts(entries, "expansion")
    rbac, rbacs = _counts(entries, "rbac")
    runbook, runbooks = _counts(entries, "runbook")
    tenants, tenant_cases = _counts(entries, "tenants")
    supply = {group: _counts(entries, group) for group in SUPPLY_GROUPS}
    lines.append(
        "supply-chain: "
        + "; ".join(f"{SUPPLY_GROUPS[group]} {held}/{total}" for group, (held, total) in supply.items())
    )
    lines.append(
        f"e2e: applied {applied} objects, {errors} errors; attack denied {attack}/{attacks}; "
        f"legit admitted {legit}/{legits}; expansion refused {expansion}/{expansions}; rbac checks {rbac}/{rbacs}; "
        f"runbook contained {runbook}/{runbooks}; tenants {tenants}/{tenant_cases}; "
        f"supply-chain {sum(held for held, _ in supply.values())}/{sum(total for _, total in supply.values())}"
    )
    return lines


def write_report(path: Path, entries: list[Entry], extra: Mapping[str, Any]) -> None:
    data = {**extra, "summary": summary_lines(entries), "cases": [asdict(entry) for entry in entries]}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
