"""A weakening as a reviewer reads it: the area, the object, the field and old -> new."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["ABSENT", "Finding", "short"]

ABSENT = "(absent)"
"""Shown for a value or object that does not exist on one side."""

_MAX_VALUE = 100


def short(value: Any) -> str:
    """A value on one line, cut to a readable length."""
    if value is None:
        return ABSENT
    if isinstance(value, str):
        text = value
    else:
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


@dataclass(frozen=True, order=True)
class Finding:
    """One weakening: `subject` (the object or release), `field`, and the value before and after."""

    area: str
    subject: str
    field: str
    old: str
    new: str
    why: str = ""

    def line(self) -> str:
        """One Markdown list item."""
        why = f" ({self.why})" if self.why else ""
        return f"- **{self.area}** `{self.subject}` `{self.field}`: {self.old} -> {self.new}{why}"
