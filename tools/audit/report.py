"""The audit's Markdown report: one section per workload, the dangerous findings spelled out."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["format_markdown"]


def _tokens(secrets: dict[str, Any]) -> str:
    if not secrets["tokens"]:
        return "no service-account token"
    parts = []
    for token in secrets["tokens"]:
        where = token["volume"] or "automount"
        audience = "the API server" if token["apiToken"] else f"audience {token['audience']}, not the API server"
        parts.append(f"{'API token' if token['apiToken'] else 'token'} in {where} ({token['source']}; {audience})")
    return "; ".join(parts)


def _markdown_entry(entry: dict[str, Any]) -> list[str]:
    w, host, secrets, network = entry["workload"], entry["host"], entry["secrets"], entry["network"]
    lines = [f"## {w['kind']} {w['namespace']}/{w['name']} (service account {w['serviceAccount']})", ""]
    host_items = [f"privileged: {', '.join(host['privileged'])}" if host["privileged"] else ""]
    host_items += (
        host["namespaces"] + [f"hostPath {p}" for p in host["hostPaths"]] + [f"hostPort {p}" for p in host["hostPorts"]]
    )
    lines.append(f"- **Host access**: {'; '.join(i for i in host_items if i) or 'none'}")
    capabilities = [f"{name}: {', '.join(caps)}" for name, caps in entry["capabilities"].items() if caps]
    lines.append(f"- **Capabilities (effective)**: {'; '.join(capabilities) or 'none'}")
    lines.append(f"- **Secrets**: {', '.join(secrets['names']) or 'none'}; {_tokens(secrets)}")
    dangerous = [g for g in entry["rbac"] if g["danger"]]
    lines.append(f"- **RBAC**: {len(entry['rbac'])} rule(s), {len(dangerous)} dangerous")
    lines += [
        f"  - {g['binding']} ({g['subject']}) -> {g['role']}{' via ' + g['via'] if g['via'] else ''} ({g['scope']}): "
        f"{','.join(g['verbs'])} {','.join(g['resources'])} **[{', '.join(g['danger'])}]**"
        for g in dangerous
    ]
    lines.append(
        f"- **Network**: ingress {'restricted' if network['ingressRestricted'] else 'OPEN'}, "
        f"egress {'restricted' if network['egressRestricted'] else 'OPEN'}"
    )
    lines += [f"  - {opening}" for opening in network["openings"]]
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
