"""Identity: what Roles and ClusterRoles grant, whom bindings grant it to, and workload cloud identities.

A role is reduced to grants (API group, resource, verb, resource names), with `*` understood, so a
rule that is merely rewritten is silent and one that grants more is not. New grants of an
escalation path (secrets, exec and attach, tokens, the escalate/bind/impersonate verbs, wildcards:
the same lists `ModelIdentity` refuses) are marked. A binding weakens when it gains subjects or
points at another role; a ServiceAccount when it is given another cloud identity.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from secure_model_serving.tenant.identity import FORBIDDEN_RESOURCES, FORBIDDEN_VERBS
from tools.posture.compare import pairs
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "grants", "weakenings"]

AREA = "identity"
KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"})
GROUPS: frozenset[str] = frozenset()
CHARTS: frozenset[str] = frozenset()

_ANY = "*"
# Annotations that give a ServiceAccount a cloud identity (AWS IRSA, GKE and Azure workload identity).
_CLOUD_IDENTITY = ("eks.amazonaws.com/role-arn", "iam.gke.io/gcp-service-account", "azure.workload.identity/client-id")


class Grant(NamedTuple):
    """One permission: a verb on a resource of a group (or on a non-resource URL), maybe by name."""

    group: str
    resource: str
    verb: str
    names: tuple[str, ...] = ()  # empty: every object

    def covered_by(self, other: Grant) -> bool:
        return (
            other.group in (self.group, _ANY)
            and other.resource in (self.resource, _ANY)
            and other.verb in (self.verb, _ANY)
            and (not other.names or (bool(self.names) and set(self.names) <= set(other.names)))
        )

    def escalates(self) -> bool:
        return (
            self.resource in FORBIDDEN_RESOURCES
            or self.verb in FORBIDDEN_VERBS
            or _ANY in (self.group, self.resource)
            or (
                self.resource in ("rolebindings", "clusterrolebindings", "roles", "clusterroles")
                and self.verb in ("create", "update", "patch")
            )
        )


def grants(role: dict[str, Any] | None) -> set[Grant]:
    """Every grant of a Role or ClusterRole."""
    found = set()
    for rule in (role or {}).get("rules") or ():
        names = tuple(sorted(rule.get("resourceNames") or ()))
        for verb in rule.get("verbs") or ():
            for url in rule.get("nonResourceURLs") or ():
                found.add(Grant("(non-resource)", url, verb))
            for group in rule.get("apiGroups") or ():
                for resource in rule.get("resources") or ():
                    found.add(Grant(group, resource, verb, names))
    return found


def _describe(new_grants: list[Grant]) -> str:
    by_resource: dict[str, list[str]] = {}
    for grant in sorted(new_grants):
        resource = f"{grant.group + '/' if grant.group else ''}{grant.resource}"
        if grant.names:
            resource += f" named {','.join(grant.names)}"
        by_resource.setdefault(resource, []).append(grant.verb)
    return "; ".join(f"{resource} [{', '.join(verbs)}]" for resource, verbs in by_resource.items())


def _role_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "Role", "ClusterRole"):
        if now is None:
            continue
        before = grants(was)
        wider = [grant for grant in grants(now) if not any(grant.covered_by(other) for other in before)]
        escalating = [grant for grant in wider if grant.escalates()]
        if escalating:
            why = "escalation path: reads secrets, runs code in pods, or grants itself more"
            yield Finding(AREA, str(key), "rules", "(not granted)", _describe(escalating), why)
        if len(wider) > len(escalating):
            rest = [grant for grant in wider if not grant.escalates()]
            yield Finding(AREA, str(key), "rules", "(not granted)", _describe(rest), "grants more")
        if now.get("aggregationRule") and now.get("aggregationRule") != (was or {}).get("aggregationRule"):
            why = "the role grows with every ClusterRole these labels select"
            yield Finding(
                AREA,
                str(key),
                "aggregationRule",
                short((was or {}).get("aggregationRule")),
                short(now["aggregationRule"]),
                why,
            )


def _subject(entry: dict[str, Any]) -> str:
    where = f"{entry['namespace']}/" if entry.get("namespace") else ""
    return f"{entry.get('kind')} {where}{entry.get('name')}"


def _binding_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "RoleBinding", "ClusterRoleBinding"):
        if now is None:
            continue
        before = {_subject(entry) for entry in (was or {}).get("subjects") or ()}
        gained = sorted({_subject(entry) for entry in now.get("subjects") or ()} - before)
        role = f"{dig(now, 'roleRef.kind')} {dig(now, 'roleRef.name')}"
        if gained:
            yield Finding(
                AREA,
                str(key),
                "subjects",
                short(sorted(before)) if before else ABSENT,
                f"gains {', '.join(gained)}",
                f"granted {role}",
            )
        if was is not None and was.get("roleRef") != now.get("roleRef") and before:
            was_role = f"{dig(was, 'roleRef.kind')} {dig(was, 'roleRef.name')}"
            yield Finding(AREA, str(key), "roleRef", was_role, role, "its subjects get another role's rights")


def _account_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "ServiceAccount"):
        if was is None or now is None:
            continue
        for annotation in _CLOUD_IDENTITY:
            before, after = (
                dig(was, "metadata.annotations", {}).get(annotation),
                dig(now, "metadata.annotations", {}).get(annotation),
            )
            if after and after != before:
                why = "pods of this account act as another cloud identity"
                yield Finding(AREA, str(key), f"annotation {annotation}", short(before), after, why)


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every identity weakening between two renders."""
    yield from _role_weakenings(old, new)
    yield from _binding_weakenings(old, new)
    yield from _account_weakenings(old, new)
