"""Bring a policy sandbox up for one stack, and take it down again.

`up` runs, in order, each step waiting on a real signal (never a fixed sleep):

1. render the stack (a bad stack file fails before anything starts) and pick the CRDs it needs;
2. etcd on loopback (ready when `/health` says so);
3. kube-apiserver on loopback: RBAC, the default admission plugins (PodSecurity, LimitRanger,
   ServiceAccount, ResourceQuota, the webhooks...), a serving certificate for 127.0.0.1, client
   certificates, service-account keys (ready when `/readyz` answers);
4. the CRDs (waiting until each is Established), the stack's namespaces and, standing in for the
   controller-manager, a `default` ServiceAccount in each;
5. the Gatekeeper manager with the flags its Helm release would give it, and the chart's
   ValidatingWebhookConfiguration pointing at it (the stack's failure policy, exempt namespaces);
6. the stack's objects, server-side applied: ConstraintTemplates (until each reports
   `created`), ExpansionTemplates, Constraints (until each is `enforced`), then the rest.

What the sandbox does not have, by design: a controller-manager (Deployments create no Pods,
quotas get no status so ResourceQuota is not enforced, namespaces never finish deleting), a
scheduler, kubelets, and the Helm releases other than Gatekeeper (their objects are not needed to
judge admission).

One deliberate addition: the PodSecurity plugin exempts one user, `PROBE_USER`, that no stack or
person uses. Requests made as that user are judged by Gatekeeper alone, so a test can see
Gatekeeper's verdict on a pod that Pod Security Admission (which runs first) would refuse anyway.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from secure_model_serving.serving_vocabulary import PodSecurityMode
from tools.sandbox.client import ApiClient, ApiError, Identity, object_ref
from tools.sandbox.pki import SandboxPki, create_pki
from tools.sandbox.policy_controller import PolicyControllerRelease, compiled_policies, start_policy_controller
from tools.sandbox.processes import RunningProcess, free_port, start, wait_until
from tools.sandbox.stack import CONSTRAINT_PHASE, CrdIndex, GatekeeperRelease, StackPlan, apply_phase, crd_folder
from tools.sandbox.state import SandboxState, new_state_dir
from tools.toolchain import ensure

__all__ = [
    "ADMIN",
    "PROBE_USER",
    "WEBHOOK_CONFIGURATION",
    "AppliedObject",
    "Sandbox",
    "bring_up",
    "start_platform",
    "webhook_configuration",
]

PROBE_USER = "sandbox:policy-probe"
"""The one user Pod Security Admission exempts in the sandbox (see the module docstring)."""

ADMIN = Identity("sandbox-admin", ("system:masters",))
WEBHOOK_CONFIGURATION = "gatekeeper-validating-webhook-configuration"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

_STARTUP_TIMEOUT = 120.0
_STATUS_TIMEOUT = 180.0

# The chart's list (values.yaml, validatingWebhookSubResources): every subresource but status.
_WEBHOOK_SUBRESOURCES = (
    "pods/ephemeralcontainers",
    "pods/exec",
    "pods/log",
    "pods/eviction",
    "pods/portforward",
    "pods/proxy",
    "pods/attach",
    "pods/binding",
    "pods/resize",
    "deployments/scale",
    "replicasets/scale",
    "statefulsets/scale",
    "replicationcontrollers/scale",
    "services/proxy",
    "nodes/proxy",
    "services/status",
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class AppliedObject:
    """One rendered object and the API server's answer to applying it."""

    ref: str
    error: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass
class Sandbox:
    """A running sandbox: its state, the stack plan it installed and an admin client."""

    state: SandboxState
    plan: StackPlan
    client: ApiClient
    applied: list[AppliedObject] = field(default_factory=list)

    @property
    def errors(self) -> list[AppliedObject]:
        return [item for item in self.applied if item.error is not None]

    def stop(self) -> None:
        self.state.stop()


