"""The Markdown report, fit for a pull-request comment: weakenings first, then what was added,
removed and changed, each changed object with a compact field-level diff."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tools.posture.findings import Finding, short
from tools.posture.render import Render

__all__ = ["RenderDiff", "compare_files", "field_changes", "format_report"]

WEAKENINGS_HEADING = "## Weakens security posture"


@dataclass
class RenderDiff:
    """What changed between two renders (by file) and what of it weakens the posture."""

    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def compare_files(old: Render, new: Render, findings: list[Finding]) -> RenderDiff:
    """The files added, removed and changed between two renders."""
    before, after = old.files, new.files
    return RenderDiff(
        added={name: after[name] for name in sorted(after.keys() - before.keys())},
        removed={name: before[name] for name in sorted(before.keys() - after.keys())},
        changed={
            name: (before[name], after[name])
            for name in sorted(before.keys() & after.keys())
            if before[name] != after[name]
        },
        findings=findings,
    )


def field_changes(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; a missing side is None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            yield from field_changes(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
    elif isinstance(old, list) and isinstance(new, list):
        # Index by index, then what one side has beyond the other's length.
        for index in range(max(len(old), len(new))):
            yield from field_changes(
                old[index] if index < len(old) else None, new[index] if index < len(new) else None, f"{path}[{index}]"
            )
    elif old != new:
        yield path, old, new


def _label(name: str, document: Any) -> str:
    if isinstance(document, dict) and "kind" in document:
        metadata = document.get("metadata") or {}
        where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
        return f"`{document['kind']} {where}{metadata.get('name', '?')}` ({name})"
    if isinstance(document, dict) and "type" in document:
        return f"`Helm release {document.get('chart') or document['type']}` ({name})"
    return f"`{name}`"


def format_report(result: RenderDiff) -> str:
    """The Markdown report."""
    lines = [f"{WEAKENINGS_HEADING} ({len(result.findings)})", ""]
    lines += [finding.line() for finding in result.findings] or ["Nothing flagged."]
    for title, files in (("Added", result.added), ("Removed", result.removed)):
        lines += ["", f"## {title} ({len(files)})", ""]
        lines += [f"- {_label(name, document)}" for name, document in files.items()] or ["None."]
    lines += ["", f"## Changed ({len(result.changed)})", ""]
    for name, (old, new) in result.changed.items():
        lines.append(f"- {_label(name, new)}")
        lines += [f"  - `{path}`: {short(a)} -> {short(b)}" for path, a, b in field_changes(old, new)]
    if not result.changed:
        lines.append("None.")
    return "\n".join(lines) + "\n"
