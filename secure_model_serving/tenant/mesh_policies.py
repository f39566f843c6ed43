"""MeshPolicies: one model namespace locked down inside the mesh.

STRICT mTLS, an allow-nothing AuthorizationPolicy, then ALLOW rules by caller principal to the
model's own methods and paths, a `Sidecar` restricting egress to the namespace, the control plane
and named external hosts (`ServiceEntry`s), and NetworkPolicies letting the model reach istiod and
those hosts only. The mesh itself is the platform's (secure_model_serving.cluster.mesh).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..cluster.mesh import (
    ENVOY_FILTER_API,
    INBOUND_CONNECTION_POOL,
    ISTIOD_LABELS,
    ISTIOD_XDS_PORT,
    NETWORKING_API,
    PROXY_STATUS_PORT,
    SECURITY_API,
    request_read_timeouts,
)
from ..formats import parse_dns_label
from ..inputs import Problems
from ..naming import TYPE_PREFIX, allow_policy_selector
from ..options import child_options, guard
from ..serving_contract import LIVENESS_PATH, PREDICT_PATH, READINESS_PATH

__all__ = [
    "ExternalService",
    "MeshPolicies",
    "MeshPoliciesArgs",
    "authorization_rules",
]


@dataclass(frozen=True)
class ExternalService:
    """An outside host the model may call, and the addresses it resolves to."""

    host: str
    port: int
    cidrs: Sequence[str]


@dataclass(frozen=True)
class MeshPoliciesArgs:
    """Inputs of MeshPolicies. Nothing is allowed that is not named here."""

    namespace: str
    """The model namespace."""
    workload_labels: Mapping[str, str]
    """Labels selecting the model pods."""
    port: int
    """The model's container port."""
    caller_principals: Sequence[str]
    """SPIFFE principals allowed to call the model, `<trust-domain>/ns/<ns>/sa/<sa>`."""
    predict_path: str = PREDICT_PATH
    """Path of the prediction endpoint (POST)."""
    health_paths: Sequence[str] = (LIVENESS_PATH, READINESS_PATH)
    """Health paths callers may GET."""
    mesh_namespace: pulumi.Input[str] = "istio-system"
    """The control plane's namespace (may be the platform stack's output; checked when it resolves)."""
    monitoring_namespace: pulumi.Input[str] | None = None
    """A namespace allowed to scrape the sidecar's metrics port (may be the platform stack's output)."""
    external_services: Sequence[ExternalService] = field(default_factory=tuple)
    """Outside hosts the model may reach; everything else is refused."""
    request_read_timeout_seconds: int = 10
    """How long the sidecar waits to receive a request for the model (the server's own bound)."""
    protect: bool = False
    """Protect the STRICT PeerAuthentication, the allow-nothing policy and the Sidecar (production):
    deleting one would open the namespace."""

    def __post_init__(self) -> None:
        checks = Problems("MeshPoliciesArgs")
        object.__setattr__(self, "mesh_namespace", checks.check("mesh_namespace", self.mesh_namespace, parse_dns_label))
        if self.monitoring_namespace is not None:
            checked = checks.check("monitoring_namespace", self.monitoring_namespace, parse_dns_label)
            object.__setattr__(self, "monitoring_namespace", checked)
        problems = checks.found
        for principal in self.caller_principals:
            parts = principal.split("/")
            if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or "*" in principal or not all(parts):
                problems.append(f"caller principal {principal!r} is not <trust-domain>/ns/<ns>/sa/<sa>")
        if not self.workload_labels:
            problems.append("workload_labels must select the model pods")
        if problems:
            raise ValueError("MeshPoliciesArgs: " + "; ".join(problems))


def authorization_rules(args: MeshPoliciesArgs) -> list[dict[str, Any]]:
    """ALLOW rules: named principals, the model port, its methods and paths, nothing else."""
    if not args.caller_principals:
        return []
    source = [{"source": {"principals": sorted(args.caller_principals)}}]
    port = str(args.port)

    def operation(method: str, paths: Sequence[str]) -> dict[str, Any]:
        return {"operation": {"methods": [method], "paths": list(paths), "ports": [port]}}

    return [
        {"from": source, "to": [operation("POST", [args.predict_path])]},
        {"from": source, "to": [operation("GET", args.health_paths)]},
    ]


