"""The insider with deploy rights (DESIGN threat model 3a): the deployer group may roll out a new
signed digest, replicas and resources of the model, "and nothing else: not another service
account, volume, token, command, environment, node, scheduler or mesh opt-out. Admission, not
review, stops them."

Each case is the stack's model Deployment with one such change, created (dry run) as the
deployer, and must be refused by the model's pod-shape constraint (policies/deny-model-pod-widening).
RBAC lets the deployer write Deployments, so only admission can refuse these. (Another signed
image from the allowed registry is the image-signature controller's concern, which the sandbox
does not run.) The deployer's own job, a new digest, replicas and resources, is admitted.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from secure_model_serving.policies import NamespaceScope, load_policies
from tests.e2e.cases import judge
from tests.e2e.envs import StackEnv
from tools.sandbox.client import ApiError, Identity

Spec = dict[str, Any]
(SHAPE_POLICY,) = [p.name for p in load_policies(require_fixtures=False) if p.namespaces is NamespaceScope.EACH_MODEL]


def _model(spec: Spec) -> Spec:
    return next(c for c in spec["containers"] if c["name"] == "model")


def _mount(spec: Spec, volume: dict[str, Any], path: str) -> None:
    spec["volumes"].append(volume)
    _model(spec)["volumeMounts"].append({"name": volume["name"], "mountPath": path, "readOnly": True})


def _other_service_account(spec: Spec, accounts: list[str]) -> None:
    spec["serviceAccountName"] = next(name for name in accounts if name != spec["serviceAccountName"])


CHANGES: dict[str, tuple[str, Callable[[Spec, list[str]], None]]] = {
    "another-service-account": ("service account", _other_service_account),
    "projected-token": (
        "volumes (a projected service-account token)",
        lambda spec, _: _mount(
            spec,
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"audience": "vault", "path": "t"}}]}},
            "/var/run/token",
        ),
    ),
    "another-secret": (
        "volumes (any Secret of the namespace)",
        lambda spec, _: _mount(spec, {"name": "loot", "secret": {"secretName": "e2e-canary"}}, "/loot"),
    ),
    "command": ("command", lambda spec, _: _model(spec).update(command=["python3", "-c", "import os"])),
    "environment": (
        "environment",
        lambda spec, _: _model(spec).setdefault("env", []).append({"name": "PYTHONINSPECT", "value": "1"}),
    ),
    "node": ("node (nodeName skips the scheduler and the node pool)", lambda spec, _: spec.update(nodeName="any")),
}


def _mesh_opt_out(deployment: dict[str, Any]) -> None:
    metadata = deployment["spec"]["template"].setdefault("metadata", {})
    metadata.setdefault("annotations", {})["sidecar.istio.io/inject"] = "false"


@pytest.mark.e2e_group("attack")
@pytest.mark.parametrize("change", [*CHANGES, "mesh-opt-out"])
def test_the_deployer_may_not_change_more_than_digest_replicas_and_resources(
    stack_env: StackEnv, change: str, record_property: Callable[[str, Any], None]
) -> None:
    if not stack_env.deployer_groups:
        pytest.fail(f"stack {stack_env.stack} binds no deployer group")
    deployment = copy.deepcopy(stack_env.deployment)
    deployment["metadata"] = {"name": f"e2e-insider-{change}", "namespace": stack_env.namespace}
    accounts = [obj["metadata"]["name"] for obj in stack_env.sandbox.plan.of_kind("ServiceAccount")]
    if change == "mesh-opt-out":
        _mesh_opt_out(deployment)
    else:
        CHANGES[change][1](deployment["spec"]["template"]["spec"], accounts)
    verdict = judge(stack_env.client, deployment, Identity("e2e-deployer", stack_env.deployer_groups))
    record_property("case", f"deployer: {change}")
    record_property("expected", "refused by admission")
    record_property("verdict", verdict.summary())
    assert verdict.names(stack_env.constraint_name(SHAPE_POLICY)), verdict.summary()
    assert not verdict.admitted or stack_env.enforcement_action(SHAPE_POLICY) == "warn", verdict.summary()


@pytest.mark.e2e_group("legit")
def test_the_deployers_own_job_is_admitted(stack_env: StackEnv, record_property: Callable[[str, Any], None]) -> None:
    deployment = copy.deepcopy(stack_env.deployment)
    deployment["metadata"] = {"name": "e2e-deployer-rollout", "namespace": stack_env.namespace}
    deployment["spec"]["replicas"] = deployment["spec"].get("replicas", 1) + 2
    model = _model(deployment["spec"]["template"]["spec"])
    model["image"] = model["image"].split("@")[0] + "@sha256:" + "1" * 64
    model["resources"]["limits"]["memory"] = model["resources"]["requests"]["memory"]
    verdict = judge(stack_env.client, deployment, Identity("e2e-deployer", stack_env.deployer_groups))
    record_property("case", "deployer: new digest, replicas and resources")
    record_property("verdict", verdict.summary())
    assert verdict.admitted and not verdict.warnings, verdict.summary()


@pytest.mark.e2e_group("attack")
@pytest.mark.parametrize("change", [*CHANGES, "mesh-opt-out"])
def test_the_deployer_may_not_widen_the_running_deployment_on_update(
    stack_env: StackEnv, change: str, record_property: Callable[[str, Any], None]
) -> None:
    """The same widenings as an UPDATE of the stack's own Deployment (a full replace, dry run)."""
    client = stack_env.client
    _, path = client.paths(stack_env.deployment)
    current = client.get(path)
    accounts = [obj["metadata"]["name"] for obj in stack_env.sandbox.plan.of_kind("ServiceAccount")]
    widened = copy.deepcopy(current)
    if change == "mesh-opt-out":
        _mesh_opt_out(widened)
    else:
        CHANGES[change][1](widened["spec"]["template"]["spec"], accounts)
    deployer = Identity("e2e-deployer", stack_env.deployer_groups)
    try:
        response = client.request("PUT", path, widened, query={"dryRun": "All"}, identity=deployer)
        verdict, warnings = "admitted", response.warnings
    except ApiError as error:
        verdict, warnings = error.message, error.warnings
    record_property("case", f"deployer update: {change}")
    record_property("verdict", verdict)
    tag = f"[{stack_env.constraint_name(SHAPE_POLICY)}]"
    if stack_env.enforcement_action(SHAPE_POLICY) == "deny":
        assert tag in verdict, verdict
    else:  # dev: admitted, with Gatekeeper's warning naming the constraint
        assert verdict == "admitted" and any(tag in warning for warning in warnings), (verdict, warnings)
