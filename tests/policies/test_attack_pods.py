"""Attack pods against the whole policy set with production-like parameters.

Each attack starts from a hardened pod and breaks one rule, in one spelling;
the table says which policies must deny it (more than one only where the
rules overlap by nature, e.g. UID 0 is also below the UID floor). Legitimate
pods, including the Istio CNI-injected pod, must all be admitted.

Production parameters: each constraint's parameters come from the one function
the platform deploys them with (policies.parameters.constraint_parameters), the
model registry as the only allowed registry, enforcementAction deny, and the
Istio proxy's exact image exempted where its policy.yaml allows
(ISTIO_EXEMPTIONS).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from secure_model_serving.policies import NamespaceScope, Policy, load_policies
from secure_model_serving.policies.parameters import MIN_ID, constraint_parameters
from tests.policies.support import (
    denying,
    describe,
    istio_pod,
    istio_proxy_image,
    judge,
    pod_spec,
    policy_objects,
)
from tools.gator import Report

REGISTRY = "registry.example.com/models"
PROXY_IMAGE = istio_proxy_image()
# What the injected pod needs, and why: its proxy runs as UID/GID 1337, comes from Docker Hub,
# and Istio's injection template leaves imagePullPolicy unset (global.imagePullPolicy is empty
# by default). Nothing about privilege, escalation, capabilities or the host: the test on the
# unexempted set shows these three are the only policies the pod needs excusing from. The
# policies that say `image_exemptible: true` are checked to be exactly that set.
ISTIO_EXEMPTIONS = frozenset(p.name for p in load_policies(require_fixtures=False) if p.image_exemptible)
Pod = dict[str, Any]


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def model_image(name: str) -> str:
    return f"{REGISTRY}/{name}@sha256:{digest(name)}"


def production_parameters(policies: list[Policy], exempt: bool) -> dict[str, dict[str, Any] | None]:
    """Parameters as the platform deploys them, exempting the proxy's image when `exempt`."""
    exempt_images = [PROXY_IMAGE] if exempt else []
    return {policy.name: constraint_parameters(policy, [REGISTRY], exempt_images) for policy in policies}


PolicySet = list[dict[str, Any]]


@pytest.fixture(scope="session")
def policies(policies: list[Policy]) -> list[Policy]:
    """Every policy applied alike to all model namespaces. The corpus breaks a generic hardened pod
    one rule at a time; the `each-model` policy (one model's pod shape) is attacked by its own
    suite, built from the rendered prod pod, and the `outside-model` one by its own."""
    return [policy for policy in policies if policy.namespaces is NamespaceScope.MODEL]


@pytest.fixture(scope="session")
def production_set(policies: list[Policy]) -> PolicySet:
    return policy_objects(policies, production_parameters(policies, exempt=True))


@pytest.fixture(scope="session")
def unexempted_set(policies: list[Policy]) -> PolicySet:
    return policy_objects(policies, production_parameters(policies, exempt=False))


def review(policy_set: PolicySet, obj: dict[str, Any]) -> Report:
    (report,) = judge(policy_set, [obj])
    return report


# --- the hardened pod every attack starts from -------------------------------------


def security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": MIN_ID,
        "runAsGroup": MIN_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def resources() -> dict[str, Any]:
    return {
        "requests": {"cpu": "250m", "memory": "512Mi", "ephemeral-storage": "64Mi"},
        "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "128Mi"},
    }


def init_container() -> dict[str, Any]:
    return {
        "name": "fetch-weights",
        "image": model_image("weights-fetcher"),
        "imagePullPolicy": "Always",
        "resources": resources(),
        "securityContext": security_context(),
        "volumeMounts": [{"name": "weights", "mountPath": "/weights"}],
    }


def ephemeral_container() -> dict[str, Any]:
    return {
        "name": "debugger",
        "image": model_image("debug-shell"),
        "imagePullPolicy": "Always",
        "targetContainerName": "model",
        "securityContext": security_context(),
    }


