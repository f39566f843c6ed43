"""HardenedModelDeployment: the model server as a read-only, replaceable, least-privilege unit.

Deployment + ClusterIP Service + PodDisruptionBudget (+ HorizontalPodAutoscaler when asked) +
a NetworkPolicy admitting only the named callers on the model port. The pod meets the
project's baseline (non-root UID/GID >= MIN_ID, read-only root filesystem with a size-limited
/tmp, no privilege escalation, every capability dropped, RuntimeDefault seccomp, no API token,
no service links, image by digest pulled every time, requests and limits including
ephemeral-storage, three probes, spread over nodes and zones) and can be pinned to a dedicated,
tainted node pool so a sensitive model shares no node with other workloads. On a stop the
container sleeps `pre_stop_seconds` (a sleep action: no shell in the image) while the pod leaves
the endpoints, then the server drains within `termination_grace_period_seconds`.

Secrets reach the model only as read-only files: each named Kubernetes Secret (kept in sync by
External Secrets) is a `secret` volume mounted at `/var/run/secrets/model/<name>/<key>`, mode
0440 (readable by the pod's group, the fsGroup), never as environment variables (those leak into
crash dumps, `/proc/<pid>/environ` and child processes). The kubelet refreshes the files when a
Secret's value changes; a server that needs the new value must re-read the file (the model server
reads none today). The pod
template also carries `secrets-checksum`, a hash of the store and ExternalSecret specs: when
*which* secrets are mounted, or from where, changes, the pods roll. We chose this over a
reloader controller (which restarts on every value change) because it needs no extra
cluster-wide controller with read access to every Secret; the price is that a value rotation
does not restart the pods by itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..formats import ImageRef, is_dns_label, parse_quantity
from ..inputs import Problems
from ..naming import MODEL_CONTAINER, TYPE_PREFIX, allow_policy_selector, workload_labels
from ..options import child_options
from ..policies.parameters import MIN_ID
from ..serving_contract import (
    LIVENESS_PATH,
    PORT,
    PUBLIC_KEY_FILE,
    READINESS_PATH,
    RUN_AS_GROUP,
    RUN_AS_USER,
    VERIFIER_MOUNT_DIR,
    WRITABLE_TMP_DIR,
    ServerEnv,
    VerifyMethod,
)

__all__ = [
    "CERTIFICATE_CHAIN_FILE",
    "ROLLOUT_SURGE",
    "SECRETS_CHECKSUM_ANNOTATION",
    "SECRET_FILE_MODE",
    "SECRET_MOUNT_ROOT",
    "AutoscalingPolicy",
    "ContainerResources",
    "HardenedModelDeployment",
    "HardenedModelDeploymentArgs",
    "IngressPeer",
    "ModelVerifier",
    "NodePlacement",
    "model_selector",
    "pod_shape",
]

"""Lowest UID/GID a model container may run as (the admission policies' floor)."""

_RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
ROLLOUT_SURGE = 1
"""Extra pods a rollout starts before it stops old ones (maxUnavailable is 0)."""
_TMP_VOLUME = "tmp"
SECRET_MOUNT_ROOT = "/var/run/secrets/model"
"""Folder under which each mounted Secret gets its own read-only folder."""
SECRET_FILE_MODE = 0o440
"""Mode of mounted secret files: owner and group (the pod's fsGroup) may read, nobody writes."""
SECRETS_CHECKSUM_ANNOTATION = "secure-model-serving/secrets-checksum"
SIGNING_KEY_ANNOTATION = "secure-model-serving/signing-key-sha256"
"""The key's hash on the pod template: the server verifies only at start, so a new key rolls it."""
_SIGNING_KEY_VOLUME = "model-signing-key"
SIGNING_KEY_DATA_KEY = "verifier.pem"
"""The ConfigMap entry holding the public key, projected to PUBLIC_KEY_FILE. Not named like a
key: scanners' secret heuristics would flag a public key stored under `*key*` as sensitive."""
"""Pod-template annotation whose change rolls the pods when the mounted secrets change."""


@dataclass(frozen=True)
class ContainerResources:
    """Requests and limits; each must name cpu, memory and ephemeral-storage."""

    requests: dict[str, str]
    limits: dict[str, str]


@dataclass(frozen=True)
class AutoscalingPolicy:
    """HorizontalPodAutoscaler bounds on cpu utilisation."""

    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int = 70


@dataclass(frozen=True)
class IngressPeer:
    """An allowed caller: pods in `namespace` (optionally matching `pod_labels`), or a `cidr`."""

    namespace: str | None = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    cidr: str | None = None


@dataclass(frozen=True)
class NodePlacement:
    """A dedicated node pool: select its nodes and tolerate its taint."""

    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]


