"""IsolatedNamespace: a namespace that starts closed.

Pod Security Admission `restricted` (enforce, audit and warn, each pinned to a version so a
cluster upgrade cannot silently change the rules), a ResourceQuota and LimitRange so one tenant
cannot starve the node, and NetworkPolicies that deny all ingress and egress except DNS.
Every other allowance is added by the component that needs it, narrowly.

The labels that put the namespace under those rules (PSA, the isolation label the constraints
select on, the mesh and signature opt-ins) are locked by a ValidatingAdmissionPolicy, built into
the API server: an UPDATE of the namespace that removes or changes one is refused for everyone
but the platform's groups. Without it, anyone with `update` on namespaces (another team's
operator, a namespace-management tool) could take the model out of admission in one label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..naming import ISOLATION_LABEL, MANAGED_BY, PART_OF, TYPE_PREFIX, allow_policy_selector
from ..options import child_options, guard
from ..system import pod_security_labels

__all__ = ["DnsEndpoint", "IsolatedNamespace", "IsolatedNamespaceArgs", "label_lock"]

_DNS_PORT = 53


@dataclass(frozen=True)
class DnsEndpoint:
    """Where the cluster's DNS pods run."""

    namespace: str = "kube-system"
    """Namespace of the DNS pods."""
    pod_labels: dict[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})
    """Labels selecting the DNS pods."""


@dataclass(frozen=True)
class IsolatedNamespaceArgs:
    """Inputs of IsolatedNamespace."""

    name: str
    """Kubernetes name of the namespace (stable, explicit: it is part of every policy)."""
    pod_security_version: str
    """Pinned Pod Security Standards version, e.g. "v1.36"."""
    quota: dict[str, str]
    """ResourceQuota `spec.hard`, e.g. {"requests.cpu": "4", "pods": "20"}."""
    container_default_request: dict[str, str]
    """LimitRange defaultRequest for containers (cpu, memory, ephemeral-storage)."""
    container_default_limit: dict[str, str]
    """LimitRange default limits for containers."""
    container_max: dict[str, str]
    """LimitRange maximum per container."""
    dns: DnsEndpoint = field(default_factory=DnsEndpoint)
    """The only egress destination the namespace starts with."""
    extra_labels: dict[str, str] = field(default_factory=dict)
    """More namespace labels (e.g. mesh injection); may not override the security labels."""
    platform_groups: tuple[str, ...] = ()
    """Groups that may still change the locked labels through the API (the platform team); with
    none, changing one means changing the lock first."""
    protect: bool = False
    """Refuse `pulumi destroy` of the namespace (production: deleting it deletes the model)."""


def _cel_string(value: str) -> str:
    """A CEL string literal (JSON's escaping is valid CEL for these label keys and values)."""
    return json.dumps(value)


def label_lock(namespace: str, labels: dict[str, str], platform_groups: tuple[str, ...]) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy spec that keeps `labels` on `namespace`, one check each."""
    validations = [
        {
            "expression": (
                f"has(object.metadata.labels) && {_cel_string(key)} in object.metadata.labels"
                f" && object.metadata.labels[{_cel_string(key)}] == {_cel_string(value)}"
            ),
            "message": f"label {key}={value} of namespace {namespace} is locked: only the platform may change it",
            "reason": "Forbidden",
        }
        for key, value in sorted(labels.items())
    ]
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "operations": ["UPDATE"],
                    "resources": ["namespaces"],
                    "resourceNames": [namespace],
                }
            ]
        },
        "validations": validations,
    }
    if platform_groups:
        groups = ", ".join(_cel_string(group) for group in platform_groups)
        spec["matchConditions"] = [
            {"name": "not-the-platform", "expression": f"!request.userInfo.groups.exists(g, g in [{groups}])"}
        ]
    return spec


class IsolatedNamespace(pulumi.ComponentResource):
    """A namespace with PSA restricted, quotas, container defaults and default-deny networking.

    Outputs:
        namespace_name: the namespace's name, resolved once the Namespace exists (depend on it
            to order namespaced children after their namespace).
    """

    namespace_name: pulumi.Output[str]

    def __init__(self, name: str, args: IsolatedNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:namespace:IsolatedNamespace", name, None, opts)

        security_labels = {
            **pod_security_labels(args.pod_security_version),
            ISOLATION_LABEL: "true",
        }
        clashing = sorted(set(args.extra_labels) & set(security_labels))
        if clashing:
            raise ValueError(f"IsolatedNamespaceArgs.extra_labels may not override security labels: {clashing}")

        lock_name = f"{args.name}-security-labels"
        lock = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-label-lock",
            metadata={"name": lock_name},
            spec=label_lock(args.name, {**args.extra_labels, **security_labels}, args.platform_groups),
            opts=child_options(self, opts, **guard(args.protect)),
        )
        lock_binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-label-lock-binding",
            metadata={"name": lock_name},
            spec={"policyName": lock_name, "validationActions": ["Deny"]},
            opts=child_options(self, opts, depends_on=[lock], **guard(args.protect)),
        )
        namespace = k8s.core.v1.Namespace(
            name,
            metadata={
                "name": args.name,
                "labels": {
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": MANAGED_BY,
                    **args.extra_labels,
                    **security_labels,
                },
            },
            # After the lock: a label change that Pulumi makes is judged by the lock's new version.
            opts=child_options(
                self, opts, depends_on=[lock, lock_binding], protect=args.protect, retain_on_delete=args.protect
            ),
        )
        self.namespace_name = namespace.metadata.name
        in_namespace = child_options(self, opts, depends_on=[namespace])

        def metadata(object_name: str) -> dict[str, Any]:
            return {"name": object_name, "namespace": args.name}

        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=metadata("compute-quota"),
            spec={"hard": args.quota},
            opts=in_namespace,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=metadata("container-defaults"),
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": args.container_default_request,
                        "default": args.container_default_limit,
                        "max": args.container_max,
                    }
                ]
            },
            opts=in_namespace,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=metadata("default-deny-all"),
            # An empty pod selector with both policy types and no rules: nothing in, nothing out.
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            # Deleting it would open the namespace: protected in production, retained if dropped.
            opts=child_options(self, opts, depends_on=[namespace], **guard(args.protect)),
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=metadata("allow-dns-egress"),
            spec={
                "podSelector": allow_policy_selector(),
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": args.dns.namespace}
                                },
                                "podSelector": {"matchLabels": dict(args.dns.pod_labels)},
                            }
                        ],
                        "ports": [
                            {"protocol": "UDP", "port": _DNS_PORT},
                            {"protocol": "TCP", "port": _DNS_PORT},
                        ],
                    }
                ],
            },
            opts=in_namespace,
        )
        self.register_outputs({"namespace_name": self.namespace_name})