def admin_client(state: SandboxState) -> ApiClient:
    """A client holding the admin certificate (`O=system:masters`)."""
    return ApiClient(state.server, state.pki / "ca.crt", state.pki / "admin.crt", state.pki / "admin.key")


def _kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": user}}],
        "current-context": "sandbox",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)


def _admission_config(path: Path) -> Path:
    """The API server's admission configuration: Pod Security's defaults, one exempt probe user."""
    config = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1",
                    "kind": "PodSecurityConfiguration",
                    # Kubernetes' own defaults: namespaces without labels are not restricted.
                    "defaults": {
                        level: value
                        for mode in PodSecurityMode
                        for level, value in ((mode.value, "privileged"), (f"{mode}-version", "latest"))
                    },
                    "exemptions": {"usernames": [PROBE_USER], "namespaces": [], "runtimeClasses": []},
                },
            }
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _etcd_healthy(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
        return json.loads(reply.read()).get("health") == "true"


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as reply:
        return bool(reply.status == 200)


def _start_etcd(state: SandboxState, progress: Progress) -> RunningProcess:
    binary = ensure("etcd")
    client_port, peer_port = state.ports["etcd"], state.ports["etcd-peer"]
    progress(f"starting etcd on 127.0.0.1:{client_port}")
    process = start(
        "etcd",
        [
            str(binary),
            "--name=sandbox",
            f"--data-dir={state.root / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client_port}",
            f"--advertise-client-urls=http://127.0.0.1:{client_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=sandbox=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        state.logs / "etcd.log",
    )
    state.processes.append(process)
    state.save()
    wait_until(process, lambda: _etcd_healthy(client_port), "healthy", _STARTUP_TIMEOUT)
    return process


def _start_apiserver(state: SandboxState, pki: SandboxPki, progress: Progress) -> RunningProcess:
    binary = ensure("kube-apiserver")
    port = state.ports["apiserver"]
    progress(f"starting kube-apiserver on 127.0.0.1:{port}")
    process = start(
        "kube-apiserver",
        [
            str(binary),
            f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.apiserver.cert}",
            f"--tls-private-key-file={pki.apiserver.key}",
            f"--client-ca-file={pki.ca.cert}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            f"--admission-control-config-file={_admission_config(state.root / 'admission.yaml')}",
            # No controller-manager keeps the `kubernetes` Service's endpoints, so nothing to reconcile.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ],
        state.logs / "kube-apiserver.log",
    )
    state.processes.append(process)
    state.save()
    client = admin_client(state)
    wait_until(process, client.healthy, "ready (/readyz)", _STARTUP_TIMEOUT, interval=0.5)
    return process


def gatekeeper_arguments(release: GatekeeperRelease, state: SandboxState, kubeconfig: Path) -> list[str]:
    """The manager's flags: what the chart's controller-manager and audit Deployments pass, in one process."""
    exempt = sorted({release.namespace, *release.exempt_namespaces})
    return [
        f"--kubeconfig={kubeconfig}",
        f"--port={state.ports['webhook']}",
        "--host=127.0.0.1",
        f"--cert-dir={state.pki / 'webhook'}",
        "--disable-cert-rotation",
        f"--health-addr=127.0.0.1:{state.ports['gatekeeper-health']}",
        # The Prometheus exporter cannot be turned off and listens on every interface; a free port.
        f"--prometheus-port={state.ports['gatekeeper-metrics']}",
        "--logtostderr",
        f"--log-denies={str(release.log_denies).lower()}",
        *(f"--exempt-namespace={namespace}" for namespace in exempt),
        "--operation=webhook",
        "--operation=audit",
        "--operation=status",
        "--operation=generate",
        f"--enable-generator-resource-expansion={str(release.expansion).lower()}",
        f"--audit-interval={release.audit_interval}",
        f"--validating-webhook-configuration-name={WEBHOOK_CONFIGURATION}",
        # Outside a cluster there is no Pod to own the status objects.
        "--debug-use-fake-pod",
        # The delay lets a Service drain a terminating replica; there is no Service here.
        "--shutdown-delay=0",
    ]


def _start_gatekeeper(
    state: SandboxState, release: GatekeeperRelease, pki: SandboxPki, progress: Progress
) -> RunningProcess:
    binary = ensure("gatekeeper")
    kubeconfig = state.root / "gatekeeper.kubeconfig"
    _kubeconfig(
        kubeconfig, state.server, pki.ca.cert, pki.gatekeeper_client.cert, pki.gatekeeper_client.key, "gatekeeper"
    )
    progress(f"starting the Gatekeeper manager (webhook on 127.0.0.1:{state.ports['webhook']})")
    process = start(
        "gatekeeper",
        [str(binary), *gatekeeper_arguments(release, state, kubeconfig)],
        state.logs / "gatekeeper.log",
        env={**os.environ, "POD_NAMESPACE": release.namespace},
    )
    state.processes.append(process)
    state.save()
    health = f"http://127.0.0.1:{state.ports['gatekeeper-health']}/readyz"
    wait_until(process, lambda: _http_ok(health), "ready (/readyz)", _STARTUP_TIMEOUT, interval=0.5)
    return process


def webhook_configuration(release: GatekeeperRelease, port: int, ca_bundle: bytes) -> dict[str, Any]:
    """The chart's ValidatingWebhookConfiguration, with a loopback URL in place of its Service."""
    exempt_labels = {key: list(values) for key, values in release.webhook_exempt_labels.items()}
    names = exempt_labels.setdefault("kubernetes.io/metadata.name", [])
    if release.namespace not in names:
        names.append(release.namespace)
    bundle = base64.b64encode(ca_bundle).decode()
    common = {
        "admissionReviewVersions": ["v1", "v1beta1"],
        "matchPolicy": "Exact",
        "sideEffects": "None",
        "timeoutSeconds": release.timeout_seconds,
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {
            "name": WEBHOOK_CONFIGURATION,
            "labels": {"app": "gatekeeper", "gatekeeper.sh/system": "yes"},
        },
        "webhooks": [
            {
                **common,
                "name": "validation.gatekeeper.sh",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/v1/admit", "caBundle": bundle},
                "failurePolicy": release.failure_policy,
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "admission.gatekeeper.sh/ignore", "operator": "DoesNotExist"},
                        *(
                            {"key": key, "operator": "NotIn", "values": values}
                            for key, values in sorted(exempt_labels.items())
                        ),
                    ]
                },
                "objectSelector": {},
                "rules": [
                    {
                        "apiGroups": ["*"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["*", *_WEBHOOK_SUBRESOURCES],
                        "scope": "*",
                    }
                ],
            },
            {
                **common,
                "name": "check-ignore-label.gatekeeper.sh",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/v1/admitlabel", "caBundle": bundle},
                "failurePolicy": "Fail",
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [release.namespace]}
                    ]
                },
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["namespaces"],
                        "scope": "*",
                    }
                ],
            },
        ],
    }