def hardened_pod(*, full: bool = False) -> Pod:
    """A hardened model-server pod; `full` adds an init container and an ephemeral debug container.

    Attacks start from the pod with its main container only and add the init or ephemeral
    container they break, so each verdict is about the one change.
    """
    pod: Pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "scorer", "namespace": "fraud-model", "labels": {"app.kubernetes.io/name": "scorer"}},
        "spec": {
            "serviceAccountName": "scorer",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": MIN_ID,
                "runAsGroup": MIN_ID,
                "fsGroup": MIN_ID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "model",
                    "image": model_image("scorer"),
                    "imagePullPolicy": "Always",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                    "readinessProbe": {"tcpSocket": {"port": "http"}},
                    "resources": resources(),
                    "securityContext": security_context(),
                    "volumeMounts": [
                        {"name": "weights", "mountPath": "/weights", "readOnly": True},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [{"name": "weights", "emptyDir": {}}, {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        },
    }
    if full:
        init(pod)
        ephemeral(pod)
    return pod


def workload(kind: str, pod: Pod) -> dict[str, Any]:
    """The pod as the template of a workload of `kind` (no ephemeral containers in templates)."""
    spec = copy.deepcopy(pod["spec"])
    spec.pop("ephemeralContainers", None)
    template = {"metadata": {"labels": dict(pod["metadata"]["labels"])}, "spec": spec}
    if "annotations" in pod["metadata"]:
        template["metadata"]["annotations"] = dict(pod["metadata"]["annotations"])
    meta = {"name": "scorer", "namespace": "fraud-model"}
    selector = {"matchLabels": dict(pod["metadata"]["labels"])}
    if kind == "CronJob":
        spec["restartPolicy"] = "Never"
        body = {"schedule": "*/30 * * * *", "jobTemplate": {"spec": {"template": template}}}
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": meta, "spec": body}
    if kind == "Job":
        spec["restartPolicy"] = "Never"
        return {"apiVersion": "batch/v1", "kind": kind, "metadata": meta, "spec": {"template": template}}
    if kind == "ReplicationController":
        body = {"selector": dict(pod["metadata"]["labels"]), "template": template}
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": body}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": meta,
        "spec": {"selector": selector, "template": template},
    }


# Accessors used by the attack table.
def spec(pod: Pod) -> dict[str, Any]:
    return pod_spec(pod)


def pod_sc(pod: Pod) -> dict[str, Any]:
    return spec(pod)["securityContext"]


def main(pod: Pod) -> dict[str, Any]:
    return spec(pod)["containers"][0]


def init(pod: Pod) -> dict[str, Any]:
    """The pod's first init container, added (hardened) when it has none."""
    containers = spec(pod).setdefault("initContainers", [])
    if not containers:
        containers.append(init_container())
    return containers[0]


def ephemeral(pod: Pod) -> dict[str, Any]:
    """The pod's first ephemeral container, added (hardened) when it has none."""
    containers = spec(pod).setdefault("ephemeralContainers", [])
    if not containers:
        containers.append(ephemeral_container())
    return containers[0]


def every_container(pod: Pod) -> list[dict[str, Any]]:
    return [c for f in ("initContainers", "containers", "ephemeralContainers") for c in spec(pod).get(f, [])]


def set_sc(get: Callable[[Pod], dict[str, Any]], **values: Any) -> Callable[[Pod], None]:
    return lambda pod: get(pod)["securityContext"].update(values)


def drop_sc(get: Callable[[Pod], dict[str, Any]], key: str) -> Callable[[Pod], None]:
    return lambda pod: get(pod)["securityContext"].pop(key)


def drop_everywhere(key: str) -> Callable[[Pod], None]:
    def mutate(pod: Pod) -> None:
        pod_sc(pod).pop(key, None)
        for c in every_container(pod):
            c["securityContext"].pop(key, None)

    return mutate


def set_spec(**values: Any) -> Callable[[Pod], None]:
    return lambda pod: spec(pod).update(values)


def image(get: Callable[[Pod], dict[str, Any]], reference: str) -> Callable[[Pod], None]:
    return lambda pod: get(pod).update(image=reference)


def add_volume(volume: dict[str, Any]) -> Callable[[Pod], None]:
    return lambda pod: spec(pod)["volumes"].append(volume)


def capabilities(get: Callable[[Pod], dict[str, Any]], value: dict[str, Any] | None) -> Callable[[Pod], None]:
    def mutate(pod: Pod) -> None:
        if value is None:
            get(pod)["securityContext"].pop("capabilities")
        else:
            get(pod)["securityContext"]["capabilities"] = value

    return mutate


def both(*steps: Callable[[Pod], object]) -> Callable[[Pod], None]:
    def mutate(pod: Pod) -> None:
        for step in steps:
            step(pod)

    return mutate


def annotate(key: str, value: str) -> Callable[[Pod], None]:
    return lambda pod: pod["metadata"].setdefault("annotations", {}).update({key: value})


def proxy_container(reference: str, **sc: Any) -> Callable[[Pod], None]:
    """A native sidecar running `reference` (hardened apart from `sc`)."""

    def mutate(pod: Pod) -> None:
        context = {**security_context(), **sc}
        sidecar = {
            "name": "istio-proxy",
            "image": reference,
            "imagePullPolicy": "Always",
            "restartPolicy": "Always",
            "resources": resources(),
            "securityContext": context,
        }
        spec(pod).setdefault("initContainers", []).append(sidecar)

    return mutate


@dataclass(frozen=True)
class Attack:
    """A hardened pod broken in one way; `denied_by` are the policies that must refuse it."""

    id: str
    denied_by: frozenset[str]
    mutate: Callable[[Pod], None]
    kind: str = "Pod"

    def build(self) -> dict[str, Any]:
        pod = hardened_pod()
        self.mutate(pod)
        return pod if self.kind == "Pod" else workload(self.kind, pod)


def attack(id: str, denied_by: str | set[str], mutate: Callable[[Pod], None], kind: str = "Pod") -> Attack:
    names = {denied_by} if isinstance(denied_by, str) else denied_by
    return Attack(id, frozenset(names), mutate, kind)


PRIVILEGED = "deny-privileged-containers"
ESCALATION = "deny-privilege-escalation"
CAPABILITIES = "deny-extra-capabilities"
ROOT = "deny-run-as-root"
ROOT_GROUP = "deny-root-group"
LOW_IDS = "deny-low-user-and-group-ids"
HOST_NAMESPACES = "deny-host-namespaces"
HOST_PORTS = "deny-host-ports"
HOST_PATH = "deny-host-path-volumes"
VOLUME_TYPES = "deny-disallowed-volume-types"
SECCOMP = "deny-unconfined-seccomp"
APPARMOR = "deny-unconfined-apparmor"
SELINUX = "deny-custom-selinux-options"
WINDOWS = "deny-windows-host-process"
PROC_MOUNT = "deny-unmasked-proc-mount"
SYSCTLS = "deny-unsafe-sysctls"
PROBES = "deny-probe-host-override"
WRITABLE_ROOT = "deny-writable-root-filesystem"
UNPINNED = "deny-unpinned-images"
LATEST = "deny-latest-tag"
REGISTRIES = "deny-untrusted-registries"
PULL_POLICY = "deny-lax-image-pull-policy"
LIMITS = "deny-missing-resource-limits"
AUTOMOUNT = "deny-service-account-token-automount"
DEFAULT_SA = "deny-default-service-account"
SERVICE_LINKS = "deny-service-links"
SHARED_PID = "deny-shared-process-namespace"
SECRET_ENV = "deny-secret-env-vars"
APPARMOR_KEY = "container.apparmor.security.beta.kubernetes.io/"
OTHER_PROXY = PROXY_IMAGE.split("@")[0] + "@sha256:" + digest("not-the-proxy")

ATTACKS: list[Attack] = [
    # privileged
    attack("privileged-container", PRIVILEGED, set_sc(main, privileged=True)),
    attack("privileged-init-container", PRIVILEGED, set_sc(init, privileged=True)),
    attack("privileged-ephemeral-container", PRIVILEGED, set_sc(ephemeral, privileged=True)),
    # privilege escalation
    attack("escalation-unset", ESCALATION, drop_sc(main, "allowPrivilegeEscalation")),
    attack("escalation-true", ESCALATION, set_sc(main, allowPrivilegeEscalation=True)),
    attack("escalation-true-in-init-container", ESCALATION, set_sc(init, allowPrivilegeEscalation=True)),
    attack("escalation-unset-in-ephemeral-container", ESCALATION, drop_sc(ephemeral, "allowPrivilegeEscalation")),
    # capabilities
    attack("cap-add-sys-admin", CAPABILITIES, capabilities(main, {"drop": ["ALL"], "add": ["SYS_ADMIN"]})),
    attack("cap-add-sys-admin-lowercase", CAPABILITIES, capabilities(main, {"drop": ["ALL"], "add": ["sys_admin"]})),
    attack("cap-add-cap-prefixed", CAPABILITIES, capabilities(init, {"drop": ["ALL"], "add": ["CAP_SYS_ADMIN"]})),
    attack("cap-add-all", CAPABILITIES, capabilities(main, {"drop": ["ALL"], "add": ["ALL"]})),
    attack("cap-drop-missing", CAPABILITIES, capabilities(main, {"add": ["NET_BIND_SERVICE"]})),
    attack("cap-field-missing-ephemeral", CAPABILITIES, capabilities(ephemeral, None)),
    attack("cap-drop-net-raw-only", CAPABILITIES, capabilities(main, {"drop": ["NET_RAW"]})),
    attack("cap-add-net-admin-init", CAPABILITIES, capabilities(init, {"drop": ["ALL"], "add": ["NET_ADMIN"]})),
    # root user
    attack(
        "run-as-user-0-pod",
        {ROOT, LOW_IDS},
        both(drop_everywhere("runAsUser"), lambda p: pod_sc(p).update(runAsUser=0)),
    ),
    attack("run-as-user-0-container", {ROOT, LOW_IDS}, set_sc(main, runAsUser=0)),
    attack("run-as-non-root-false-overrides-pod", ROOT, set_sc(main, runAsNonRoot=False)),
    attack("run-as-non-root-missing-everywhere", ROOT, drop_everywhere("runAsNonRoot")),
    attack("run-as-non-root-false-init", ROOT, set_sc(init, runAsNonRoot=False)),
    # root group and low ids
    attack("run-as-group-0-container", {ROOT_GROUP, LOW_IDS}, set_sc(main, runAsGroup=0)),
    attack(
        "run-as-group-0-pod",
        {ROOT_GROUP, LOW_IDS},
        both(drop_everywhere("runAsGroup"), lambda p: pod_sc(p).update(runAsGroup=0)),
    ),
    attack("fs-group-0", {ROOT_GROUP, LOW_IDS}, lambda p: pod_sc(p).update(fsGroup=0)),
    attack("supplemental-groups-0", {ROOT_GROUP, LOW_IDS}, lambda p: pod_sc(p).update(supplementalGroups=[0])),
    attack("run-as-user-1000", LOW_IDS, set_sc(main, runAsUser=1000)),
    attack("run-as-user-missing", LOW_IDS, drop_everywhere("runAsUser")),
    # host namespaces, ports and paths
    attack("host-network", HOST_NAMESPACES, set_spec(hostNetwork=True)),
    attack("host-pid", HOST_NAMESPACES, set_spec(hostPID=True)),
    attack("host-ipc", HOST_NAMESPACES, set_spec(hostIPC=True)),
    attack("host-port", HOST_PORTS, lambda p: main(p)["ports"][0].update(hostPort=8080)),
    attack("host-port-init", HOST_PORTS, lambda p: init(p).update(ports=[{"containerPort": 53, "hostPort": 53}])),
    attack("host-path", {HOST_PATH, VOLUME_TYPES}, add_volume({"name": "root", "hostPath": {"path": "/"}})),
    # volume types
    attack("volume-nfs", VOLUME_TYPES, add_volume({"name": "nfs", "nfs": {"server": "10.1.2.3", "path": "/"}})),
    attack(
        "volume-iscsi",
        VOLUME_TYPES,
        add_volume(
            {
                "name": "disk",
                "iscsi": {"targetPortal": "10.1.2.4:3260", "iqn": "iqn.2001-04.com.example:disk", "lun": 0},
            }
        ),
    ),
    attack("volume-gce-pd", VOLUME_TYPES, add_volume({"name": "disk", "gcePersistentDisk": {"pdName": "data"}})),
    # seccomp
    attack(
        "seccomp-unconfined-pod",
        SECCOMP,
        both(drop_everywhere("seccompProfile"), lambda p: pod_sc(p).update(seccompProfile={"type": "Unconfined"})),
    ),
    attack("seccomp-unconfined-container", SECCOMP, set_sc(main, seccompProfile={"type": "Unconfined"})),
    attack("seccomp-unconfined-ephemeral", SECCOMP, set_sc(ephemeral, seccompProfile={"type": "Unconfined"})),
    attack("seccomp-missing-everywhere", SECCOMP, drop_everywhere("seccompProfile")),
    # AppArmor
    attack("apparmor-annotation-unconfined", APPARMOR, annotate(APPARMOR_KEY + "model", "unconfined")),
    attack(
        "apparmor-annotation-unconfined-init",
        APPARMOR,
        both(init, annotate(APPARMOR_KEY + "fetch-weights", "unconfined")),
    ),
    attack("apparmor-field-unconfined", APPARMOR, set_sc(main, appArmorProfile={"type": "Unconfined"})),
    attack("apparmor-pod-unconfined", APPARMOR, lambda p: pod_sc(p).update(appArmorProfile={"type": "Unconfined"})),
    # SELinux
    attack("selinux-spc-t", SELINUX, set_sc(main, seLinuxOptions={"type": "spc_t"})),
    attack("selinux-custom-user", SELINUX, set_sc(init, seLinuxOptions={"user": "system_u"})),
    attack("selinux-custom-role-pod", SELINUX, lambda p: pod_sc(p).update(seLinuxOptions={"role": "sysadm_r"})),
    # Windows, /proc, sysctls
    attack("windows-host-process", WINDOWS, set_sc(main, windowsOptions={"hostProcess": True})),
    attack("windows-host-process-pod", WINDOWS, lambda p: pod_sc(p).update(windowsOptions={"hostProcess": True})),
    attack("proc-mount-unmasked", PROC_MOUNT, set_sc(ephemeral, procMount="Unmasked")),
    attack("sysctl-kernel", SYSCTLS, lambda p: pod_sc(p).update(sysctls=[{"name": "kernel.msgmax", "value": "1"}])),
    attack(
        "sysctl-net-core",
        SYSCTLS,
        lambda p: pod_sc(p).update(sysctls=[{"name": "net.core.somaxconn", "value": "1024"}]),
    ),
    # probes and hooks aimed elsewhere
    attack("probe-http-host", PROBES, lambda p: main(p)["livenessProbe"]["httpGet"].update(host="169.254.169.254")),
    attack("probe-tcp-host", PROBES, lambda p: main(p)["readinessProbe"]["tcpSocket"].update(host="10.0.0.1")),
    attack(
        "pre-stop-http-host",
        PROBES,
        lambda p: main(p).update(
            lifecycle={"preStop": {"httpGet": {"path": "/", "port": 80, "host": "metadata.google.internal"}}}
        ),
    ),
    # root filesystem
    attack("root-filesystem-writable", WRITABLE_ROOT, set_sc(main, readOnlyRootFilesystem=False)),
    attack("root-filesystem-unset", WRITABLE_ROOT, drop_sc(init, "readOnlyRootFilesystem")),
    # image references
    attack("image-tag", UNPINNED, image(main, f"{REGISTRY}/scorer:1.2.3")),
    attack("image-latest", {LATEST, UNPINNED}, image(main, f"{REGISTRY}/scorer:latest")),
    attack("image-no-tag", {LATEST, UNPINNED}, image(init, f"{REGISTRY}/weights-fetcher")),
    attack("digest-uppercase-hex", UNPINNED, image(main, f"{REGISTRY}/scorer@sha256:{digest('scorer').upper()}")),
    attack("digest-short", UNPINNED, image(main, f"{REGISTRY}/scorer@sha256:{digest('scorer')[:32]}")),
    attack("digest-algorithm-uppercase", UNPINNED, image(main, f"{REGISTRY}/scorer@SHA256:{digest('scorer')}")),
    attack(
        "registry-lookalike-path", REGISTRIES, image(main, f"registry.example.com/models-evil/x@sha256:{digest('x')}")
    ),
    attack(
        "registry-prefix-without-boundary",
        REGISTRIES,
        image(main, f"registry.example.com/modelsx/scorer@sha256:{digest('x')}"),
    ),
    attack(
        "registry-lookalike-host",
        REGISTRIES,
        image(ephemeral, f"registry.example.com.evil.io/models/x@sha256:{digest('x')}"),
    ),
    attack("registry-as-path", REGISTRIES, image(main, f"evil.io/registry.example.com/models/x@sha256:{digest('x')}")),
    attack("registry-docker-hub-default", REGISTRIES, image(init, f"python@sha256:{digest('python')}")),
    attack(
        "registry-with-port",
        REGISTRIES,
        image(main, f"registry.example.com:443/models/scorer@sha256:{digest('scorer')}"),
    ),
    attack(
        "registry-uppercase-host",
        REGISTRIES,
        image(main, f"REGISTRY.EXAMPLE.COM/models/scorer@sha256:{digest('scorer')}"),
    ),
    attack(
        "registry-uppercase-path",
        REGISTRIES,
        image(main, f"registry.example.com/Models/scorer@sha256:{digest('scorer')}"),
    ),
    # image pull policy
    attack("pull-if-not-present", PULL_POLICY, lambda p: main(p).update(imagePullPolicy="IfNotPresent")),
    attack("pull-policy-missing", PULL_POLICY, lambda p: ephemeral(p).pop("imagePullPolicy")),
    # resources
    attack("cpu-limit-missing", LIMITS, lambda p: main(p)["resources"]["limits"].pop("cpu")),
    attack("memory-limit-missing", LIMITS, lambda p: init(p)["resources"]["limits"].pop("memory")),
    # service account and environment
    attack("automount-token-true", AUTOMOUNT, set_spec(automountServiceAccountToken=True)),
    attack("automount-token-unset", AUTOMOUNT, lambda p: spec(p).pop("automountServiceAccountToken")),
    attack(
        "projected-api-token",
        AUTOMOUNT,
        add_volume({"name": "api", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}),
    ),
    attack(
        "projected-token-for-the-api-server",
        AUTOMOUNT,
        add_volume(
            {
                "name": "api",
                "projected": {
                    "sources": [{"serviceAccountToken": {"path": "t", "audience": "https://kubernetes.default.svc"}}]
                },
            }
        ),
    ),
    attack("service-account-default", DEFAULT_SA, set_spec(serviceAccountName="default")),
    attack("service-account-unset", DEFAULT_SA, lambda p: spec(p).pop("serviceAccountName")),
    attack("service-links-unset", SERVICE_LINKS, lambda p: spec(p).pop("enableServiceLinks")),
    attack("service-links-true", SERVICE_LINKS, set_spec(enableServiceLinks=True)),
    attack("share-process-namespace", SHARED_PID, set_spec(shareProcessNamespace=True)),
    attack(
        "secret-key-ref",
        SECRET_ENV,
        lambda p: main(p).update(
            env=[{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api", "key": "key"}}}]
        ),
    ),
    attack("env-from-secret", SECRET_ENV, lambda p: init(p).update(envFrom=[{"secretRef": {"name": "bucket"}}])),
    attack(
        "secret-key-ref-ephemeral",
        SECRET_ENV,
        lambda p: ephemeral(p).update(
            env=[{"name": "T", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
        ),
    ),
    # the exempted proxy image buys nothing beyond its exemptions
    attack("exempt-image-privileged", PRIVILEGED, proxy_container(PROXY_IMAGE, privileged=True)),
    attack("exempt-image-escalation", ESCALATION, proxy_container(PROXY_IMAGE, allowPrivilegeEscalation=True)),
    attack("exempt-image-other-digest", {LOW_IDS, REGISTRIES}, proxy_container(OTHER_PROXY, runAsUser=1337)),
    attack(
        "exempt-image-tag-only",
        {LOW_IDS, REGISTRIES, UNPINNED},
        proxy_container(PROXY_IMAGE.split("@")[0], runAsUser=1337),
    ),
    # the same violations in workloads, caught through expansion
    attack("deployment-privileged", PRIVILEGED, set_sc(main, privileged=True), "Deployment"),
    attack("statefulset-host-network", HOST_NAMESPACES, set_spec(hostNetwork=True), "StatefulSet"),
    attack(
        "daemonset-host-path",
        {HOST_PATH, VOLUME_TYPES},
        add_volume({"name": "logs", "hostPath": {"path": "/var/log"}}),
        "DaemonSet",
    ),
    attack("job-run-as-root", {ROOT, LOW_IDS}, set_sc(main, runAsUser=0), "Job"),
    attack("cronjob-latest", {LATEST, UNPINNED}, image(main, f"{REGISTRY}/scorer:latest"), "CronJob"),
    attack(
        "replicaset-sys-admin", CAPABILITIES, capabilities(main, {"drop": ["ALL"], "add": ["SYS_ADMIN"]}), "ReplicaSet"
    ),
    attack("replicationcontroller-host-pid", HOST_NAMESPACES, set_spec(hostPID=True), "ReplicationController"),
    attack("deployment-apparmor-annotation", APPARMOR, annotate(APPARMOR_KEY + "model", "unconfined"), "Deployment"),
]


# --- legitimate pods ----------------------------------------------------------------


def istio_pod_as_deployed() -> dict[str, Any]:
    """The injected pod of the project's workload.

    The fixture leaves imagePullPolicy out of the model container as if it were a
    server-side default, but the project's Deployment sets it to Always, and so
    does the pod created from it.
    """
    pod = istio_pod()
    (model,) = [c for c in pod["spec"]["containers"] if c["name"] == "model"]
    model["imagePullPolicy"] = "Always"
    return pod


def legit(mutate: Callable[[Pod], None]) -> Pod:
    """The hardened pod (all three container lists) with a change that keeps it compliant."""
    pod = hardened_pod(full=True)
    mutate(pod)
    return pod


LEGITIMATE: dict[str, Callable[[], dict[str, Any]]] = {
    "hardened-pod": lambda: hardened_pod(full=True),
    "hardened-deployment": lambda: workload("Deployment", hardened_pod(full=True)),
    "hardened-statefulset": lambda: workload("StatefulSet", hardened_pod()),
    "hardened-cronjob": lambda: workload("CronJob", hardened_pod(full=True)),
    "seccomp-localhost": lambda: legit(
        set_sc(main, seccompProfile={"type": "Localhost", "localhostProfile": "profiles/scorer.json"})
    ),
    "safe-sysctls": lambda: legit(
        lambda p: pod_sc(p).update(
            sysctls=[
                {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
                {"name": "net.ipv4.ip_local_port_range", "value": "32768 60999"},
                {"name": "kernel.shm_rmid_forced", "value": "1"},
            ]
        )
    ),
    "net-bind-service": lambda: legit(capabilities(main, {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})),
    "apparmor-runtime-default-and-localhost": lambda: legit(
        both(
            annotate(APPARMOR_KEY + "model", "localhost/scorer"),
            annotate(APPARMOR_KEY + "fetch-weights", "runtime/default"),
            set_sc(main, appArmorProfile={"type": "Localhost", "localhostProfile": "scorer"}),
            lambda p: pod_sc(p).update(appArmorProfile={"type": "RuntimeDefault"}),
        )
    ),
    "selinux-level-and-container-type": lambda: legit(
        both(
            lambda p: pod_sc(p).update(seLinuxOptions={"level": "s0:c100,c200"}),
            set_sc(main, seLinuxOptions={"type": "container_t"}),
        )
    ),
    "tag-and-digest-in-a-sub-path": lambda: legit(
        image(main, f"{REGISTRY}/team-a/scorer:1.2.3@sha256:{digest('scorer')}")
    ),
    "secrets-mounted-as-files": lambda: legit(
        both(
            add_volume({"name": "key", "secret": {"secretName": "api"}}),
            lambda p: main(p).update(
                env=[{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                envFrom=[{"configMapRef": {"name": "settings"}}],
            ),
        )
    ),
    "istio-cni-injected-pod": istio_pod_as_deployed,
}


# --- tests ----------------------------------------------------------------------------


def test_corpus_size() -> None:
    assert len(ATTACKS) >= 60
    assert len({a.id for a in ATTACKS}) == len(ATTACKS)
    assert {a.kind for a in ATTACKS} >= {
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicaSet",
    }


def test_every_policy_judging_pods_is_attacked(policies: list[Policy]) -> None:
    targeted = {name for a in ATTACKS for name in a.denied_by}
    pod_policies = {p.name for p in policies if any("Pod" in k["kinds"] for k in p.match_kinds)}
    assert pod_policies <= targeted, sorted(pod_policies - targeted)
    assert targeted <= {p.name for p in policies}, sorted(targeted - {p.name for p in policies})


@pytest.fixture(scope="session")
def attack_reports(production_set: PolicySet) -> dict[str, Report]:
    """Every attack judged in one gator run."""
    return dict(zip([a.id for a in ATTACKS], judge(production_set, [a.build() for a in ATTACKS]), strict=True))


@pytest.fixture(scope="session")
def legit_reports(production_set: PolicySet) -> dict[str, Report]:
    """Every legitimate pod judged in one gator run."""
    names = sorted(LEGITIMATE)
    return dict(zip(names, judge(production_set, [LEGITIMATE[name]() for name in names]), strict=True))


@pytest.mark.parametrize("case", ATTACKS, ids=[a.id for a in ATTACKS])
def test_attack_is_denied(case: Attack, attack_reports: dict[str, Report]) -> None:
    report = attack_reports[case.id]
    assert report.denied, f"{case.id} admitted"
    assert denying(report) == case.denied_by, describe(report.violations)
    for violation in report.violations:
        assert violation.kind == case.kind
        assert violation.message.startswith("[Implied by expand-") == (case.kind != "Pod"), violation.format()


@pytest.mark.parametrize("name", sorted(LEGITIMATE), ids=sorted(LEGITIMATE))
def test_legitimate_pod_is_admitted(name: str, legit_reports: dict[str, Report], policies: list[Policy]) -> None:
    report = legit_reports[name]
    assert not report.violations, describe(report.violations)
    assert report.constraints == len(policies)


def test_baseline_is_what_the_attacks_break(production_set: PolicySet) -> None:
    """Applying no mutation leaves the pod admitted, so each verdict comes from its mutation."""
    kinds = sorted({a.kind for a in ATTACKS})
    baselines = [Attack("baseline", frozenset(), lambda _: None, kind).build() for kind in kinds]
    for kind, report in zip(kinds, judge(production_set, baselines), strict=True):
        assert not report.violations, f"{kind}: {describe(report.violations)}"


def test_all_attacks_at_once(production_set: PolicySet, policies: list[Policy]) -> None:
    """One pod carrying every pod attack is denied by every policy that judges pods.

    The registry attacks are left out: each rewrites an image, and the last one would replace the
    unpinned and latest images the other attacks leave behind.
    """
    pod = hardened_pod(full=True)
    for case in ATTACKS:
        if case.kind == "Pod" and REGISTRIES not in case.denied_by:
            case.mutate(pod)
    report = review(production_set, pod)
    pod_policies = {p.name for p in policies if any("Pod" in k["kinds"] for k in p.match_kinds)}
    assert denying(report) == pod_policies - {REGISTRIES}, describe(report.violations)


# --- the Istio CNI-injected pod ---------------------------------------------------------


def test_istio_exemptions_are_exactly_what_the_injected_pod_needs(
    unexempted_set: PolicySet, production_set: PolicySet
) -> None:
    pod = istio_pod_as_deployed()
    without = review(unexempted_set, pod)
    assert denying(without) == ISTIO_EXEMPTIONS, describe(without.violations)
    # Only the proxy's containers are behind those denials, never the model container.
    proxy_containers = {c["name"] for c in pod["spec"]["initContainers"] if c["image"] == PROXY_IMAGE}
    for violation in without.violations:
        assert any(f'"{name}"' in violation.message for name in proxy_containers), violation.format()
    assert not review(production_set, pod).violations


def test_istio_fixture_as_written_lacks_the_model_pull_policy(production_set: PolicySet) -> None:
    """The fixture's model container has no imagePullPolicy: that alone is denied."""
    report = review(production_set, istio_pod())
    assert denying(report) == {PULL_POLICY}, describe(report.violations)
    assert [v.message.split(" must")[0] for v in report.violations] == ['container "model"']


def test_exemption_is_exact(production_set: PolicySet) -> None:
    """The proxy image exempts itself only: the same repository at another digest is judged."""
    exempt = legit(proxy_container(PROXY_IMAGE, runAsUser=1337, runAsGroup=1337))
    other = legit(proxy_container(OTHER_PROXY, runAsUser=1337, runAsGroup=1337))
    assert not review(production_set, exempt).violations
    assert denying(review(production_set, other)) == {LOW_IDS, REGISTRIES}
