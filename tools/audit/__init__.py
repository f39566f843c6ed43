"""Blast-radius audit: what a compromise of each workload would hand an attacker.

    python -m tools.audit render/prod                    # Markdown, one section per workload
    python -m tools.audit --json deploy/*.yaml           # the same answers as JSON
    python -m tools.audit evidence/                      # live objects (`kubectl get -o yaml` Lists)

For every Pod and pod-template workload in the paths it reports:

* host: privileged containers, hostPID/hostIPC/hostNetwork, hostPath mounts, host ports;
* capabilities: each container's effective capabilities (`ALL` when privileged);
* secrets: secret volumes, projected secrets, envFrom / secretKeyRef, and every service-account
  token the pod holds (tools.audit.pods: projected token volumes, `kube-api-access-*`, legacy
  token Secrets, the implicit automount), each with its audience;
* rbac: every rule bound to its service account, through every subject form and aggregated
  ClusterRoles, with the dangerous permissions flagged (tools.audit.rbac);
* network: the NetworkPolicies selecting it, whether each direction is really restricted, and the
  Istio AuthorizationPolicies of its namespace (tools.audit.network);
* policy: the violations tools.policy finds (the policies in the paths, else prod's).

Only the objects in the paths are known: a binding or policy that is not there is not seen.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from tools.audit.network import network_reach
from tools.audit.pods import API_AUDIENCES, effective_capabilities, host_access, secret_names, token_mounts
from tools.audit.rbac import account_grants
from tools.manifests import containers, load_manifests, pod_metadata, pod_spec
from tools.policy import check

__all__ = ["SCHEMA_KEYS", "audit", "audit_objects"]

SCHEMA_KEYS = ("workload", "host", "capabilities", "secrets", "rbac", "network", "policy")
"""Top-level keys of every workload's JSON entry, in order (a stable schema)."""


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def audit_objects(
    objects: list[dict[str, Any]], violations: Iterable[Any] = (), api_audiences: Collection[str] = API_AUDIENCES
) -> list[dict[str, Any]]:
    """One entry per workload (keys SCHEMA_KEYS); `violations` are tools.policy Violations."""
    accounts = {
        (_meta(o).get("namespace"), _meta(o).get("name")): o for o in objects if o.get("kind") == "ServiceAccount"
    }
    secret_types = {
        (_meta(o).get("namespace"), _meta(o).get("name")): str(o.get("type", ""))
        for o in objects
        if o.get("kind") == "Secret"
    }
    found = list(violations)
    entries = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        namespace, name = _meta(obj).get("namespace", "default"), _meta(obj).get("name", "?")
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        types = {secret: kind for (ns, secret), kind in secret_types.items() if ns == namespace}
        tokens = token_mounts(spec, accounts.get((namespace, account)), types, api_audiences)
        entries.append(
            {
                "workload": {"kind": obj["kind"], "namespace": namespace, "name": name, "serviceAccount": account},
                "host": host_access(spec),
                "capabilities": {c["name"]: effective_capabilities(c) for c in containers(spec)},
                "secrets": {
                    "names": secret_names(spec),
                    "serviceAccountToken": any(token["apiToken"] for token in tokens),
                    "tokens": tokens,
                },
                "rbac": account_grants(objects, namespace, account),
                "network": network_reach(
                    objects, namespace, dict(pod_metadata(obj).get("labels") or {}), bool(spec.get("hostNetwork"))
                ),
                "policy": [
                    {"action": v.action, "constraint": f"{v.constraint_kind}/{v.constraint_name}", "message": v.message}
                    for v in found
                    if (v.kind, v.namespace, v.name) == (obj["kind"], namespace, name)
                ],
            }
        )
    return entries


def audit(
    paths: list[Path], stack: str | None = None, api_audiences: Collection[str] = API_AUDIENCES
) -> list[dict[str, Any]]:
    """Audit the manifests under `paths`, judging them with tools.policy."""
    objects = load_manifests(paths)
    return audit_objects(objects, check(paths, stack).violations, api_audiences)
