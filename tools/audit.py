"""Blast-radius audit: what a compromise of each workload would hand an attacker.

    python -m tools.audit render/prod            # Markdown, one section per workload
    python -m tools.audit --json deploy/*.yaml   # the same answers as JSON

For every Pod and pod-template workload in the paths it reports:

* host: privileged containers, hostPID/hostIPC/hostNetwork, hostPath mounts, host ports;
* capabilities added to any container;
* secrets: secret volumes, projected secrets, envFrom / secretKeyRef, and whether a service
  account token is mounted (the pod's automountServiceAccountToken, else the ServiceAccount's,
  else true, as the API server resolves it);
* rbac: every rule bound to its service account through RoleBindings and ClusterRoleBindings
  (subjects of kind ServiceAccount and the system:serviceaccounts groups), with the dangerous
  ones highlighted (secrets read, pods/exec, pod creation, escalate/bind/impersonate, wildcards);
* network: the NetworkPolicies selecting it (peers and ports per direction, default-deny or not)
  and the Istio AuthorizationPolicies of its namespace;
* policy: the violations tools.policy finds (the policies in the paths, else prod's).

Only the objects in the paths are known: a binding or policy that is not there is not seen.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tools.policy import InputError, check, load_manifests
from tools.posture.areas.pods import pod_spec

__all__ = ["SCHEMA_KEYS", "audit", "audit_objects", "format_markdown", "main"]

SCHEMA_KEYS = ("workload", "host", "capabilities", "secrets", "rbac", "network", "policy")
"""Top-level keys of every workload's JSON entry, in order (a stable schema)."""

_SECRET_VERBS = {"get", "list", "watch", "*"}
_ESCALATION_VERBS = {"escalate", "bind", "impersonate"}
_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_ROLE_KINDS = ("Role", "ClusterRole")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for field in _CONTAINER_LISTS for c in spec.get(field) or ()]


def _host_access(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "privileged": sorted(
            c["name"] for c in _containers(spec) if (c.get("securityContext") or {}).get("privileged")
        ),
        "namespaces": [key for key in _HOST_NAMESPACES if spec.get(key)],
        "hostPaths": sorted(
            (v.get("hostPath") or {}).get("path", "") for v in spec.get("volumes") or () if "hostPath" in v
        ),
        "hostPorts": sorted(
            p["hostPort"] for c in _containers(spec) for p in c.get("ports") or () if p.get("hostPort")
        ),
    }


def _capabilities(spec: dict[str, Any]) -> list[str]:
    return sorted(
        {
            cap
            for c in _containers(spec)
            for cap in ((c.get("securityContext") or {}).get("capabilities") or {}).get("add") or ()
        }
    )


def _secret_names(spec: dict[str, Any]) -> list[str]:
    names = set()
    for volume in spec.get("volumes") or ():
        if "secret" in volume:
            names.add(volume["secret"].get("secretName", ""))
        for source in (volume.get("projected") or {}).get("sources") or ():
            if "secret" in source:
                names.add(source["secret"].get("name", ""))
    for container in _containers(spec):
        names |= {
            (e.get("secretRef") or {}).get("name", "") for e in container.get("envFrom") or () if "secretRef" in e
        }
        names |= {
            ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name", "")
            for e in container.get("env") or ()
            if "secretKeyRef" in (e.get("valueFrom") or {})
        }
    return sorted(names)


def _token_mounted(spec: dict[str, Any], account: dict[str, Any] | None) -> bool:
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if account is not None and account.get("automountServiceAccountToken") is not None:
        return bool(account["automountServiceAccountToken"])
    return True


def _binds(binding: dict[str, Any], namespace: str, account: str) -> bool:
    for subject in binding.get("subjects") or ():
        kind, name = subject.get("kind"), subject.get("name")
        if (
            kind == "ServiceAccount"
            and name == account
            and subject.get("namespace", _meta(binding).get("namespace")) == namespace
        ):
            return True
        if kind == "Group" and name in ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"):
            return True
    return False


