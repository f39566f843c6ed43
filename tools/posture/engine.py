"""Runs every area over two renders and collects the weakenings, in area order, each once."""

from __future__ import annotations

from tools.posture.areas import AREAS
from tools.posture.coverage import unjudged_changes
from tools.posture.findings import Finding
from tools.posture.render import Render

__all__ = ["weakenings"]


def weakenings(old: Render, new: Render) -> list[Finding]:
    """Everything that weakens the posture from `old` to `new`."""
    found: dict[Finding, None] = {}
    for area in AREAS:
        found.update(dict.fromkeys(area.weakenings(old, new)))
    found.update(dict.fromkeys(unjudged_changes(old, new)))
    return list(found)
