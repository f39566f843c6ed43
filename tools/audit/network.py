"""Who can reach a pod and whom it can reach: the NetworkPolicies that select it, and the Istio
AuthorizationPolicies of its namespace.

NetworkPolicies add up: a direction is restricted once any policy of that type selects the pod,
and then open to the union of every selecting policy's rules. So it is reported open when no
policy restricts it, when one rule admits any peer (a rule without `from`/`to`, or an ipBlock of
the whole address space), or when the pod uses the host's network (NetworkPolicies do not apply
to a hostNetwork pod).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tools.audit.selectors import selects

__all__ = ["network_reach"]

_EVERYWHERE = {"0.0.0.0/0", "::/0"}
_DIRECTIONS = (("Ingress", "ingress", "from"), ("Egress", "egress", "to"))


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _any_peer(rule: Mapping[str, Any], peers_key: str) -> bool:
    """True when a rule admits every peer."""
    peers = rule.get(peers_key) or ()
    if not peers:
        return True
    return any(
        (peer.get("ipBlock") or {}).get("cidr") in _EVERYWHERE and not (peer.get("ipBlock") or {}).get("except")
        for peer in peers
    )


def _policy_types(spec: Mapping[str, Any]) -> list[str]:
    return list(spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"]))


def network_reach(
    objects: Iterable[Mapping[str, Any]], namespace: str, labels: Mapping[str, str], host_network: bool
) -> dict[str, Any]:
    """The pod's network exposure: selecting NetworkPolicies, whether each direction is restricted
    and why not, and the namespace's (and mesh root's) AuthorizationPolicies."""
    objects = list(objects)
    selecting = [
        o
        for o in objects
        if o.get("kind") == "NetworkPolicy"
        and _meta(o).get("namespace") == namespace
        and selects((o.get("spec") or {}).get("podSelector"), labels)
    ]
    result: dict[str, Any] = {"networkPolicies": [], "ingressRestricted": False, "egressRestricted": False}
    openings: list[str] = []
    if host_network:
        openings.append("hostNetwork: NetworkPolicies do not apply to the pod")
    restricted = {"Ingress": False, "Egress": False}
    for policy in selecting:
        spec, name = policy.get("spec") or {}, _meta(policy).get("name")
        types = _policy_types(spec)
        entry: dict[str, Any] = {"name": name, "policyTypes": types}
        for kind, rules_key, peers_key in _DIRECTIONS:
            rules = spec.get(rules_key) or () if kind in types else ()
            restricted[kind] |= kind in types
            entry[rules_key] = [
                {peers_key: r.get(peers_key) or "anywhere", "ports": r.get("ports") or "all"} for r in rules
            ]
            openings += [
                f"NetworkPolicy {name} allows {rules_key} {'from' if kind == 'Ingress' else 'to'} anywhere"
                f" (ports {r.get('ports') or 'all'})"
                for r in rules
                if _any_peer(r, peers_key)
            ]
        entry["defaultDeny"] = not entry["ingress"] and not entry["egress"]
        result["networkPolicies"].append(entry)
    for kind, rules_key, _ in _DIRECTIONS:
        is_open = host_network or not restricted[kind] or any(f" allows {rules_key} " in o for o in openings)
        result[f"{rules_key}Restricted"] = not is_open
    result["openings"] = openings
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
