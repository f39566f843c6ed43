"""(c) A workload whose pod template breaks a rule is refused when it is created (Gatekeeper judges
it as the Pod it would create, through the stack's ExpansionTemplates), instead of being
admitted and then waiting for Pods that Pod Security Admission or Gatekeeper refuse one by one.

Each variant is the stack's own model Deployment (admitted as rendered: the control case) with
one change that breaks one policy, and is a valid object (the API server would otherwise refuse
it before any webhook). The same change is tried on every other expanded workload kind.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.cases import GATEKEEPER_DENIAL, judge
from tests.e2e.envs import StackEnv

pytestmark = pytest.mark.e2e_group("expansion")

Spec = dict[str, Any]


def _model(spec: Spec) -> Spec:
    return next(c for c in spec["containers"] if c["name"] == "model")


def _set(path: str, value: Any) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        target = _model(spec)
        *parents, leaf = path.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value

    return change


def _unset(field: str) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        _model(spec)["securityContext"].pop(field, None)
        spec.get("securityContext", {}).pop(field, None)

    return change


def _privileged(spec: Spec) -> None:
    _model(spec)["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)


def _secret_env(spec: Spec) -> None:
    _model(spec).setdefault("env", []).append(
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "feature-store", "key": "password"}}}
    )


def _host_path(spec: Spec) -> None:
    spec["volumes"].append({"name": "host", "hostPath": {"path": "/var/lib/kubelet"}})
    _model(spec)["volumeMounts"].append({"name": "host", "mountPath": "/host", "readOnly": True})


def _image(reference: str) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        _model(spec)["image"] = reference

    return change


VARIANTS: dict[str, tuple[str, Callable[[Spec], None]]] = {
    "privileged": ("deny-privileged-containers", _privileged),
    "run-as-root": ("deny-run-as-root", _set("securityContext.runAsUser", 0)),
    "host-network": ("deny-host-namespaces", lambda spec: spec.update(hostNetwork=True)),
    "host-pid": ("deny-host-namespaces", lambda spec: spec.update(hostPID=True)),
    "host-path": ("deny-host-path-volumes", _host_path),
    "extra-capability": ("deny-extra-capabilities", _set("securityContext.capabilities.add", ["NET_ADMIN"])),
    "writable-root": ("deny-writable-root-filesystem", _set("securityContext.readOnlyRootFilesystem", False)),
    "escalation-allowed": ("deny-privilege-escalation", _set("securityContext.allowPrivilegeEscalation", True)),
    "latest-tag": ("deny-latest-tag", _image("registry.example.com/models/fraud-detector:latest")),
    "untrusted-registry": (
        "deny-untrusted-registries",
        _image("registry.example.com/models-evil/fraud-detector@sha256:" + "a" * 64),
    ),
    "pull-if-not-present": ("deny-lax-image-pull-policy", _set("imagePullPolicy", "IfNotPresent")),
    "default-service-account": ("deny-default-service-account", lambda spec: spec.update(serviceAccountName="default")),
    "token-automount": (
        "deny-service-account-token-automount",
        lambda spec: spec.update(automountServiceAccountToken=True),
    ),
    "service-links": ("deny-service-links", lambda spec: spec.update(enableServiceLinks=True)),
    "shared-process-namespace": (
        "deny-shared-process-namespace",
        lambda spec: spec.update(shareProcessNamespace=True),
    ),
    "secret-env-var": ("deny-secret-env-vars", _secret_env),
    "no-cpu-limit": ("deny-missing-resource-limits", lambda spec: _model(spec)["resources"]["limits"].pop("cpu")),
    "unset-read-only-root": ("deny-writable-root-filesystem", _unset("readOnlyRootFilesystem")),
    "unset-escalation": ("deny-privilege-escalation", _unset("allowPrivilegeEscalation")),
}


def _workload(deployment: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """The stack's Deployment as another workload kind (same pod template)."""
    template = copy.deepcopy(deployment["spec"]["template"])
    selector = copy.deepcopy(deployment["spec"]["selector"])
    metadata = {"name": name, "namespace": deployment["metadata"]["namespace"]}
    api = "batch/v1" if kind in ("Job", "CronJob") else ("v1" if kind == "ReplicationController" else "apps/v1")
    spec: dict[str, Any]
    if kind == "Deployment":
        obj = copy.deepcopy(deployment)
        obj["metadata"] = {**obj["metadata"], "name": name}
        return obj
    if kind in ("Job", "CronJob"):
        template["spec"]["restartPolicy"] = "Never"
        job = {"template": template, "backoffLimit": 0}
        spec = job if kind == "Job" else {"schedule": "0 * * * *", "jobTemplate": {"spec": job}}
    elif kind == "ReplicationController":
        spec = {"replicas": 1, "selector": selector["matchLabels"], "template": template}
    else:
        spec = {"selector": selector, "template": template}
        if kind == "StatefulSet":
            spec["serviceName"] = deployment["metadata"]["name"]
    return {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec}


def _pod_spec(obj: dict[str, Any]) -> Spec:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob")


def _params() -> list[Any]:
    params = []
    for variant in VARIANTS:
        params.append(pytest.param("Deployment", variant, id=f"Deployment-{variant}"))
    params += [pytest.param(kind, "privileged", id=f"{kind}-privileged") for kind in KINDS[1:]]
    params += [pytest.param(kind, "writable-root", id=f"{kind}-writable-root") for kind in KINDS[1:]]
    return params


@pytest.mark.e2e_group("legit")
@pytest.mark.parametrize("kind", KINDS)
def test_the_stack_workload_is_admitted_as_every_kind(
    stack_env: StackEnv, kind: str, record_property: Callable[[str, Any], None]
) -> None:
    """The control: without a change, every kind is admitted, with no warning."""
    verdict = judge(stack_env.client, _workload(stack_env.deployment, kind, f"e2e-control-{kind.lower()}"))
    record_property("case", f"{kind}-control")
    record_property("verdict", verdict.summary())
    assert verdict.admitted and not verdict.warnings, verdict.summary()


@pytest.mark.parametrize(("kind", "variant"), _params())
def test_a_breaking_pod_template_is_refused_at_create(
    stack_env: StackEnv, kind: str, variant: str, record_property: Callable[[str, Any], None]
) -> None:
    policy, change = VARIANTS[variant]
    obj = _workload(stack_env.deployment, kind, f"e2e-{variant}")
    change(_pod_spec(obj))
    action = stack_env.enforcement_action(policy)
    verdict = judge(stack_env.client, obj)
    record_property("case", f"{kind}-{variant}")
    record_property("enforcement", action)
    record_property("expected", f"{'refused' if action == 'deny' else 'warned'} at create naming [{policy}]")
    record_property("verdict", verdict.summary())
    expansion = "[Implied by expand-cronjobs]" if kind == "CronJob" else "[Implied by expand-workloads]"
    named = [line for line in [verdict.message, *verdict.warnings] if f"[{policy}]" in line and expansion in line]
    if action == "deny":
        assert not verdict.admitted and GATEKEEPER_DENIAL in verdict.message, verdict.summary()
    else:
        assert verdict.admitted, verdict.summary()
    assert named, verdict.summary()
