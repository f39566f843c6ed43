"""The service mesh: Istio in CNI mode, STRICT mTLS, allow-nothing authorization, egress allow-list.

`ServiceMesh` installs Istio once per cluster, in order: `base` (CRDs), `istiod`, the `cni` node
agent, and a mesh-wide STRICT PeerAuthentication. The CNI agent sets up traffic redirection on
the node, so injected pods need no `istio-init` with NET_ADMIN/NET_RAW and keep the `restricted`
Pod Security profile; its namespace is the one namespace labelled `privileged`, explicitly.

Each model tenant locks its own namespace down in the mesh (secure_model_serving.tenant.mesh_policies);
the facts both need (the injected pod's shape, the control plane's labels and port, the request
read timeouts) are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..naming import TYPE_PREFIX
from ..options import child_options, guard
from ..policies.parameters import MESH_TOKEN_AUDIENCE
from ..system import pinned_release, pod_security_labels_enforcing, system_namespace
from ..versions import ISTIO_BASE, ISTIO_CNI, ISTIO_PROXY_IMAGE, ISTIOD

__all__ = [
    "ENVOY_FILTER_API",
    "INBOUND_CONNECTION_POOL",
    "INJECTION_LABEL",
    "ISTIOD_LABELS",
    "ISTIOD_XDS_PORT",
    "MESH_REVISION",
    "NETWORKING_API",
    "PROXY_RESOURCES",
    "PROXY_RESOURCE_ANNOTATIONS",
    "PROXY_STATUS_PORT",
    "SECURITY_API",
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


SECURITY_API = "security.istio.io/v1"
NETWORKING_API = "networking.istio.io/v1"
ISTIOD_LABELS = {"app": "istiod"}


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
                api_version=SECURITY_API,
                kind="PeerAuthentication",
                # In the root namespace, without a selector: the mesh-wide default.
                metadata={"name": "default", "namespace": args.namespace},
                spec={"mtls": {"mode": "STRICT"}},
                opts=child_options(self, opts, depends_on=installed, **guard(args.protect)),
            )
        self.register_outputs({"namespace": self.namespace})


ENVOY_FILTER_API = "networking.istio.io/v1alpha3"
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
