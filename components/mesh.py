"""The service mesh: Istio in CNI mode, STRICT mTLS, allow-nothing authorization, egress allow-list.

`ServiceMesh` installs Istio once per cluster, in order: `base` (CRDs), `istiod`, the `cni` node
agent, and a mesh-wide STRICT PeerAuthentication. The CNI agent sets up traffic redirection on
the node, so injected pods need no `istio-init` with NET_ADMIN/NET_RAW and keep the `restricted`
Pod Security profile; its namespace is the one namespace labelled `privileged`, explicitly.

`MeshPolicies` locks down one model namespace: STRICT mTLS, an allow-nothing
AuthorizationPolicy, then ALLOW rules by caller principal to the model's own methods and paths,
a `Sidecar` restricting egress to the namespace, the control plane and named external hosts
(`ServiceEntry`s), and NetworkPolicies letting the model reach istiod and those hosts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.naming import TYPE_PREFIX, allow_policy_selector
from components.options import child_options, guard
from components.system import pinned_release, pod_security_labels_enforcing, system_namespace
from components.versions import ISTIO_BASE, ISTIO_CNI, ISTIO_PROXY_IMAGE, ISTIOD
from policies.parameters import MESH_TOKEN_AUDIENCE
from serving_contract import LIVENESS_PATH, PREDICT_PATH, READINESS_PATH

__all__ = [
    "INBOUND_CONNECTION_POOL",
    "INJECTION_LABEL",
    "ISTIOD_XDS_PORT",
    "MESH_REVISION",
    "PROXY_RESOURCES",
    "PROXY_RESOURCE_ANNOTATIONS",
    "PROXY_STATUS_PORT",
    "ExternalService",
    "MeshPolicies",
    "MeshPoliciesArgs",
    "ServiceMesh",
    "ServiceMeshArgs",
    "injected_pod_shape",
    "istiod_values",
    "request_read_timeouts",
]

INJECTION_LABEL = {"istio-injection": "enabled"}
"""Namespace label that turns on sidecar injection."""
ISTIOD_XDS_PORT = 15012
"""istiod's port for configuration (xDS) and certificate signing: all a sidecar needs of it."""
PROXY_STATUS_PORT = 15020
"""The sidecar's health and merged Prometheus metrics port."""
PROXY_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
"""What the injected sidecar of a model pod requests and may use (it counts against the quota)."""
PROXY_RESOURCE_ANNOTATIONS = {
    "sidecar.istio.io/proxyCPU": PROXY_RESOURCES["requests"]["cpu"],
    "sidecar.istio.io/proxyMemory": PROXY_RESOURCES["requests"]["memory"],
    "sidecar.istio.io/proxyCPULimit": PROXY_RESOURCES["limits"]["cpu"],
    "sidecar.istio.io/proxyMemoryLimit": PROXY_RESOURCES["limits"]["memory"],
}
"""Pod annotations giving the injected sidecar requests and limits (admission requires limits)."""
MESH_REVISION = "default"
"""The control-plane revision the injector serves (istio.io/rev)."""
_PROXY_UID = 1337
"""The user the injector runs its containers as (the proxy's own, fixed by Istio)."""
_INJECTED_VOLUMES: tuple[dict[str, Any], ...] = (
    {"name": "workload-socket", "emptyDir": {}},
    {"name": "credential-socket", "emptyDir": {}},
    {"name": "workload-certs", "emptyDir": {}},
    {"name": "istio-envoy", "emptyDir": {"medium": "Memory"}},
    {"name": "istio-data", "emptyDir": {}},
    {
        "name": "istio-podinfo",
        "downwardAPI": {
            "items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
            ]
        },
    },
    {
        "name": "istio-token",
        "projected": {
            "sources": [
                {
                    "serviceAccountToken": {
                        "audience": MESH_TOKEN_AUDIENCE,
                        "expirationSeconds": 43200,
                        "path": "istio-token",
                    }
                }
            ]
        },
    },
    {"name": "istiod-ca-cert", "configMap": {"name": "istio-ca-root-cert"}},
    {"name": "istio-ca-crl", "configMap": {"name": "istio-ca-crl", "optional": True}},
)
"""The volumes the sidecar injector of the pinned Istio writes in CNI mode (the only projected
service-account token a model pod may hold is the mesh's, for the istio-ca audience)."""