def _install_crds(client: ApiClient, crds: list[dict[str, Any]], progress: Progress) -> None:
    progress(f"installing {len(crds)} CRDs")
    for crd in crds:
        client.apply(crd)
    for crd in crds:
        name = crd["metadata"]["name"]
        client.wait_for(
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
            lambda obj: _condition(obj, "Established"),
            f"CRD {name} Established",
            _STARTUP_TIMEOUT,
        )
    client.forget_discovery()


def _condition(obj: dict[str, Any], kind: str) -> bool:
    return any(
        item.get("type") == kind and item.get("status") == "True"
        for item in (obj.get("status") or {}).get("conditions") or []
    )


def _template_created(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("created"))


def _constraint_enforced(obj: dict[str, Any]) -> bool:
    by_pod = (obj.get("status") or {}).get("byPod") or []
    return bool(by_pod) and all(item.get("enforced") for item in by_pod)


def _expansion_ingested(obj: dict[str, Any]) -> bool:
    by_pod = (obj.get("status") or {}).get("byPod") or []
    return bool(by_pod) and not any(item.get("errors") for item in by_pod)


def _apply_all(client: ApiClient, objects: list[dict[str, Any]], applied: list[AppliedObject]) -> None:
    for obj in objects:
        try:
            response = client.apply(obj)
        except ApiError as error:
            applied.append(AppliedObject(object_ref(obj), error.message, error.warnings))
        else:
            applied.append(AppliedObject(object_ref(obj), None, response.warnings))


