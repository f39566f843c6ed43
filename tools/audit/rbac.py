"""What a service account may do: every rule bound to it, resolved as the API server's authorizer does.

* Subjects: a binding reaches the account through a `ServiceAccount` subject (its namespace
  defaulting to a RoleBinding's own), a `User` named `system:serviceaccount:NS:NAME`, or one of the
  groups every service-account token carries: `system:serviceaccounts`,
  `system:serviceaccounts:NS` and `system:authenticated`.
* Roles: a RoleBinding grants within its namespace, a ClusterRoleBinding everywhere. A
  ClusterRole with an `aggregationRule` holds the rules of every ClusterRole its label selectors
  match (transitively, as the aggregation controller fills them), besides any rules it carries.
* Danger: each rule is matched against the permissions that hand over more than the account
  (secrets, a shell in other pods, node access, other identities, new workloads, RBAC escalation),
  with RBAC's own wildcard rules (`*`, `resource/*`, `*/subresource`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tools.audit.selectors import selects

__all__ = ["DANGERS", "Danger", "account_grants", "danger_flags"]

_RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Danger:
    """A permission worth flagging: `verbs` on any of `resources` of API group `group`."""

    flag: str
    group: str
    resources: tuple[str, ...]
    verbs: frozenset[str]


_WORKLOADS = (
    ("", "pods"),
    ("", "replicationcontrollers"),
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
)

DANGERS: tuple[Danger, ...] = (
    Danger("reads secrets", "", ("secrets",), frozenset({"get", "list", "watch"})),
    # exec and attach: SPDY upgrades are `create`, WebSocket ones `get`.
    Danger("pods/exec", "", ("pods/exec",), frozenset({"create", "get"})),
    Danger("pods/attach", "", ("pods/attach",), frozenset({"create", "get"})),
    Danger("pods/ephemeralcontainers", "", ("pods/ephemeralcontainers",), frozenset({"update", "patch"})),
    # The kubelet's API behind the API server: exec into any pod of the node, with a GET.
    Danger("nodes/proxy", "", ("nodes/proxy",), frozenset({"get", "create", "update", "patch", "delete"})),
    Danger("creates service-account tokens", "", ("serviceaccounts/token",), frozenset({"create"})),
    *(Danger(f"creates {resource}", group, (resource,), frozenset({"create"})) for group, resource in _WORKLOADS),
    Danger("escalate", _RBAC_GROUP, ("roles", "clusterroles"), frozenset({"escalate"})),
    Danger("bind", _RBAC_GROUP, ("roles", "clusterroles"), frozenset({"bind"})),
    Danger("impersonate", "", ("users", "groups", "serviceaccounts"), frozenset({"impersonate"})),
    Danger("impersonate", "authentication.k8s.io", ("userextras/*", "uids"), frozenset({"impersonate"})),
)
"""Every dangerous permission, in the order flags are reported."""


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _resource_matches(rule_resource: str, requested: str) -> bool:
    """RBAC's resource match: exact, `*`, `resource/*` or `*/subresource`."""
    if rule_resource in ("*", requested):
        return True
    base, _, sub = requested.partition("/")
    if not sub:
        return False
    return rule_resource in (f"{base}/*", f"*/{sub}")


def _covers(rule: dict[str, Any], danger: Danger) -> bool:
    groups, verbs = rule.get("apiGroups") or (), set(rule.get("verbs") or ())
    if "*" not in groups and danger.group not in groups:
        return False
    if not any(_resource_matches(r, wanted) for r in rule.get("resources") or () for wanted in danger.resources):
        return False
    return "*" in verbs or bool(verbs & danger.verbs)


def danger_flags(rule: dict[str, Any]) -> list[str]:
    """The dangerous permissions a rule grants, `wildcard` first when it has any `*`."""
    flags = []
    if any("*" in (rule.get(key) or ()) for key in ("verbs", "resources", "apiGroups")):
        flags.append("wildcard")
    for danger in DANGERS:
        if danger.flag not in flags and _covers(rule, danger):
            flags.append(danger.flag)
    return flags


def _subject(binding: dict[str, Any], namespace: str, account: str) -> str | None:
    """How `binding` reaches the account (e.g. `Group/system:authenticated`), or None."""
    user = f"system:serviceaccount:{namespace}:{account}"
    groups = {"system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"}
    local = _meta(binding).get("namespace") if binding.get("kind") == "RoleBinding" else None
    for subject in binding.get("subjects") or ():
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and name == account and (subject.get("namespace") or local) == namespace:
            return f"ServiceAccount/{namespace}/{name}"
        if (kind == "User" and name == user) or (kind == "Group" and name in groups):
            return f"{kind}/{name}"
    return None


def _aggregated_rules(
    name: str, cluster_roles: dict[str, dict[str, Any]], seen: frozenset[str] = frozenset()
) -> list[tuple[dict[str, Any], str]]:
    """The rules of ClusterRole `name` with the ClusterRole each comes from: those of the roles its
    aggregationRule selects first (so a live export's filled-in copy is attributed to its
    source), then its own, each rule once."""
    role = cluster_roles.get(name)
    if role is None:
        return []
    found: list[tuple[dict[str, Any], str]] = []
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ()
    for other in sorted(cluster_roles):
        if other == name or other in seen:
            continue
        labels = _meta(cluster_roles[other]).get("labels") or {}
        if any(selects(selector, labels) for selector in selectors):
            found += _aggregated_rules(other, cluster_roles, seen | {name})
    found += [(rule, name) for rule in role.get("rules") or ()]
    unique: dict[str, tuple[dict[str, Any], str]] = {}
    for rule, source in found:
        unique.setdefault(json.dumps(rule, sort_keys=True), (rule, source))
    return list(unique.values())


def account_grants(objects: Iterable[dict[str, Any]], namespace: str, account: str) -> list[dict[str, Any]]:
    """One entry per rule the account holds: in a RoleBinding's namespace (any namespace, not only
    its own) or cluster-wide."""
    objects = list(objects)
    cluster_roles = {_meta(o).get("name"): o for o in objects if o.get("kind") == "ClusterRole"}
    roles = {(_meta(o).get("namespace"), _meta(o).get("name")): o for o in objects if o.get("kind") == "Role"}
    grants: list[dict[str, Any]] = []
    for binding in objects:
        if binding.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subject = _subject(binding, namespace, account)
        scope = _meta(binding).get("namespace") if binding["kind"] == "RoleBinding" else None
        if subject is None:
            continue
        ref = binding.get("roleRef") or {}
        if ref.get("kind") == "Role":
            role = roles.get((scope, ref.get("name")))
            rules = [(rule, ref.get("name")) for rule in (role or {}).get("rules") or ()]
        else:
            role = cluster_roles.get(ref.get("name"))
            rules = _aggregated_rules(str(ref.get("name")), cluster_roles)
        common = {
            "binding": f"{binding['kind']}/{_meta(binding).get('name')}",
            "subject": subject,
            "role": f"{ref.get('kind')}/{ref.get('name')}",
            "scope": scope or "cluster",
        }
        if role is None:
            grants.append(
                {
                    **common,
                    "via": None,
                    "apiGroups": [],
                    "resources": [],
                    "verbs": [],
                    "danger": ["role not in the paths"],
                }
            )
        for rule, source in rules:
            grants.append(
                {
                    **common,
                    "via": f"ClusterRole/{source}" if source != ref.get("name") else None,
                    "apiGroups": list(rule.get("apiGroups") or ()),
                    "resources": list(rule.get("resources") or ()),
                    "verbs": list(rule.get("verbs") or ()),
                    "danger": danger_flags(rule),
                }
            )
    return grants
