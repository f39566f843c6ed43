"""Network: NetworkPolicies per namespace, the mesh's egress (Sidecar, ServiceEntries, outbound
policy), the CNI's redirection, and Services exposed beyond the cluster.

NetworkPolicies are judged per namespace as Kubernetes combines them: a pod is isolated in a
direction when any policy selecting it names that direction, and what it may then reach is the
union of the rules. Deleting the default-deny policy loses isolation (a weakening); deleting an
allowance only takes traffic away (silent). A rule is new unless an old rule of a policy selecting
at least the same pods already allowed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tools.posture.compare import added, pairs
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "network"
KINDS = frozenset({"NetworkPolicy", "Sidecar", "ServiceEntry", "Service"})
GROUPS: frozenset[str] = frozenset()
CHARTS = frozenset({"istiod", "cni", "base"})

_DIRECTIONS = (("Ingress", "ingress", "from"), ("Egress", "egress", "to"))
_REGISTRY_ONLY = "REGISTRY_ONLY"
_CLUSTER_IP = "ClusterIP"


def _policy_types(spec: dict[str, Any]) -> list[str]:
    # Without policyTypes, Ingress always, and Egress when egress rules are given.
    return spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def _selector_covers(wide: Any, narrow: Any) -> bool:
    return not (wide or {}) or wide == narrow


def _rule_covers(wide: dict[str, Any], narrow: dict[str, Any], peers: str) -> bool:
    """Whether every connection `narrow` allows is allowed by `wide` (absent peers or ports: all)."""
    wide_peers, narrow_peers = wide.get(peers), narrow.get(peers)
    wide_ports, narrow_ports = wide.get("ports"), narrow.get("ports")
    peers_ok = not wide_peers or (bool(narrow_peers) and all(p in wide_peers for p in narrow_peers))
    ports_ok = not wide_ports or (bool(narrow_ports) and all(p in wide_ports for p in narrow_ports))
    return peers_ok and ports_ok


def _namespace_policies(render: Render) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, document in sorted(render.of_kind("NetworkPolicy").items()):
        found.setdefault(key.namespace, []).append((key.name, document.get("spec") or {}))
    return found


def _network_policy_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    before, after = _namespace_policies(old), _namespace_policies(new)
    for namespace in sorted(before):
        if new.namespace_labels(namespace) is None and old.namespace_labels(namespace) is not None:
            continue  # the namespace itself is deleted
        now = after.get(namespace, [])
        for policy_type, direction, peers in _DIRECTIONS:
            isolating_now = [spec.get("podSelector") for _, spec in now if policy_type in _policy_types(spec)]
            for name, spec in before[namespace]:
                selector = spec.get("podSelector")
                if policy_type in _policy_types(spec) and not any(_selector_covers(s, selector) for s in isolating_now):
                    pods = "every pod" if not selector else f"pods {short(selector)}"
                    yield Finding(
                        AREA,
                        f"NetworkPolicies of {namespace}",
                        f"{direction} isolation",
                        f"{pods} isolated (by {name})",
                        "not isolated",
                        f"all {direction} traffic now allowed",
                    )
            old_rules = [
                (spec.get("podSelector"), rule) for _, spec in before[namespace] for rule in spec.get(direction) or ()
            ]
            for name, spec in now:
                for rule in spec.get(direction) or () if policy_type in _policy_types(spec) else ():
                    selector = spec.get("podSelector")
                    if not any(_selector_covers(s, selector) and _rule_covers(r, rule, peers) for s, r in old_rules):
                        yield Finding(
                            AREA,
                            f"NetworkPolicy {namespace}/{name}",
                            f"spec.{direction}",
                            "(not allowed)",
                            short(rule),
                            f"{direction} allowed",
                        )


def _host_covers(wide: str, narrow: str) -> bool:
    """Istio `namespace/host` matching: `*` for any namespace, a leading `*` for any host suffix."""
    wide_ns, _, wide_host = wide.partition("/")
    narrow_ns, _, narrow_host = narrow.partition("/")
    ns_ok = wide_ns in ("*", narrow_ns)
    host_ok = (
        wide_host == narrow_host
        or wide_host == "*"
        or (wide_host.startswith("*") and narrow_host.endswith(wide_host[1:]))
    )
    return ns_ok and host_ok


def _sidecar_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "Sidecar"):
        if was is None:
            continue
        if now is None:
            if new.namespace_labels(key.namespace) is not None or old.namespace_labels(key.namespace) is None:
                yield Finding(AREA, str(key), "(object)", "present", ABSENT, "mesh egress no longer limited")
            continue
        old_hosts = [h for entry in dig(was, "spec.egress") or () for h in entry.get("hosts") or ()]
        new_hosts = [h for entry in dig(now, "spec.egress") or () for h in entry.get("hosts") or ()]
        wider = [h for h in new_hosts if not any(_host_covers(o, h) for o in old_hosts)]
        if old_hosts and (wider or not new_hosts):
            yield Finding(
                AREA, str(key), "spec.egress.hosts", short(old_hosts), short(wider or "any host"), "egress widened"
            )
        mode_was = dig(was, "spec.outboundTrafficPolicy.mode") or "ALLOW_ANY"
        mode_now = dig(now, "spec.outboundTrafficPolicy.mode") or "ALLOW_ANY"
        if mode_was == _REGISTRY_ONLY and mode_now != _REGISTRY_ONLY:
            yield Finding(
                AREA, str(key), "spec.outboundTrafficPolicy.mode", mode_was, mode_now, "unknown hosts reachable"
            )
        if dig(now, "spec.workloadSelector") != dig(was, "spec.workloadSelector") and dig(now, "spec.workloadSelector"):
            yield Finding(
                AREA,
                str(key),
                "spec.workloadSelector",
                short(dig(was, "spec.workloadSelector")),
                short(dig(now, "spec.workloadSelector")),
                "no longer applies to every pod",
            )


def _service_entry_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "ServiceEntry"):
        if now is None:
            continue
        for field in ("hosts", "addresses", "ports", "exportTo", "endpoints"):
            grown = added(dig(was, f"spec.{field}") or (), dig(now, f"spec.{field}") or ())
            if grown or (
                field == "exportTo" and was is not None and dig(was, "spec.exportTo") and not dig(now, "spec.exportTo")
            ):
                yield Finding(
                    AREA,
                    str(key),
                    f"spec.{field}",
                    short(dig(was, f"spec.{field}")),
                    short(dig(now, f"spec.{field}")),
                    "more reachable outside the mesh",
                )


def _service_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "Service"):
        if now is None:
            continue
        type_was, type_now = dig(was, "spec.type") or _CLUSTER_IP, dig(now, "spec.type") or _CLUSTER_IP
        if type_now != type_was and type_now != _CLUSTER_IP:
            yield Finding(
                AREA, str(key), "spec.type", type_was if was else ABSENT, type_now, "exposed outside the cluster"
            )
        for field in ("externalIPs", "loadBalancerSourceRanges"):
            grown = added(dig(was, f"spec.{field}") or (), dig(now, f"spec.{field}") or ())
            if grown:
                yield Finding(
                    AREA, str(key), f"spec.{field}", short(dig(was, f"spec.{field}")), short(grown), "exposed"
                )


def _mesh_install_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    was, now = old.values("istiod"), new.values("istiod")
    if was is not None and now is not None:
        path = "meshConfig.outboundTrafficPolicy.mode"
        if dig(was, path) == _REGISTRY_ONLY and dig(now, path) != _REGISTRY_ONLY:
            yield Finding(AREA, "Helm release istiod", path, _REGISTRY_ONLY, short(dig(now, path)), "mesh egress open")
        for path in ("meshConfig.pathNormalization.normalization", "global.proxy.image", "global.proxy_init.image"):
            if dig(was, path) != dig(now, path):
                yield Finding(AREA, "Helm release istiod", path, short(dig(was, path)), short(dig(now, path)), "review")
        if dig(was, "meshConfig.enableAutoMtls") is True and dig(now, "meshConfig.enableAutoMtls") is not True:
            yield Finding(
                AREA,
                "Helm release istiod",
                "meshConfig.enableAutoMtls",
                "true",
                short(dig(now, "meshConfig.enableAutoMtls")),
                "clients stop using mTLS",
            )
    was, now = old.values("cni"), new.values("cni")
    if was is not None and now is not None:
        grown = added(was.get("excludeNamespaces") or (), now.get("excludeNamespaces") or ())
        if grown:
            yield Finding(
                AREA,
                "Helm release cni",
                "excludeNamespaces",
                short(was.get("excludeNamespaces")),
                short(grown),
                "traffic of these namespaces bypasses the sidecar",
            )
    for chart in ("istiod", "cni"):
        if chart in old.releases and chart not in new.releases:
            yield Finding(
                AREA, f"Helm release {chart}", "(release)", "installed", ABSENT, "no mesh: no mTLS, no egress list"
            )


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every network weakening between two renders."""
    yield from _network_policy_weakenings(old, new)
    yield from _sidecar_weakenings(old, new)
    yield from _service_entry_weakenings(old, new)
    yield from _service_weakenings(old, new)
    yield from _mesh_install_weakenings(old, new)