def _wait_status(
    client: ApiClient, objects: list[dict[str, Any]], check: Callable[[dict[str, Any]], bool], what: str
) -> None:
    """Wait until every object (that was applied) satisfies `check`, with one deadline for all."""
    deadline = time.monotonic() + _STATUS_TIMEOUT
    for obj in objects:
        _, path = client.paths(obj)
        client.wait_for(path, check, f"{object_ref(obj)} {what}", max(deadline - time.monotonic(), 1.0))


def _wait_compiled(client: ApiClient, release: PolicyControllerRelease, policies: list[dict[str, Any]]) -> None:
    """Wait until policy-controller has compiled every ClusterImagePolicy: before that it judges
    images against an incomplete set (and refuses what matches none)."""
    names = {obj["metadata"]["name"] for obj in policies}
    client.wait_for(
        f"/api/v1/namespaces/{release.namespace}/configmaps/config-image-policies",
        lambda config_map: names <= compiled_policies(config_map),
        f"ClusterImagePolicies {sorted(names)} compiled by policy-controller",
        _STATUS_TIMEOUT,
    )


def install_stack(
    client: ApiClient, plan: StackPlan, progress: Progress, signatures: PolicyControllerRelease | None = None
) -> list[AppliedObject]:
    """Server-side apply every rendered object, phase by phase, waiting on Gatekeeper's status (and,
    with `signatures`, on policy-controller's compiled policies)."""
    applied: list[AppliedObject] = []
    phases: dict[int, list[dict[str, Any]]] = {}
    for obj in plan.objects:
        phases.setdefault(apply_phase(obj), []).append(obj)
    for phase in sorted(phases):
        objects = phases[phase]
        if phase == CONSTRAINT_PHASE:
            client.forget_discovery()  # the constraint kinds' CRDs are new
        before = len(applied)
        _apply_all(client, objects, applied)
        accepted = [obj for obj, item in zip(objects, applied[before:], strict=True) if item.error is None]
        kinds = {obj.get("kind") for obj in accepted}
        if kinds == {"ConstraintTemplate"}:
            progress(f"waiting until {len(accepted)} ConstraintTemplates report created")
            _wait_status(client, accepted, _template_created, "created")
        elif kinds == {"ExpansionTemplate"}:
            _wait_status(client, accepted, _expansion_ingested, "ingested")
        elif phase == CONSTRAINT_PHASE and accepted:
            progress(f"waiting until {len(accepted)} constraints are enforced")
            _wait_status(client, accepted, _constraint_enforced, "enforced")
        policies = [obj for obj in accepted if obj.get("kind") == "ClusterImagePolicy"]
        if signatures is not None and policies:
            progress(f"waiting until policy-controller has compiled {len(policies)} ClusterImagePolicies")
            _wait_compiled(client, signatures, policies)
    return applied


def _default_service_accounts(client: ApiClient, namespaces: list[str]) -> None:
    """What the controller-manager would create in every namespace."""
    for namespace in namespaces:
        client.apply(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}}
        )


