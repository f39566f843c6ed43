"""The model tenants of a shared stack, as rendered, and what one tenant's objects admit of another.

A tenant is read from the stack's rendered objects, never from a list in the tests: each isolated
namespace, its model Deployment, the groups its `model-deployer` RoleBinding names with the rules of
that Role, and the registries its own `deny-model-pod-widening-<namespace>` constraint allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from secure_model_serving.naming import ISOLATION_LABEL
from tools.audit.selectors import selects
from tools.mock_engine import REPO_ROOT
from tools.sandbox.stack import StackPlan

__all__ = ["Tenant", "declared_namespaces", "mesh_admits", "network_admits", "read_tenants"]

DEPLOYER_ROLE = "model-deployer"
POD_SHAPE_POLICY = "deny-model-pod-widening"


@dataclass(frozen=True)
class Tenant:
    """One model tenant of the stack, as rendered."""

    namespace: str
    deployment: dict[str, Any]
    deployer_groups: tuple[str, ...]
    deployer_rules: tuple[dict[str, Any], ...]
    registries: tuple[str, ...]
    service_accounts: tuple[str, ...]

    @property
    def image(self) -> str:
        """The model container's image (by digest)."""
        containers = self.deployment["spec"]["template"]["spec"]["containers"]
        return str(next(c["image"] for c in containers if c["name"] == "model"))

    @property
    def pod_shape_constraint(self) -> str:
        return f"{POD_SHAPE_POLICY}-{self.namespace}"

    @property
    def principals(self) -> tuple[str, ...]:
        """The mesh identities of the tenant's workloads (its ServiceAccounts)."""
        return tuple(f"cluster.local/ns/{self.namespace}/sa/{name}" for name in self.service_accounts)


def declared_namespaces(stack: str) -> list[str]:
    """The tenants' namespaces as the stack file names them (`models:`), for test ids."""
    config = yaml.safe_load((Path(REPO_ROOT) / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return [entry["namespace"]["name"] for entry in config.get("secure-model-serving:models") or ()]


def _in(plan: StackPlan, kind: str, namespace: str) -> list[dict[str, Any]]:
    return [obj for obj in plan.of_kind(kind) if obj["metadata"].get("namespace") == namespace]


def _named(objects: Iterable[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [obj for obj in objects if obj["metadata"]["name"] == name]
    return found


def read_tenants(plan: StackPlan) -> list[Tenant]:
    """Every isolated namespace of the plan as a tenant (fails when one lacks a part of a tenant)."""
    tenants = []
    for namespace in plan.namespaces_with_label(ISOLATION_LABEL, "true"):
        (deployment,) = _in(plan, "Deployment", namespace)
        binding = _named(_in(plan, "RoleBinding", namespace), DEPLOYER_ROLE)
        role = _named(_in(plan, "Role", namespace), binding["roleRef"]["name"])
        constraint = next(
            obj
            for obj in plan.objects
            if obj["apiVersion"].startswith("constraints.gatekeeper.sh/")
            and obj["metadata"]["name"] == f"{POD_SHAPE_POLICY}-{namespace}"
        )
        tenants.append(
            Tenant(
                namespace=namespace,
                deployment=deployment,
                deployer_groups=tuple(s["name"] for s in binding["subjects"] if s["kind"] == "Group"),
                deployer_rules=tuple(role["rules"]),
                registries=tuple(constraint["spec"]["parameters"]["modelRegistries"]),
                service_accounts=tuple(
                    sorted({"default", *(o["metadata"]["name"] for o in _in(plan, "ServiceAccount", namespace))})
                ),
            )
        )
    return tenants


def _peer_namespaces(peer: Mapping[str, Any], own: str, namespaces: Mapping[str, Mapping[str, str]]) -> set[str]:
    """The namespaces (of `namespaces`, by their labels) a NetworkPolicy peer admits."""
    if "ipBlock" in peer:
        return set(namespaces)  # an address range is not bound to a namespace: it may be any
    if "namespaceSelector" not in peer:
        return {own}
    return {name for name, labels in namespaces.items() if selects(peer["namespaceSelector"], labels)}


def network_admits(
    policies: Iterable[Mapping[str, Any]], own: str, namespaces: Mapping[str, Mapping[str, str]]
) -> set[str]:
    """The namespaces any ingress or egress rule of `policies` (in namespace `own`) lets through."""
    admitted: set[str] = set()
    for policy in policies:
        spec = policy.get("spec") or {}
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction) or ():
                peers = rule.get(peers_key)
                if not peers:  # a rule without peers admits every source (or destination)
                    admitted |= set(namespaces)
                for peer in peers or ():
                    admitted |= _peer_namespaces(peer, own, namespaces)
    return admitted


def _matches(pattern: str, value: str) -> bool:
    """Istio's string match: exact, `*`, `prefix*` or `*suffix`."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), value) is not None


def mesh_admits(policies: Iterable[Mapping[str, Any]], principals: Iterable[str]) -> set[str]:
    """The `principals` (cluster.local/ns/N/sa/S) an ALLOW rule of `policies` lets through."""
    principals = list(principals)
    admitted: set[str] = set()
    for policy in policies:
        spec = policy.get("spec") or {}
        if spec.get("action", "ALLOW") != "ALLOW":
            continue
        for rule in spec.get("rules") or ():
            sources = [entry.get("source") or {} for entry in rule.get("from") or ()]
            if not sources:  # a rule without `from` admits any source
                admitted |= set(principals)
            for source in sources:
                for principal in principals:
                    namespace = principal.split("/")[2]
                    by_principal = any(_matches(p, principal) for p in source.get("principals") or ())
                    by_namespace = any(_matches(n, namespace) for n in source.get("namespaces") or ())
                    unbound = not any(source.get(key) for key in ("principals", "namespaces", "requestPrincipals"))
                    if by_principal or by_namespace or unbound:
                        admitted.add(principal)
    return admitted