def _danger(rule: dict[str, Any]) -> list[str]:
    verbs, resources = set(rule.get("verbs") or ()), set(rule.get("resources") or ())
    flags = []
    if "*" in verbs or "*" in resources or "*" in (rule.get("apiGroups") or ()):
        flags.append("wildcard")
    if resources & {"secrets", "*"} and verbs & _SECRET_VERBS:
        flags.append("reads secrets")
    if resources & {"pods/exec", "*"} and verbs & {"create", "get", "*"}:
        flags.append("pods/exec")
    if resources & {"pods", "*"} and verbs & {"create", "*"}:
        flags.append("creates pods")
    flags += sorted(verbs & _ESCALATION_VERBS)
    return flags


def _rbac(objects: list[dict[str, Any]], namespace: str, account: str) -> list[dict[str, Any]]:
    roles = {
        (o["kind"], _meta(o).get("namespace"), _meta(o).get("name")): o for o in objects if o.get("kind") in _ROLE_KINDS
    }
    grants = []
    for binding in objects:
        if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding") or not _binds(binding, namespace, account):
            continue
        ref = binding.get("roleRef") or {}
        scope = _meta(binding).get("namespace") if binding["kind"] == "RoleBinding" else None
        role = roles.get((ref.get("kind"), scope if ref.get("kind") == "Role" else None, ref.get("name")))
        for rule in (role or {}).get("rules") or ():
            grants.append(
                {
                    "binding": f"{binding['kind']}/{_meta(binding).get('name')}",
                    "role": f"{ref.get('kind')}/{ref.get('name')}",
                    "scope": scope or "cluster",
                    "apiGroups": list(rule.get("apiGroups") or ()),
                    "resources": list(rule.get("resources") or ()),
                    "verbs": list(rule.get("verbs") or ()),
                    "danger": _danger(rule),
                }
            )
        if role is None:
            grants.append(
                {
                    "binding": f"{binding['kind']}/{_meta(binding).get('name')}",
                    "role": f"{ref.get('kind')}/{ref.get('name')}",
                    "scope": scope or "cluster",
                    "apiGroups": [],
                    "resources": [],
                    "verbs": [],
                    "danger": ["role not in the paths"],
                }
            )
    return grants


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or ()
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values):
            return False
        if (operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


def _network(objects: list[dict[str, Any]], namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    policies = [
        o
        for o in objects
        if o.get("kind") == "NetworkPolicy"
        and _meta(o).get("namespace") == namespace
        and _selects((o.get("spec") or {}).get("podSelector"), labels)
    ]
    result: dict[str, Any] = {"networkPolicies": [], "ingressRestricted": False, "egressRestricted": False}
    for policy in policies:
        spec = policy.get("spec") or {}
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
        result["ingressRestricted"] |= "Ingress" in types
        result["egressRestricted"] |= "Egress" in types
        result["networkPolicies"].append(
            {
                "name": _meta(policy).get("name"),
                "policyTypes": types,
                "defaultDeny": not spec.get("ingress") and not spec.get("egress"),
                "ingress": [
                    {"from": r.get("from") or "anywhere", "ports": r.get("ports") or "all"}
                    for r in spec.get("ingress") or ()
                ],
                "egress": [
                    {"to": r.get("to") or "anywhere", "ports": r.get("ports") or "all"}
                    for r in spec.get("egress") or ()
                ],
            }
        )
    result["authorizationPolicies"] = [
        {
            "name": _meta(o).get("name"),
            "action": (o.get("spec") or {}).get("action", "ALLOW"),
            "rules": (o.get("spec") or {}).get("rules") or [],
        }
        for o in objects
        if o.get("kind") == "AuthorizationPolicy" and _meta(o).get("namespace") in (namespace, "istio-system")
    ]
    return result


def audit_objects(objects: list[dict[str, Any]], violations: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """One entry per workload (keys SCHEMA_KEYS); `violations` are tools.policy Violations."""
    accounts = {
        (_meta(o).get("namespace"), _meta(o).get("name")): o for o in objects if o.get("kind") == "ServiceAccount"
    }
    found = list(violations)
    entries = []
    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        namespace, name = _meta(obj).get("namespace", "default"), _meta(obj).get("name", "?")
        account = spec.get("serviceAccountName") or "default"
        template = obj if obj["kind"] == "Pod" else (obj.get("spec") or {}).get("template") or {}
        if obj["kind"] == "CronJob":
            template = (((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        entries.append(
            {
                "workload": {"kind": obj["kind"], "namespace": namespace, "name": name, "serviceAccount": account},
                "host": _host_access(spec),
                "capabilities": _capabilities(spec),
                "secrets": {
                    "names": _secret_names(spec),
                    "serviceAccountToken": _token_mounted(spec, accounts.get((namespace, account))),
                },
                "rbac": _rbac(objects, namespace, account),
                "network": _network(objects, namespace, _meta(template).get("labels") or {}),
                "policy": [
                    {"action": v.action, "constraint": f"{v.constraint_kind}/{v.constraint_name}", "message": v.message}
                    for v in found
                    if (v.kind, v.namespace, v.name) == (obj["kind"], namespace, name)
                ],
            }
        )
    return entries


def audit(paths: list[Path], stack: str | None = None) -> list[dict[str, Any]]:
    """Audit the manifests under `paths`, judging them with tools.policy."""
    objects = load_manifests(paths)
    return audit_objects(objects, check(paths, stack).violations)


def _markdown_entry(entry: dict[str, Any]) -> list[str]:
    w, host, secrets, network = entry["workload"], entry["host"], entry["secrets"], entry["network"]
    lines = [f"## {w['kind']} {w['namespace']}/{w['name']} (service account {w['serviceAccount']})", ""]
    host_items = [f"privileged: {', '.join(host['privileged'])}" if host["privileged"] else ""]
    host_items += (
        host["namespaces"] + [f"hostPath {p}" for p in host["hostPaths"]] + [f"hostPort {p}" for p in host["hostPorts"]]
    )
    lines.append(f"- **Host access**: {'; '.join(i for i in host_items if i) or 'none'}")
    lines.append(f"- **Capabilities added**: {', '.join(entry['capabilities']) or 'none'}")
    token = "mounted" if secrets["serviceAccountToken"] else "not mounted"
    lines.append(f"- **Secrets**: {', '.join(secrets['names']) or 'none'}; service-account token {token}")
    dangerous = [g for g in entry["rbac"] if g["danger"]]
    lines.append(f"- **RBAC**: {len(entry['rbac'])} rule(s), {len(dangerous)} dangerous")
    lines += [
        f"  - {g['binding']} -> {g['role']} ({g['scope']}): {','.join(g['verbs'])} {','.join(g['resources'])} "
        f"**[{', '.join(g['danger'])}]**"
        for g in dangerous
    ]
    lines.append(
        f"- **Network**: ingress {'restricted' if network['ingressRestricted'] else 'OPEN'}, "
        f"egress {'restricted' if network['egressRestricted'] else 'OPEN'}"
    )
    for policy in network["networkPolicies"]:
        lines.append(
            f"  - NetworkPolicy {policy['name']}{' (default deny)' if policy['defaultDeny'] else ''}: "
            f"ingress {json.dumps(policy['ingress'])}; egress {json.dumps(policy['egress'])}"
        )
    lines += [
        f"  - AuthorizationPolicy {p['name']} ({p['action']}): {json.dumps(p['rules'])}"
        for p in network["authorizationPolicies"]
    ]
    lines.append(f"- **Policy violations**: {len(entry['policy'])}")
    lines += [f"  - {v['action']} [{v['constraint']}]: {v['message']}" for v in entry["policy"]]
    return [*lines, ""]


def format_markdown(entries: list[dict[str, Any]]) -> str:
    """The Markdown report: one section per workload."""
    lines = ["# Blast-radius audit", ""]
    for entry in entries:
        lines += _markdown_entry(entry)
    if not entries:
        lines.append("No workloads found.")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0, or 2 on bad input)."""
    parser = argparse.ArgumentParser(prog="python -m tools.audit", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="YAML files or directories (e.g. a render)")
    parser.add_argument("--stack", help="judge with this stack's policies instead of those in the paths")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    arguments = parser.parse_args(argv)
    try:
        entries = audit(arguments.paths, arguments.stack)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        json.dumps(entries, indent=2) if arguments.json else format_markdown(entries),
        end="\n" if arguments.json else "",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