def injected_pod_shape() -> dict[str, Any]:
    """What the injector of the pinned Istio adds to a model pod, as constraint parameters of
    deny-model-pod-widening: its containers, volumes and annotations, nothing else."""
    annotations: dict[str, str] = {key: "*" for key in PROXY_RESOURCE_ANNOTATIONS}
    annotations.update(
        {
            # Written by the injector; a pod claiming it must carry the proxy (the policy checks).
            "sidecar.istio.io/status": "*",
            "sidecar.istio.io/interceptionMode": "REDIRECT",
            # The injector's own values: any other value excludes ports or ranges from the proxy.
            "traffic.sidecar.istio.io/excludeInboundPorts": str(PROXY_STATUS_PORT),
            "traffic.sidecar.istio.io/includeInboundPorts": "*",
            "traffic.sidecar.istio.io/includeOutboundIPRanges": "*",
            "istio.io/rev": MESH_REVISION,
        }
    )
    return {
        "meshRequired": True,
        "meshRevision": MESH_REVISION,
        "meshContainers": [
            {"name": name, "list": "initContainers", "image": ISTIO_PROXY_IMAGE, "runAsUser": _PROXY_UID}
            for name in ("istio-validation", "istio-proxy")
        ],
        "meshAnnotations": annotations,
        "volumes": [dict(volume) for volume in _INJECTED_VOLUMES],
    }


_SECURITY_API = "security.istio.io/v1"
_NETWORKING_API = "networking.istio.io/v1"
_ISTIOD_LABELS = {"app": "istiod"}


@dataclass(frozen=True)
class ServiceMeshArgs:
    """Inputs of ServiceMesh."""

    pod_security_version: str
    """Pinned Pod Security Standards version of the mesh namespaces."""
    namespace: str = "istio-system"
    """The control plane's namespace (the mesh's root namespace)."""
    cni_namespace: str = "istio-cni"
    """The CNI node agent's namespace: the only one allowed privileged pods."""
    trust_domain: str = "cluster.local"
    """SPIFFE trust domain of workload identities."""
    replicas: int = 2
    """istiod replicas."""
    protect: bool = False
    """Protect the releases from deletion (production)."""
    mesh_wide_strict_mtls: bool = False
    """A root-namespace STRICT PeerAuthentication: every workload of the mesh, other teams' too,
    refuses plaintext. Off by default on a shared cluster; each model namespace is STRICT anyway."""
    mesh_wide_registry_only: bool = False
    """outboundTrafficPolicy REGISTRY_ONLY for the whole mesh. Off by default on a shared cluster;
    each model namespace's Sidecar is registry-only anyway."""
    preinstalled: bool = False
    """Istio already runs (the cluster's platform installed it): create neither its namespaces nor
    its Helm releases, only the mesh-wide policy the stack chooses."""


def istiod_values(args: ServiceMeshArgs) -> dict[str, Any]:
    """istiod chart values: CNI mode, strict path normalisation, and the mesh-wide egress policy
    only when the platform chooses it."""
    mesh_config: dict[str, Any] = {
        "trustDomain": args.trust_domain,
        "pathNormalization": {"normalization": "DECODE_AND_MERGE_SLASHES"},
        "enableAutoMtls": True,
    }
    if args.mesh_wide_registry_only:
        mesh_config["outboundTrafficPolicy"] = {"mode": "REGISTRY_ONLY"}
    return {
        # Top-level since the chart flattened its values (1.24); `pilot.*` survives only as an alias.
        "cni": {"enabled": True},
        # Exactly `replicas` istiods: the chart ignores replicaCount while its autoscaler is on,
        # and renders its PodDisruptionBudget from replicaCount (> 1) when it is off.
        "autoscaleEnabled": False,
        "replicaCount": args.replicas,
        "global": {
            # A reference with a "/" is used verbatim by the injector: the sidecar is digest-pinned.
            "proxy": {"image": ISTIO_PROXY_IMAGE},
            "proxy_init": {"image": ISTIO_PROXY_IMAGE},
        },
        "meshConfig": mesh_config,
        # Kubelet probes cannot present a mesh certificate; the sidecar answers them instead.
        "sidecarInjectorWebhook": {"rewriteAppHTTPProbe": True},
    }


