"""(d) The deployer and auditor groups of the stack (rbac.deployerGroups / rbac.auditorGroups),
exercised on the real API server by impersonation (Impersonate-User and Impersonate-Group from the
admin's client certificate): what each may do, and what neither may do.

Every check is a real request (writes as `dryRun=All`, so nothing changes); "forbidden" means
the API server answered 403 from RBAC. For each forbidden action the admin does the same request
as a control, which must not be refused by RBAC: so the 403 is the role's doing, not a wrong path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.cases import GATEKEEPER_DENIAL
from tests.e2e.envs import StackEnv
from tools.sandbox.client import ApiClient, ApiError, Identity

pytestmark = pytest.mark.e2e_group("rbac")

CANARY_SECRET = "e2e-canary"
TARGET_POD = "e2e-rbac-target"
DRY_RUN = {"dryRun": "All"}
MERGE = "application/merge-patch+json"


@dataclass(frozen=True)
class Action:
    """One request: method, path (with `{ns}`, `{deployment}`, `{pod}`, `{sa}` filled in), body."""

    method: str
    path: str
    body: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | None = None
    query: dict[str, str] | None = None
    content_type: str = "application/json"


@dataclass(frozen=True)
class Outcome:
    status: int
    message: str


def attempt(client: ApiClient, identity: Identity | None, action: Action, values: dict[str, Any]) -> Outcome:
    path = action.path.format(**values)
    body = action.body(values) if callable(action.body) else action.body
    try:
        response = client.request(
            action.method, path, body, query=action.query, content_type=action.content_type, identity=identity
        )
    except ApiError as error:
        return Outcome(error.status, error.message)
    return Outcome(response.status, "")


NS = "/api/v1/namespaces/{ns}"
APPS = "/apis/apps/v1/namespaces/{ns}"
RBAC_API = "/apis/rbac.authorization.k8s.io/v1"


def _rolebinding(values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "e2e-takeover", "namespace": values["ns"]},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "model-deployer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "e2e-attackers"}],
    }


def _secret_role(values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "e2e-secret-reader", "namespace": values["ns"]},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    }


FORBIDDEN_TO_BOTH: dict[str, Action] = {
    "read a secret": Action("GET", NS + "/secrets/" + CANARY_SECRET),
    "list secrets": Action("GET", NS + "/secrets"),
    "exec into a pod": Action("POST", NS + "/pods/{pod}/exec", query={"command": "id", "stdout": "true"}),
    "attach to a pod": Action("POST", NS + "/pods/{pod}/attach", query={"stdout": "true"}),
    "port-forward to a pod": Action("POST", NS + "/pods/{pod}/portforward", query={"ports": "8080"}),
    "mint a service-account token": Action(
        "POST",
        NS + "/serviceaccounts/{sa}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["e2e"]}},
        DRY_RUN,
    ),
    "create a pod directly": Action("POST", NS + "/pods", lambda values: values["pod_body"], DRY_RUN),
    "bind a role (create a RoleBinding)": Action(
        "POST", RBAC_API + "/namespaces/{ns}/rolebindings", _rolebinding, DRY_RUN
    ),
    "create a Role that reads secrets": Action("POST", RBAC_API + "/namespaces/{ns}/roles", _secret_role, DRY_RUN),
    # RBAC alone: a label the namespace's lock does not cover (tests/e2e/test_label_lock.py covers
    # the security labels, which even a cluster-wide namespace editor cannot change).
    "change the namespace's labels": Action(
        "PATCH",
        "/api/v1/namespaces/{ns}",
        {"metadata": {"labels": {"team.example.com/owner": "e2e"}}},
        DRY_RUN,
        MERGE,
    ),
    "relax a constraint": Action(
        "PATCH",
        "/apis/constraints.gatekeeper.sh/v1beta1/k8sdenyprivilegedcontainers/deny-privileged-containers",
        {"spec": {"enforcementAction": "dryrun"}},
        DRY_RUN,
        MERGE,
    ),
    "delete a ConstraintTemplate": Action(
        "DELETE", "/apis/templates.gatekeeper.sh/v1/constrainttemplates/k8sdenyprivilegedcontainers", None, DRY_RUN
    ),
    "change the webhook configuration": Action(
        "PATCH",
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
        "gatekeeper-validating-webhook-configuration",
        {"metadata": {"labels": {"e2e": "touched"}}},
        DRY_RUN,
        MERGE,
    ),
    "swap the model-signing public key (ConfigMap)": Action(
        "PATCH", NS + "/configmaps/{configmap}", {"data": {"public-key.pem": "forged"}}, DRY_RUN, MERGE
    ),
    "delete the default-deny NetworkPolicy": Action(
        "DELETE", "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/default-deny-all", None, DRY_RUN
    ),
    "list pods in kube-system": Action("GET", "/api/v1/namespaces/kube-system/pods"),
    # The model's secrets are files its process can print; logs go to the platform's pipeline.
    "read pod logs": Action("GET", NS + "/pods/{pod}/log"),
}
"""Neither group may do these (the admin may, as the control)."""

DEPLOYER_MAY: dict[str, Action] = {
    "read the Deployment": Action("GET", APPS + "/deployments/{deployment}"),
    "list pods": Action("GET", NS + "/pods"),
    "scale the Deployment": Action(
        "PATCH", APPS + "/deployments/{deployment}", {"spec": {"replicas": 4}}, DRY_RUN, MERGE
    ),
    "roll out a new digest": Action(
        "PATCH",
        APPS + "/deployments/{deployment}",
        lambda values: values["rollout"],
        DRY_RUN,
        "application/strategic-merge-patch+json",
    ),
    "create a Deployment": Action("POST", APPS + "/deployments", lambda values: values["deployment_body"], DRY_RUN),
    "read the signing-key ConfigMap": Action("GET", NS + "/configmaps/{configmap}"),
}
AUDITOR_MAY: dict[str, Action] = {
    "list pods": Action("GET", NS + "/pods"),
    "list Deployments": Action("GET", APPS + "/deployments"),
    "list NetworkPolicies": Action("GET", "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"),
    "list Roles": Action("GET", RBAC_API + "/namespaces/{ns}/roles"),
    "list RoleBindings": Action("GET", RBAC_API + "/namespaces/{ns}/rolebindings"),
    "list ResourceQuotas": Action("GET", NS + "/resourcequotas"),
    "list LimitRanges": Action("GET", NS + "/limitranges"),
    # The posture it audits: the mesh's and the store's objects, and the cluster-wide admission.
    "list AuthorizationPolicies": Action("GET", "/apis/security.istio.io/v1/namespaces/{ns}/authorizationpolicies"),
    "list PeerAuthentications": Action("GET", "/apis/security.istio.io/v1/namespaces/{ns}/peerauthentications"),
    "list Sidecars": Action("GET", "/apis/networking.istio.io/v1/namespaces/{ns}/sidecars"),
    "list ServiceEntries": Action("GET", "/apis/networking.istio.io/v1/namespaces/{ns}/serviceentries"),
    "list SecretStores": Action("GET", "/apis/external-secrets.io/v1/namespaces/{ns}/secretstores"),
    "list ExternalSecrets": Action("GET", "/apis/external-secrets.io/v1/namespaces/{ns}/externalsecrets"),
    "read a constraint cluster-wide (with its status)": Action(
        "GET", "/apis/constraints.gatekeeper.sh/v1beta1/k8sdenyprivilegedcontainers/deny-privileged-containers"
    ),
    "list ConstraintTemplates": Action("GET", "/apis/templates.gatekeeper.sh/v1/constrainttemplates"),
    "list ClusterImagePolicies": Action("GET", "/apis/policy.sigstore.dev/v1beta1/clusterimagepolicies"),
}
AUDITOR_MAY_NOT: dict[str, Action] = {
    "scale the Deployment": DEPLOYER_MAY["scale the Deployment"],
    "roll out a new digest": DEPLOYER_MAY["roll out a new digest"],
    "delete the Deployment": Action("DELETE", APPS + "/deployments/{deployment}", None, DRY_RUN),
}


@pytest.fixture(scope="session")
def targets(stack_env: StackEnv) -> dict[str, Any]:
    """The objects the checks aim at: a canary Secret and a Pod (created as the admin), the model's
    Deployment, ServiceAccount and signing-key ConfigMap."""
    client, namespace = stack_env.client, stack_env.namespace
    deployment = stack_env.deployment
    client.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": CANARY_SECRET, "namespace": namespace},
            "stringData": {"token": "e2e-canary-value"},
        }
    )
    template = copy.deepcopy(deployment["spec"]["template"])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template.get("metadata", {}), "name": TARGET_POD, "namespace": namespace},
        "spec": template["spec"],
    }
    client.apply(pod)
    (model,) = [c for c in template["spec"]["containers"] if c["name"] == "model"]
    repository = model["image"].split("@", 1)[0]
    configmap = next(volume["configMap"]["name"] for volume in template["spec"]["volumes"] if "configMap" in volume)
    return {
        "ns": namespace,
        "deployment": deployment["metadata"]["name"],
        "pod": TARGET_POD,
        "sa": template["spec"]["serviceAccountName"],
        "configmap": configmap,
        "pod_body": {**pod, "metadata": {**pod["metadata"], "name": "e2e-direct-pod"}},
        "deployment_body": {**deployment, "metadata": {**deployment["metadata"], "name": "e2e-second-model"}},
        "rollout": {
            "spec": {
                "template": {"spec": {"containers": [{"name": "model", "image": f"{repository}@sha256:{'b' * 64}"}]}}
            }
        },
    }


def _identity(stack_env: StackEnv, role: str) -> Identity:
    groups = stack_env.deployer_groups if role == "deployer" else stack_env.auditor_groups
    if not groups:
        pytest.fail(f"stack {stack_env.stack} binds no {role} group (rbac.{role}Groups)")
    return Identity(f"e2e-{role}", groups)


def _forbidden(outcome: Outcome) -> bool:
    return outcome.status == 403 and GATEKEEPER_DENIAL not in outcome.message


def _check(
    stack_env: StackEnv,
    targets: dict[str, Any],
    role: str,
    name: str,
    action: Action,
    allowed: bool,
    record_property: Callable[[str, Any], None],
) -> None:
    identity = _identity(stack_env, role)
    outcome = attempt(stack_env.client, identity, action, targets)
    record_property("case", f"{role} {'may' if allowed else 'may not'} {name}")
    record_property("identity", {"user": identity.user, "groups": list(identity.groups)})
    record_property("outcome", {"status": outcome.status, "message": outcome.message})
    if allowed:
        assert 200 <= outcome.status < 300, outcome
    else:
        assert _forbidden(outcome), outcome
        control = attempt(stack_env.client, None, action, targets)
        record_property("admin_control", {"status": control.status, "message": control.message})
        assert control.status != 403, f"the admin is refused too, so the check proves nothing: {control}"


@pytest.mark.parametrize("role", ["deployer", "auditor"])
@pytest.mark.parametrize("name", list(FORBIDDEN_TO_BOTH))
def test_neither_group_may(
    stack_env: StackEnv, targets: dict[str, Any], role: str, name: str, record_property: Callable[[str, Any], None]
) -> None:
    _check(stack_env, targets, role, name, FORBIDDEN_TO_BOTH[name], False, record_property)


@pytest.mark.parametrize("name", list(DEPLOYER_MAY))
def test_the_deployer_may(
    stack_env: StackEnv, targets: dict[str, Any], name: str, record_property: Callable[[str, Any], None]
) -> None:
    _check(stack_env, targets, "deployer", name, DEPLOYER_MAY[name], True, record_property)


@pytest.mark.parametrize("name", list(AUDITOR_MAY))
def test_the_auditor_may(
    stack_env: StackEnv, targets: dict[str, Any], name: str, record_property: Callable[[str, Any], None]
) -> None:
    _check(stack_env, targets, "auditor", name, AUDITOR_MAY[name], True, record_property)


@pytest.mark.parametrize("name", list(AUDITOR_MAY_NOT))
def test_the_auditor_may_not(
    stack_env: StackEnv, targets: dict[str, Any], name: str, record_property: Callable[[str, Any], None]
) -> None:
    _check(stack_env, targets, "auditor", name, AUDITOR_MAY_NOT[name], False, record_property)


def test_an_authenticated_outsider_may_not_list_pods(
    stack_env: StackEnv, targets: dict[str, Any], record_property: Callable[[str, Any], None]
) -> None:
    outcome = attempt(stack_env.client, Identity("e2e-outsider", ("e2e-nobody",)), AUDITOR_MAY["list pods"], targets)
    record_property("case", "an authenticated user in no bound group may not list pods")
    assert _forbidden(outcome), outcome


def test_not_even_the_admin_may_exempt_the_model_namespace_from_gatekeeper(
    stack_env: StackEnv, targets: dict[str, Any], record_property: Callable[[str, Any], None]
) -> None:
    """The chart's check-ignore-label webhook: only exempt namespaces may carry the ignore label."""
    action = Action(
        "PATCH",
        "/api/v1/namespaces/{ns}",
        {"metadata": {"labels": {"admission.gatekeeper.sh/ignore": "true"}}},
        DRY_RUN,
        MERGE,
    )
    outcome = attempt(stack_env.client, None, action, targets)
    record_property("case", "the admin may not label the model namespace admission.gatekeeper.sh/ignore")
    record_property("outcome", {"status": outcome.status, "message": outcome.message})
    assert outcome.status == 403 and "check-ignore-label.gatekeeper.sh" in outcome.message, outcome
