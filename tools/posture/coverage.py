"""Which kinds and Helm charts the diff understands: each is judged by an area or named neutral here.

A render is fully understood when every object kind and every release belongs to one of the two.
A test holds every stack's render to it, so a new kind of protection fails the suite until an
area judges it (or it is named here, with the reason it protects nothing). At diff time, any
change to something not understood is itself reported as a weakening the diff cannot judge.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.posture.areas import AREAS
from tools.posture.areas.admission import group_of
from tools.posture.findings import ABSENT, Finding
from tools.posture.render import Render

__all__ = ["NEUTRAL_CHARTS", "NEUTRAL_KINDS", "judged_chart", "judged_kind", "unclassified", "unjudged_changes"]

NEUTRAL_KINDS: dict[str, str] = {
    "PodDisruptionBudget": "availability during drains, not access",
    "HorizontalPodAutoscaler": "replica count, bounded by the namespace quota",
    "ClusterIssuer": "who issues is judged where it is used: a Certificate's issuerRef",
}
"""Kinds that protect nothing, each with the reason."""

NEUTRAL_CHARTS: dict[str, str] = {
    "CertManager": "issues certificates; the Certificate and Gateway TLS settings are judged",
    "cert-manager": "issues certificates; the Certificate and Gateway TLS settings are judged",
}
"""Helm charts (or remote components) that protect nothing themselves, each with the reason."""

AREA = "not understood by the diff"


def judged_kind(document: dict[str, Any]) -> bool:
    """Whether an area judges, or this module names neutral, the object's kind."""
    kind = str(document.get("kind"))
    return kind in NEUTRAL_KINDS or any(kind in area.KINDS or group_of(document) in area.GROUPS for area in AREAS)


def judged_chart(chart: str) -> bool:
    """Whether an area judges, or this module names neutral, the chart."""
    return chart in NEUTRAL_CHARTS or any(chart in area.CHARTS for area in AREAS)


def unclassified(render: Render) -> list[str]:
    """Kinds (as `apiVersion Kind`) and charts of the render that nothing judges."""
    kinds = {f"{doc.get('apiVersion')} {doc.get('kind')}" for doc in render.objects.values() if not judged_kind(doc)}
    charts = {f"Helm chart {chart}" for chart in render.releases if not judged_chart(chart)}
    return sorted(kinds | charts)


def unjudged_changes(old: Render, new: Render) -> Iterator[Finding]:
    """A finding for every added, removed or changed object or release that nothing judges."""
    why = "teach tools/posture what it protects, or name it neutral in tools/posture/coverage.py"
    for key in sorted(old.objects.keys() | new.objects.keys()):
        was, now = old.objects.get(key), new.objects.get(key)
        if was != now and not judged_kind(now or was or {}):
            yield Finding(AREA, str(key), "(object)", "present" if was else ABSENT, "present" if now else ABSENT, why)
    for chart in sorted(old.releases.keys() | new.releases.keys()):
        was, now = old.releases.get(chart), new.releases.get(chart)
        if was != now and not judged_chart(chart):
            yield Finding(AREA, f"Helm release {chart}", "(release)", "present" if was else ABSENT,
                          "changed" if was and now else ("present" if now else ABSENT), why)  # fmt: skip
