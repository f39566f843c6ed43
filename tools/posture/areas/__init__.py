"""One module per protection area. Each declares what it judges and how it finds weakenings:

    AREA     the name shown in the report
    KINDS    the object kinds it judges (a kind may be judged by more than one area)
    GROUPS   API groups whose every kind it judges (Gatekeeper constraints have a kind per policy)
    CHARTS   the Helm charts (release records) it judges
    weakenings(old, new) -> Iterator[Finding]

`AREAS` is the list the engine runs and `tools.posture.coverage` checks renders against.
"""

from __future__ import annotations

from types import ModuleType

from tools.posture.areas import (
    admission,
    edge,
    identity,
    mesh,
    namespaces,
    network,
    pods,
    quotas,
    runtime,
    secrets,
    signing,
    webhooks,
)

__all__ = ["AREAS"]

AREAS: tuple[ModuleType, ...] = (
    namespaces,
    admission,
    webhooks,
    pods,
    identity,
    network,
    mesh,
    edge,
    signing,
    secrets,
    runtime,
    quotas,
)