CERTIFICATE_CHAIN_FILE = "chain.pem"
"""The file the CA chain is projected to in certificate mode (beside PUBLIC_KEY_FILE's place)."""


@dataclass(frozen=True)
class ModelVerifier:
    """What the model server verifies the model's signature with: a public key, or (certificate
    mode, when `signer_identity` is set) the CA chain and the one signer it accepts (its
    certificate's subject or a SAN). The server's environment contract is serving_contract.py."""

    pem: str
    """The PEM public key, or the PEM CA certificates of the chain."""
    signer_identity: str | None = None

    @property
    def file_name(self) -> str:
        return CERTIFICATE_CHAIN_FILE if self.signer_identity else PUBLIC_KEY_FILE

    def env(self) -> dict[str, str]:
        """The server's settings for this verifier (key mode is its default, at PUBLIC_KEY_FILE)."""
        if not self.signer_identity:
            return {}
        return {
            ServerEnv.MODEL_VERIFY_METHOD: VerifyMethod.CERTIFICATE,
            ServerEnv.MODEL_CERTIFICATE_CHAIN: f"{VERIFIER_MOUNT_DIR}/{CERTIFICATE_CHAIN_FILE}",
            ServerEnv.MODEL_SIGNER_IDENTITY: self.signer_identity,
        }