def start_platform(
    release: GatekeeperRelease,
    crds: list[dict[str, Any]],
    namespaces: list[dict[str, Any]],
    *,
    root: Path | None = None,
    stack: str = "",
    progress: Progress = print,
    policy_controller: PolicyControllerRelease | None = None,
) -> SandboxState:
    """Start etcd, kube-apiserver and the Gatekeeper manager (as `release` would configure it), with
    `crds` installed and `namespaces` created, and Sigstore policy-controller when its release is
    given; on any failure stop what was started and re-raise.

    Nothing of a stack is applied: `bring_up` applies the rendered objects, the real `pulumi up`
    tier lets the Pulumi engine create them."""
    for tool in ("etcd", "kube-apiserver", "gatekeeper", *(["policy-controller"] if policy_controller else [])):
        ensure(tool)  # a missing tool fails here, with the toolchain's message, before anything starts
    state = SandboxState(root=root or new_state_dir(), stack=stack)
    state.root.mkdir(parents=True, exist_ok=True)
    state.root.chmod(0o700)
    try:
        state.logs.mkdir(exist_ok=True)
        pki = create_pki(state.pki)
        for name in ("etcd", "etcd-peer", "apiserver", "webhook", "gatekeeper-health", "gatekeeper-metrics"):
            state.ports[name] = free_port()
        state.server = f"https://127.0.0.1:{state.ports['apiserver']}"
        state.save()
        _start_etcd(state, progress)
        _start_apiserver(state, pki, progress)
        _kubeconfig(state.kubeconfig, state.server, pki.ca.cert, pki.admin.cert, pki.admin.key, "sandbox-admin")
        client = admin_client(state)
        _install_crds(client, crds, progress)

        progress(f"creating {len(namespaces)} namespaces and their default ServiceAccounts")
        for namespace in namespaces:
            client.apply(namespace)
        _default_service_accounts(client, ["default", *(item["metadata"]["name"] for item in namespaces)])

        _start_gatekeeper(state, release, pki, progress)
        client.apply(webhook_configuration(release, state.ports["webhook"], pki.ca.cert.read_bytes()))
        if policy_controller is not None:
            progress(
                f"starting policy-controller ({policy_controller.namespace}, "
                f"failurePolicy {policy_controller.failure_policy})"
            )
            state.processes.append(
                start_policy_controller(
                    client, policy_controller, pki=pki, kubeconfig=state.kubeconfig, root=state.root, logs=state.logs
                )
            )
            state.save()
        return state
    except BaseException:
        state.stop()
        raise


def bring_up(
    stack: str,
    *,
    config_file: Path | None = None,
    root: Path | None = None,
    progress: Progress = print,
    signatures: bool = False,
) -> Sandbox:
    """Start a sandbox for `stack` and install it; on any failure stop what was started and re-raise.

    With `signatures`, Sigstore policy-controller runs too, as the stack's release configures it
    (tools/sandbox/policy_controller.py): every image of the stack must then be reachable and
    signed as its ClusterImagePolicies demand (tests/e2e/supply_chain.py prepares such a stack).
    """
    from tools.sandbox.stack import load_plan

    progress(f"rendering stack {stack!r}")
    plan = load_plan(stack, config_file)
    crds = CrdIndex(crd_folder()).needed(plan.objects)
    for skipped in plan.skipped:
        progress(f"skipping {skipped}: a Helm release record (the sandbox stands in for Gatekeeper's)")
    if signatures and plan.policy_controller is None:
        raise ValueError(f"stack {stack!r} renders no policy-controller release: signatures cannot be checked")
    release = plan.policy_controller if signatures else None
    state = start_platform(
        plan.gatekeeper,
        crds,
        plan.of_kind("Namespace"),
        root=root,
        stack=stack,
        progress=progress,
        policy_controller=release,
    )
    try:
        progress(f"applying {len(plan.objects)} rendered objects (server-side apply)")
        sandbox = Sandbox(state, plan, admin_client(state))
        sandbox.applied = install_stack(sandbox.client, plan, progress, release)
        from secure_model_serving.naming import ISOLATION_LABEL

        state.model_namespaces = plan.namespaces_with_label(ISOLATION_LABEL, "true")
        state.save()
        return sandbox
    except BaseException:
        state.stop()
        raise