class MeshPolicies(pulumi.ComponentResource):
    """STRICT mTLS, allow-nothing + principal ALLOW rules, Sidecar egress list, mesh NetworkPolicies.

    Outputs:
        allowed_hosts: the Sidecar's egress host list.
    """

    allowed_hosts: list[pulumi.Input[str]]

    def __init__(self, name: str, args: MeshPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:mesh:MeshPolicies", name, None, opts)
        child = child_options(self, opts)
        guarded = child_options(self, opts, **guard(args.protect))

        def resource(
            logical: str,
            api_version: str,
            kind: str,
            object_name: str,
            spec: dict[str, Any],
            *,
            protection: bool = False,
        ) -> None:
            k8s.apiextensions.CustomResource(
                f"{name}-{logical}",
                api_version=api_version,
                kind=kind,
                metadata={"name": object_name, "namespace": args.namespace},
                spec=spec,
                opts=guarded if protection else child,
            )

        mtls = {"mtls": {"mode": "STRICT"}}
        resource("mtls", SECURITY_API, "PeerAuthentication", "default", mtls, protection=True)
        # An ALLOW policy with no rules matches nothing, so everything not allowed below is denied.
        resource("allow-nothing", SECURITY_API, "AuthorizationPolicy", "allow-nothing", {}, protection=True)
        rules = authorization_rules(args)
        if rules:
            resource(
                "allow-callers",
                SECURITY_API,
                "AuthorizationPolicy",
                "allow-model-callers",
                {"selector": {"matchLabels": dict(args.workload_labels)}, "action": "ALLOW", "rules": rules},
            )
        for service in args.external_services:
            resource(
                f"egress-{service.host}",
                NETWORKING_API,
                "ServiceEntry",
                service.host.replace(".", "-"),
                {
                    "hosts": [service.host],
                    "location": "MESH_EXTERNAL",
                    "resolution": "DNS",
                    "ports": [{"number": service.port, "name": f"tls-{service.port}", "protocol": "TLS"}],
                    "exportTo": ["."],
                },
            )
        self.allowed_hosts = [
            "./*",
            pulumi.Output.format("{0}/*", args.mesh_namespace),
            *sorted(f"./{service.host}" for service in args.external_services),
        ]
        resource(
            "sidecar",
            NETWORKING_API,
            "Sidecar",
            "default",
            {
                "egress": [{"hosts": self.allowed_hosts}],
                "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                "inboundConnectionPool": INBOUND_CONNECTION_POOL,
            },
            protection=True,
        )
        resource(
            "request-read-timeout",
            ENVOY_FILTER_API,
            "EnvoyFilter",
            "model-request-read-timeout",
            request_read_timeouts("SIDECAR_INBOUND", args.workload_labels, args.request_read_timeout_seconds),
        )
        self._network_policies(name, args, child)
        self.register_outputs({"allowed_hosts": self.allowed_hosts})

    def _network_policies(self, name: str, args: MeshPoliciesArgs, opts: pulumi.ResourceOptions) -> None:
        """Layer 3/4 to match the mesh rules: istiod and the named hosts out, metrics in."""
        selector = allow_policy_selector(args.workload_labels)
        egress: list[dict[str, Any]] = [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.mesh_namespace}},
                        "podSelector": {"matchLabels": dict(ISTIOD_LABELS)},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": ISTIOD_XDS_PORT}],
            },
            *(
                {
                    "to": [{"ipBlock": {"cidr": cidr}} for cidr in service.cidrs],
                    "ports": [{"protocol": "TCP", "port": service.port}],
                }
                for service in args.external_services
            ),
        ]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata={"name": "allow-mesh-egress", "namespace": args.namespace},
            spec={"podSelector": selector, "policyTypes": ["Egress"], "egress": egress},
            opts=opts,
        )
        if args.monitoring_namespace:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-metrics",
                metadata={"name": "allow-metrics-scrape", "namespace": args.namespace},
                spec={
                    "podSelector": selector,
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": args.monitoring_namespace}
                                    }
                                }
                            ],
                            "ports": [{"protocol": "TCP", "port": PROXY_STATUS_PORT}],
                        }
                    ],
                },
                opts=opts,
            )