@dataclass(frozen=True)
class HardenedModelDeploymentArgs:
    """Inputs of HardenedModelDeployment. Defaults are the hardened posture."""

    namespace: str
    """Namespace to deploy into (an IsolatedNamespace)."""
    image: pulumi.Input[str]
    """Model server image pinned by digest: registry/path@sha256:<64 hex> (may be another stack's
    output, e.g. the build stack that signed it; checked when it resolves)."""
    service_account_name: str
    """ServiceAccount the pods run as (its token is never mounted)."""
    resources: ContainerResources
    """Requests and limits of the model container."""
    replicas: int = 2
    """Replicas (the HPA's minimum when autoscaling is set)."""
    port: int = PORT
    """Container and Service port of the model API (unprivileged)."""
    run_as_user: int = RUN_AS_USER
    """UID of the model process (>= MIN_ID); the image's own by default."""
    run_as_group: int = RUN_AS_GROUP
    """GID of the model process (>= MIN_ID); the image's own by default."""
    tmp_size_limit: str = "64Mi"
    """Size limit of the only writable path, /tmp."""
    liveness_path: str = LIVENESS_PATH
    """Liveness probe path (process alive)."""
    readiness_path: str = READINESS_PATH
    """Readiness probe path (model verified and loaded)."""
    autoscaling: AutoscalingPolicy | None = None
    """Autoscale on cpu; None keeps a fixed replica count."""
    ingress_from: list[IngressPeer] = field(default_factory=list)
    """Who may call the model port; empty admits nobody."""
    node_placement: NodePlacement | None = None
    """Pin the pods to a dedicated, tainted node pool."""
    env: dict[str, str] = field(default_factory=dict)
    """Plain (non-secret) environment of the model container."""
    secret_files: list[str] = field(default_factory=list)
    """Kubernetes Secrets mounted read-only at SECRET_MOUNT_ROOT/<name>; never as env vars."""
    secrets_checksum: str | None = None
    """Changes when the mounted secrets' definitions change; set on the pod template to roll it."""
    pod_annotations: dict[str, str] = field(default_factory=dict)
    """More pod-template annotations (e.g. the mesh sidecar's resources)."""
    verifier: ModelVerifier | None = None
    """What the server verifies the model's signature with; mounted read-only."""
    pre_stop_seconds: int = 10
    """Sleep before SIGTERM while the pod leaves the endpoints (the server keeps serving)."""
    termination_grace_period_seconds: int = 40
    """preStop sleep + the server's drain + a margin (checked by the settings)."""

    @property
    def signing_key_config_map(self) -> str:
        """Name of the ConfigMap holding the model-signing public key."""
        return f"{self.service_account_name}-signing-key"

    def __post_init__(self) -> None:
        checks = Problems("HardenedModelDeploymentArgs")
        object.__setattr__(self, "image", checks.check("image", self.image, ImageRef.parse))
        problems = checks.found
        try:
            parse_quantity(self.tmp_size_limit)
        except ValueError as error:
            problems.append(f"tmp_size_limit: {error}")
        if not is_dns_label(self.namespace):
            problems.append(f"namespace {self.namespace!r} is not a DNS label")
        if self.replicas < 1:
            problems.append("replicas must be >= 1")
        if not 1024 <= self.port <= 65535:
            problems.append("port must be an unprivileged port (1024-65535)")
        if min(self.run_as_user, self.run_as_group) < MIN_ID:
            problems.append(f"run_as_user and run_as_group must be >= {MIN_ID}")
        for kind, amounts in (("requests", self.resources.requests), ("limits", self.resources.limits)):
            missing = [name for name in _RESOURCE_NAMES if name not in amounts]
            if missing:
                problems.append(f"resources.{kind} must set {missing}")
        for secret in self.secret_files:
            if not is_dns_label(secret) or len(secret) > 56:
                problems.append(f"secret_files: {secret!r} must be a DNS label of at most 56 characters")
        if len(set(self.secret_files)) != len(self.secret_files):
            problems.append("secret_files must not repeat a secret")
        if not 1 <= self.pre_stop_seconds < self.termination_grace_period_seconds:
            problems.append("pre_stop_seconds must be >= 1 and below termination_grace_period_seconds")
        if self.autoscaling and self.autoscaling.max_replicas < self.autoscaling.min_replicas:
            problems.append("autoscaling.max_replicas must be >= min_replicas")
        if problems:
            raise ValueError("HardenedModelDeploymentArgs: " + "; ".join(problems))


