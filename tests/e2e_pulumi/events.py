"""Reading the Pulumi engine's event log (`--event-log FILE`: one JSON event per line).

Pure functions over the parsed events: what an operation changed, in which order the engine
finished and started each resource, and what the policy pack reported. The order is the event
log's `sequence`, the engine's own total order: no clock is involved.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Step",
    "changes",
    "finished_before_started",
    "policy_violations",
    "read_events",
    "refused_deletes",
    "steps",
    "summary_counts",
]

Event = Mapping[str, Any]


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of an event log, in the order written."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Step:
    """One resource step: its URN, type and operation, when it started and when its outputs came
    (sequence numbers; `finished` is None for a step without outputs, e.g. a failed one), its
    outputs, and the URN of its old state (`old_urn`, "" without one; another URN when the engine
    matched the resource through an alias)."""

    urn: str
    type: str
    op: str
    started: int
    finished: int | None
    outputs: Mapping[str, Any]
    diffs: tuple[str, ...] = ()
    old_urn: str = ""

    @property
    def name(self) -> str:
        return self.urn.rpartition("::")[2]


def steps(events: Iterable[Event]) -> list[Step]:
    """Every resource step of a run (pre-event, then its outputs event), in starting order."""
    started: dict[str, tuple[int, Mapping[str, Any]]] = {}
    finished: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for event in events:
        sequence = int(event.get("sequence", 0))
        if "resourcePreEvent" in event:
            metadata = event["resourcePreEvent"]["metadata"]
            started.setdefault(metadata["urn"], (sequence, metadata))
        elif "resOutputsEvent" in event:
            metadata = event["resOutputsEvent"]["metadata"]
            finished[metadata["urn"]] = (sequence, metadata)
    found = []
    for urn, (sequence, metadata) in started.items():
        done = finished.get(urn)
        outputs = ((done[1].get("new") or {}).get("outputs") or {}) if done else {}
        found.append(
            Step(
                urn=urn,
                type=str(metadata.get("type", "")),
                op=str(metadata.get("op", "")),
                started=sequence,
                finished=done[0] if done else None,
                outputs=outputs,
                diffs=tuple(metadata.get("diffs") or ()),
                old_urn=str((metadata.get("old") or {}).get("urn") or ""),
            )
        )
    return sorted(found, key=lambda step: step.started)


def summary_counts(events: Iterable[Event]) -> dict[str, int]:
    """The engine's closing count of resources by operation (`create`, `same`, `update`, ...)."""
    for event in events:
        if "summaryEvent" in event:
            return {key: int(value) for key, value in (event["summaryEvent"].get("resourceChanges") or {}).items()}
    raise ValueError("the event log has no summary event: the operation did not finish")


def changes(events: Iterable[Event]) -> int:
    """How many resources an operation changes: every counted operation but `same`."""
    return sum(count for op, count in summary_counts(events).items() if op != "same")


def finished_before_started(before: Step, after: Step) -> bool:
    """True when the engine had `before`'s outputs (its create, and any wait, done) before it
    started `after`."""
    return before.finished is not None and before.finished < after.started


def policy_violations(events: Iterable[Event]) -> list[dict[str, Any]]:
    """The policy pack's reports of a run (`policyEvent`), each with its policy and message."""
    return [dict(event["policyEvent"]) for event in events if "policyEvent" in event]


_PROTECTED = re.compile(r'resource "(?P<urn>urn:pulumi:[^"]+)" cannot be deleted\s+because it is protected')


def refused_deletes(events: Iterable[Event]) -> set[str]:
    """URNs whose deletion the engine refused because the resource is protected."""
    found = set()
    for event in events:
        message = str((event.get("diagnosticEvent") or {}).get("message", ""))
        found.update(match["urn"] for match in _PROTECTED.finditer(message))
    return found
