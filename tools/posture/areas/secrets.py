"""Secrets: External Secrets stores and ExternalSecrets, and the operator's cluster-wide switches.

A namespace's store weakens when its provider or credentials change, or when secrets come from a
cluster-wide store instead; an ExternalSecret when it pulls remote keys it did not before or
points at another store; the operator when it starts processing cluster-wide kinds, through
which one namespace's secrets can reach another.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.posture.compare import added, pairs
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "secrets"
KINDS = frozenset({"SecretStore", "ClusterSecretStore", "ExternalSecret", "ClusterExternalSecret", "Secret"})
GROUPS: frozenset[str] = frozenset()
CHARTS = frozenset({"external-secrets"})

_CLUSTER_KINDS = ("ClusterSecretStore", "ClusterExternalSecret")


def _remote_keys(document: dict[str, Any] | None) -> list[str]:
    keys = [
        f"{dig(item, 'remoteRef.key')}#{dig(item, 'remoteRef.property') or ''}"
        for item in dig(document, "spec.data") or ()
    ]
    keys += [short(item) for item in dig(document, "spec.dataFrom") or ()]
    return keys


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every secrets weakening between two renders."""
    for key, was, now in pairs(old, new, "SecretStore", *_CLUSTER_KINDS):
        if now is None:
            continue
        if was is None and key.kind in _CLUSTER_KINDS:
            yield Finding(
                AREA, str(key), "(object)", ABSENT, "present", "a cluster-wide store or secret: any namespace"
            )
        elif was is not None and dig(was, "spec") != dig(now, "spec"):
            yield Finding(
                AREA,
                str(key),
                "spec",
                "reviewed provider",
                short(dig(now, "spec.provider")),
                "the store reads with other credentials or from elsewhere",
            )
    for key, was, now in pairs(old, new, "ExternalSecret"):
        if now is None or was is None:
            continue
        grown = added(_remote_keys(was), _remote_keys(now))
        if grown:
            yield Finding(AREA, str(key), "spec.data", short(_remote_keys(was)), short(grown), "more secrets pulled")
        if dig(was, "spec.secretStoreRef") != dig(now, "spec.secretStoreRef"):
            yield Finding(
                AREA,
                str(key),
                "spec.secretStoreRef",
                short(dig(was, "spec.secretStoreRef")),
                short(dig(now, "spec.secretStoreRef")),
                "read from another store",
            )
    was, now = old.values("external-secrets"), new.values("external-secrets")
    if was is not None and now is not None:
        for path in sorted(
            k for k in was.keys() | now.keys() if k.startswith("processCluster") or k.startswith("processPush")
        ):
            if was.get(path) is False and now.get(path) is not False:
                yield Finding(
                    AREA,
                    "Helm release external-secrets",
                    path,
                    "false",
                    short(now.get(path)),
                    "cluster-wide secret kinds processed",
                )