def model_selector(name: str) -> dict[str, str]:
    """The labels that select the pods of the HardenedModelDeployment named `name` (what the mesh
    policies and NetworkPolicies of its tenant target)."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}


def _container_security_context(args: HardenedModelDeploymentArgs) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": args.run_as_user,
        "runAsGroup": args.run_as_group,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _probes(args: HardenedModelDeploymentArgs) -> dict[str, Any]:
    def http_get(path: str) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http", "scheme": "HTTP"}}

    return {
        # Startup covers signature verification and model load; liveness waits for it.
        "startupProbe": {**http_get(args.liveness_path), "periodSeconds": 2, "failureThreshold": 60},
        "readinessProbe": {**http_get(args.readiness_path), "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**http_get(args.liveness_path), "periodSeconds": 10, "failureThreshold": 3},
    }


def _scheduling(args: HardenedModelDeploymentArgs, selector: dict[str, str]) -> dict[str, Any]:
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": selector},
            # Count only nodes the pod may run on: a tainted, cordoned or other-pool node with no
            # model pod would otherwise hold the skew and leave replacement pods Pending in a drain.
            "nodeTaintsPolicy": "Honor",
            "nodeAffinityPolicy": "Honor",
        },
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        },
    ]
    scheduling: dict[str, Any] = {
        "topologySpreadConstraints": spread,
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": selector},
                        },
                    }
                ]
            }
        },
    }
    if args.node_placement:
        scheduling["nodeSelector"] = dict(args.node_placement.node_selector)
        scheduling["tolerations"] = [dict(toleration) for toleration in args.node_placement.tolerations]
    return scheduling


def pod_spec(args: HardenedModelDeploymentArgs, selector: dict[str, str]) -> dict[str, Any]:
    """The hardened pod spec of the model server."""
    container = {
        "name": MODEL_CONTAINER,
        "image": args.image,
        "imagePullPolicy": "Always",
        "ports": [{"name": "http", "containerPort": args.port, "protocol": "TCP"}],
        "env": [{"name": key, "value": value} for key, value in sorted(args.env.items())],
        "resources": {"requests": dict(args.resources.requests), "limits": dict(args.resources.limits)},
        "securityContext": _container_security_context(args),
        "volumeMounts": [
            {"name": _TMP_VOLUME, "mountPath": WRITABLE_TMP_DIR},
            *(
                {"name": f"secret-{secret}", "mountPath": f"{SECRET_MOUNT_ROOT}/{secret}", "readOnly": True}
                for secret in args.secret_files
            ),
            *(
                [{"name": _SIGNING_KEY_VOLUME, "mountPath": VERIFIER_MOUNT_DIR, "readOnly": True}]
                if args.verifier
                else []
            ),
        ],
        **_probes(args),
        # A sleep action needs no shell or binary in the (distroless) image.
        "lifecycle": {"preStop": {"sleep": {"seconds": args.pre_stop_seconds}}},
    }
    return {
        "serviceAccountName": args.service_account_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": args.run_as_user,
            "runAsGroup": args.run_as_group,
            "fsGroup": args.run_as_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": _TMP_VOLUME, "emptyDir": {"sizeLimit": args.tmp_size_limit}},
            *(
                {
                    "name": f"secret-{secret}",
                    "secret": {"secretName": secret, "defaultMode": SECRET_FILE_MODE, "optional": False},
                }
                for secret in args.secret_files
            ),
            *(
                [
                    {
                        "name": _SIGNING_KEY_VOLUME,
                        "configMap": {
                            "name": args.signing_key_config_map,
                            "items": [{"key": SIGNING_KEY_DATA_KEY, "path": args.verifier.file_name}],
                            "defaultMode": 0o444,
                            "optional": False,
                        },
                    }
                ]
                if args.verifier
                else []
            ),
        ],
        "terminationGracePeriodSeconds": args.termination_grace_period_seconds,
        **_scheduling(args, selector),
    }


_PINNED_CONTAINER_FIELDS = ("command", "args", "env", "envFrom", "volumeMounts")


def pod_shape(args: HardenedModelDeploymentArgs) -> dict[str, Any]:
    """The model pod as the platform fixes it, as constraint parameters of deny-model-pod-widening.

    Taken from `pod_spec` itself, so the Deployment and the constraint that pins it cannot
    disagree: a deployer may change the image digest, replicas and resources, nothing here.
    """
    spec = pod_spec(args, selector={})
    (container,) = spec["containers"]
    return {
        "serviceAccountName": spec["serviceAccountName"],
        "modelContainer": {
            "name": container["name"],
            **{field: container[field] for field in _PINNED_CONTAINER_FIELDS if field in container},
        },
        "volumes": spec["volumes"],
        "nodeSelector": spec.get("nodeSelector", {}),
        "tolerations": spec.get("tolerations", []),
        "priorityClassNames": [],
        "meshRequired": False,
    }


def _template_metadata(args: HardenedModelDeploymentArgs, labels: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"labels": labels}
    annotations = dict(args.pod_annotations)
    if args.secrets_checksum:
        annotations[SECRETS_CHECKSUM_ANNOTATION] = args.secrets_checksum
    if args.verifier:
        annotations[SIGNING_KEY_ANNOTATION] = hashlib.sha256(args.verifier.pem.encode()).hexdigest()
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def _ingress_peer(peer: IngressPeer) -> dict[str, Any]:
    if peer.cidr is not None:
        return {"ipBlock": {"cidr": peer.cidr}}
    rule: dict[str, Any] = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peer.namespace}}}
    if peer.pod_labels:
        rule["podSelector"] = {"matchLabels": dict(peer.pod_labels)}
    return rule


class HardenedModelDeployment(pulumi.ComponentResource):
    """The model server: Deployment, Service, PDB, optional HPA and an ingress NetworkPolicy.

    Outputs:
        deployment_name: name of the Deployment.
        service_name: name of the ClusterIP Service.
        service_address: in-cluster address, `<service>.<namespace>.svc.cluster.local:<port>`.
        selector: the labels that select the model pods (for policies that target them).
    """

    selector: dict[str, str]
    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    service_address: pulumi.Output[str]

    def __init__(
        self, name: str, args: HardenedModelDeploymentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"{TYPE_PREFIX}:workload:HardenedModelDeployment", name, None, opts)
        child = child_options(self, opts)
        selector = model_selector(name)
        labels = {**workload_labels(name, "model-server"), **selector}

        def metadata(object_name: str = name) -> dict[str, Any]:
            return {"name": object_name, "namespace": args.namespace, "labels": labels}

        replicas = args.autoscaling.min_replicas if args.autoscaling else args.replicas
        signing_key = (
            [
                k8s.core.v1.ConfigMap(
                    f"{name}-signing-key",
                    metadata=metadata(args.signing_key_config_map),
                    # Deployers may only read ConfigMaps (identity.py): nobody but `pulumi up` swaps it.
                    data={SIGNING_KEY_DATA_KEY: args.verifier.pem},
                    opts=child,
                )
            ]
            if args.verifier
            else []
        )
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=metadata(),
            spec={
                "replicas": replicas,
                "revisionHistoryLimit": 5,
                "minReadySeconds": 10,
                "selector": {"matchLabels": selector},
                # Surge first, never drop below the wanted count during a rollout.
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": ROLLOUT_SURGE},
                },
                "template": {"metadata": _template_metadata(args, labels), "spec": pod_spec(args, selector)},
            },
            # With an HPA the replica count is the autoscaler's; Pulumi must not fight it.
            opts=child_options(
                self,
                opts,
                depends_on=signing_key,
                ignore_changes=["spec.replicas"] if args.autoscaling else None,
            ),
        )
        service = k8s.core.v1.Service(
            f"{name}-svc",
            metadata=metadata(),
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {"name": "http", "port": args.port, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}
                ],
            },
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=metadata(),
            spec={
                "maxUnavailable": 1,
                "selector": {"matchLabels": selector},
                # A crash-looping pod must not block node drains.
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
            opts=child,
        )
        if args.autoscaling:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=metadata(),
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": args.autoscaling.min_replicas,
                    "maxReplicas": args.autoscaling.max_replicas,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {
                                    "type": "Utilization",
                                    "averageUtilization": args.autoscaling.target_cpu_utilization,
                                },
                            },
                        }
                    ],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
                },
                opts=child_options(self, opts, depends_on=[deployment]),
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-ingress",
            metadata=metadata(f"{name}-allow-ingress"),
            spec={
                "podSelector": allow_policy_selector(selector),
                "policyTypes": ["Ingress"],
                "ingress": (
                    [
                        {
                            "from": [_ingress_peer(peer) for peer in args.ingress_from],
                            "ports": [{"protocol": "TCP", "port": args.port}],
                        }
                    ]
                    if args.ingress_from
                    else []
                ),
            },
            opts=child,
        )
        self.selector = selector
        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.service_address = pulumi.Output.concat(
            service.metadata.name, ".", args.namespace, ".svc.cluster.local:", str(args.port)
        )
        self.register_outputs(
            {
                "deployment_name": self.deployment_name,
                "service_name": self.service_name,
                "service_address": self.service_address,
            }
        )