class ServiceMesh(pulumi.ComponentResource):
    """Istio base, istiod and the CNI agent, in order, with mesh-wide STRICT mTLS.

    Outputs:
        namespace: the control plane's namespace.
    """

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceMeshArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:mesh:ServiceMesh", name, None, opts)
        guarded = {"protect": args.protect}
        installed: list[pulumi.Resource] = []
        self.namespace = pulumi.Output.from_input(args.namespace)
        if not args.preinstalled:
            control = system_namespace(
                f"{name}-namespace",
                args.namespace,
                # The charts' pods are not all verified for `restricted`: enforce baseline, audit restricted.
                pod_security_labels_enforcing(args.pod_security_version, "baseline"),
                child_options(self, opts, **guarded),
            )
            self.namespace = control.metadata.name
            cni_namespace = system_namespace(
                f"{name}-cni-namespace",
                args.cni_namespace,
                # The one explicit exception: the CNI agent edits node networking and must be privileged.
                pod_security_labels_enforcing(args.pod_security_version, "privileged"),
                child_options(self, opts, **guarded),
            )
            base = pinned_release(
                f"{name}-base",
                ISTIO_BASE,
                args.namespace,
                {"defaultRevision": "default"},
                child_options(self, opts, depends_on=[control], **guarded),
                release_name="istio-base",
            )
            istiod = pinned_release(
                f"{name}-istiod",
                ISTIOD,
                args.namespace,
                istiod_values(args),
                child_options(self, opts, depends_on=[base], **guarded),
            )
            installed.append(istiod)
            pinned_release(
                f"{name}-cni",
                ISTIO_CNI,
                args.cni_namespace,
                {
                    "excludeNamespaces": [args.namespace, "kube-system"],
                    "seccompProfile": {"type": "RuntimeDefault"},
                    # system-node-critical outside kube-system needs a quota that admits it.
                    "resourceQuotas": {"enabled": True},
                },
                child_options(self, opts, depends_on=[cni_namespace, istiod], **guarded),
            )
        if args.mesh_wide_strict_mtls:
            k8s.apiextensions.CustomResource(
                f"{name}-strict-mtls",
                api_version=_SECURITY_API,
                kind="PeerAuthentication",
                # In the root namespace, without a selector: the mesh-wide default.
                metadata={"name": "default", "namespace": args.namespace},
                spec={"mtls": {"mode": "STRICT"}},
                opts=child_options(self, opts, depends_on=installed, **guard(args.protect)),
            )
        self.register_outputs({"namespace": self.namespace})


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
    mesh_namespace: str = "istio-system"
    """The control plane's namespace."""
    monitoring_namespace: str | None = None
    """A namespace allowed to scrape the sidecar's metrics port."""
    external_services: Sequence[ExternalService] = field(default_factory=tuple)
    """Outside hosts the model may reach; everything else is refused."""
    request_read_timeout_seconds: int = 10
    """How long the sidecar waits to receive a request for the model (the server's own bound)."""
    protect: bool = False
    """Protect the STRICT PeerAuthentication, the allow-nothing policy and the Sidecar (production):
    deleting one would open the namespace."""

    def __post_init__(self) -> None:
        problems = []
        for principal in self.caller_principals:
            parts = principal.split("/")
            if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or "*" in principal or not all(parts):
                problems.append(f"caller principal {principal!r} is not <trust-domain>/ns/<ns>/sa/<sa>")
        if not self.workload_labels:
            problems.append("workload_labels must select the model pods")
        if problems:
            raise ValueError("MeshPoliciesArgs: " + "; ".join(problems))


_ENVOY_FILTER_API = "networking.istio.io/v1alpha3"
_HCM = "envoy.filters.network.http_connection_manager"
_HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"

INBOUND_CONNECTION_POOL = {
    # Connections from the sidecar to the model server, and requests queued in Envoy for them:
    # a flood of slow or parked clients waits (and is shed) in Envoy, not in the server's threads.
    "tcp": {"maxConnections": 64, "connectTimeout": "2s"},
    "http": {"http1MaxPendingRequests": 64, "idleTimeout": "60s"},
}
"""The Sidecar's `inboundConnectionPool` for the model port."""


def request_read_timeouts(context: str, selector: Mapping[str, str], seconds: int) -> dict[str, Any]:
    """An EnvoyFilter spec bounding how long Envoy waits to receive a request (`context` GATEWAY or
    SIDECAR_INBOUND): headers and the whole request within `seconds`, the model server's own read
    timeout. Istio exposes neither field through its own APIs, hence the patch of the HTTP
    connection manager; a slow client is then cut off at the edge before it reaches the server."""
    timeout = f"{seconds}s"
    return {
        "workloadSelector": {"labels": dict(selector)},
        "configPatches": [
            {
                "applyTo": "NETWORK_FILTER",
                "match": {"context": context, "listener": {"filterChain": {"filter": {"name": _HCM}}}},
                "patch": {
                    "operation": "MERGE",
                    "value": {
                        "typed_config": {
                            "@type": _HCM_TYPE,
                            "request_headers_timeout": timeout,
                            "request_timeout": timeout,
                        }
                    },
                },
            }
        ],
    }


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

    allowed_hosts: list[str]

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
        resource("mtls", _SECURITY_API, "PeerAuthentication", "default", mtls, protection=True)
        # An ALLOW policy with no rules matches nothing, so everything not allowed below is denied.
        resource("allow-nothing", _SECURITY_API, "AuthorizationPolicy", "allow-nothing", {}, protection=True)
        rules = authorization_rules(args)
        if rules:
            resource(
                "allow-callers",
                _SECURITY_API,
                "AuthorizationPolicy",
                "allow-model-callers",
                {"selector": {"matchLabels": dict(args.workload_labels)}, "action": "ALLOW", "rules": rules},
            )
        for service in args.external_services:
            resource(
                f"egress-{service.host}",
                _NETWORKING_API,
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
            f"{args.mesh_namespace}/*",
            *sorted(f"./{service.host}" for service in args.external_services),
        ]
        resource(
            "sidecar",
            _NETWORKING_API,
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
            _ENVOY_FILTER_API,
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
                        "podSelector": {"matchLabels": dict(_ISTIOD_LABELS)},
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
