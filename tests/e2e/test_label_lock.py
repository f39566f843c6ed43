"""The labels that put the model namespace under admission, the mesh and image signatures cannot be
taken off by anyone but the platform (DESIGN threat model: an insider or another team's operator
with `update` on namespaces).

Every namespace-scoped protection selects the model namespace by a label: Pod Security Admission
reads `pod-security.kubernetes.io/*`, the constraints select the isolation label, the injector
`istio-injection`, policy-controller its opt-in. A cluster-wide identity allowed to update
namespaces is given here by RBAC, so only the stack's label lock (a ValidatingAdmissionPolicy the
API server evaluates itself) stands between it and an unprotected namespace.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from secure_model_serving.cluster.mesh import INJECTION_LABEL
from secure_model_serving.naming import ISOLATION_LABEL
from secure_model_serving.tenant.image_policy import OPT_IN_LABEL
from tests.e2e.envs import StackEnv
from tools.sandbox.client import ApiError, Identity

NAMESPACE_EDITORS = "e2e-namespace-editors"
OTHER_TEAM = Identity("e2e-other-team-operator", (NAMESPACE_EDITORS,))
WEAKER = {"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/enforce-version": "v1.0"}
"""A weaker value the API server's own validation accepts, per key (any other key: "false")."""
OPT_IN_KEYS = (
    ISOLATION_LABEL,
    "pod-security.kubernetes.io/enforce",
    "pod-security.kubernetes.io/enforce-version",
    *INJECTION_LABEL,
    *OPT_IN_LABEL,
)


def _cluster_rbac() -> list[dict[str, Any]]:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAMESPACE_EDITORS},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "update", "patch"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": NAMESPACE_EDITORS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAMESPACE_EDITORS},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": NAMESPACE_EDITORS}],
    }
    return [role, binding]


@pytest.fixture
def namespace_editors(stack_env: StackEnv) -> Iterator[None]:
    """RBAC lets a cluster-wide group update namespaces, as another team's operator might have."""
    objects = _cluster_rbac()
    for obj in objects:
        stack_env.client.apply(obj)
    _wait_until_allowed(stack_env, OTHER_TEAM)
    yield
    for obj in reversed(objects):
        stack_env.client.delete(obj)


def _wait_until_allowed(stack_env: StackEnv, identity: Identity, timeout: float = 15.0) -> None:
    """The RBAC authorizer reads a cache: ask it (as `identity`) until the new binding is seen."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "patch", "resource": "namespaces", "name": stack_env.namespace}},
    }
    deadline = time.monotonic() + timeout
    while True:
        answer = stack_env.client.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, identity=identity
        )
        if answer.body.get("status", {}).get("allowed"):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"RBAC still refuses {identity.user} after {timeout}s")
        time.sleep(0.2)


def _relabel(stack_env: StackEnv, labels: dict[str, str | None], identity: Identity) -> str:
    """A merge patch of the model namespace's labels as `identity` (dry run): admitted or why not."""
    path = f"/api/v1/namespaces/{stack_env.namespace}"
    try:
        stack_env.client.request(
            "PATCH",
            path,
            {"metadata": {"labels": labels}},
            query={"dryRun": "All"},
            content_type="application/merge-patch+json",
            identity=identity,
        )
    except ApiError as error:
        return error.message
    return "admitted"


def _locked_labels(stack_env: StackEnv) -> dict[str, str]:
    """The opt-in labels this stack's model namespace carries (as rendered)."""
    (namespace,) = [
        o for o in stack_env.sandbox.plan.of_kind("Namespace") if o["metadata"]["name"] == stack_env.namespace
    ]
    labels = namespace["metadata"]["labels"]
    return {key: labels[key] for key in OPT_IN_KEYS if key in labels}


@pytest.mark.e2e_group("attack")
@pytest.mark.parametrize("key", OPT_IN_KEYS)
@pytest.mark.parametrize("change", ["removed", "changed"])
@pytest.mark.usefixtures("namespace_editors")
def test_no_one_but_the_platform_takes_the_namespace_out_of_its_protections(
    stack_env: StackEnv, key: str, change: str, record_property: Callable[[str, Any], None]
) -> None:
    locked = _locked_labels(stack_env)
    if key not in locked:
        pytest.skip(f"stack {stack_env.stack} does not opt its namespace in with {key}")
    value = None if change == "removed" else WEAKER.get(key, "false")
    verdict = _relabel(stack_env, {key: value}, OTHER_TEAM)
    record_property("case", f"namespace editor: label {key} {change}")
    record_property("verdict", verdict)
    assert f"label {key}={locked[key]} of namespace {stack_env.namespace} is locked" in verdict, verdict


@pytest.mark.e2e_group("legit")
@pytest.mark.usefixtures("namespace_editors")
def test_other_labels_and_the_platform_still_may_change(
    stack_env: StackEnv, record_property: Callable[[str, Any], None]
) -> None:
    record_property("case", "namespace editor: an unrelated label; the platform group: an opt-in label")
    assert _relabel(stack_env, {"team.example.com/cost-centre": "ml"}, OTHER_TEAM) == "admitted"
    # The lock holds even where RBAC would allow it: the stack's own platform group is the exception.
    if stack_env.platform_groups:
        platform = Identity("e2e-platform-admin", (stack_env.platform_groups[0], NAMESPACE_EDITORS))
        assert _relabel(stack_env, {ISOLATION_LABEL: None}, platform) == "admitted"
