"""Small comparisons the areas share: paired objects, allow-list growth, ranks, lost protections."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tools.posture.findings import ABSENT, Finding
from tools.posture.render import ObjectKey, Render

__all__ = ["added", "lowered", "pairs", "release_lost", "removed_protection"]


def pairs(
    old: Render, new: Render, *kinds: str
) -> Iterator[tuple[ObjectKey, dict[str, Any] | None, dict[str, Any] | None]]:
    """(key, old document or None, new document or None) for every object of these kinds on either side."""
    before, after = old.of_kind(*kinds), new.of_kind(*kinds)
    for key in sorted(before.keys() | after.keys()):
        yield key, before.get(key), after.get(key)


def added(old: Iterable[Any], new: Iterable[Any]) -> list[Any]:
    """Entries of `new` that `old` did not have, in `new`'s order (works for unhashable entries)."""
    before = list(old)
    return [item for item in new if item not in before]


def lowered(rank: Mapping[str, int], old: Any, new: Any, default: int = 0) -> bool:
    """Whether `new` ranks below `old` (an unknown value ranks `default`)."""
    return rank.get(str(new), default) < rank.get(str(old), default)


def removed_protection(area: str, key: ObjectKey, why: str) -> Finding:
    """The finding for a protecting object that the new render no longer has."""
    return Finding(area, str(key), "(object)", "present", ABSENT, why)


def release_lost(area: str, old: Render, new: Render, chart: str, why: str) -> Iterator[Finding]:
    """A finding when the old render installed `chart` and the new one does not."""
    if chart in old.releases and chart not in new.releases:
        yield Finding(area, f"Helm release {chart}", "(release)", "installed", ABSENT, why)
