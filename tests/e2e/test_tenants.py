"""Model tenants side by side on one real API server: each is isolated from the others, from both
sides (the tenant's own rights and images pass, another tenant's are refused).

One sandbox per stack of several tenants (`SMS_E2E_TENANT_STACKS`, default `shared`):

- RBAC (SubjectAccessReview, SelfSubjectRulesReview and impersonated requests): every verb a
  tenant's deployer Role grants is granted in its own namespace and in no other tenant's, nor
  across all namespaces; in another tenant's namespace, and cluster-wide, the group's rules are an
  authenticated outsider's;
- Gatekeeper: a tenant's image by digest in another tenant's namespace is refused by that
  namespace's own `deny-model-pod-widening-<namespace>`, as is an image below the platform's
  registries but outside every tenant's path; each tenant's own image is admitted; a privileged
  pod is refused in every tenant namespace;
- the label lock (ValidatingAdmissionPolicy): a cluster-wide namespace editor cannot take any
  tenant's namespace out of the constraints' selector;
- the applied NetworkPolicies and AuthorizationPolicies of a tenant admit no other tenant's
  namespace or identity (the check is shown to see a widened copy).
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from secure_model_serving.naming import ISOLATION_LABEL
from tests.e2e.cases import GATEKEEPER_DENIAL, judge
from tests.e2e.envs import TENANT_STACKS, progress
from tests.e2e.tenants import Tenant, declared_namespaces, mesh_admits, network_admits, read_tenants
from tools.sandbox.client import ApiClient, ApiError, Identity
from tools.sandbox.cluster import Sandbox, bring_up

pytestmark = pytest.mark.e2e_group("tenants")

SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
NAMESPACES = sorted({ns for stack in TENANT_STACKS for ns in declared_namespaces(stack)})
PAIRS = [pytest.param(a, b, id=f"{a}-in-{b}") for a, b in itertools.permutations(NAMESPACES, 2)]
Record = Callable[[str, Any], None]


@dataclass(frozen=True)
class TenantsEnv:
    sandbox: Sandbox
    stack: str
    tenants: dict[str, Tenant]

    @property
    def client(self) -> ApiClient:
        return self.sandbox.client

    def tenant(self, namespace: str) -> Tenant:
        if namespace not in self.tenants:
            pytest.skip(f"stack {self.stack} has no tenant {namespace}")
        return self.tenants[namespace]


@pytest.fixture(scope="session", params=TENANT_STACKS)
def tenants_env(request: pytest.FixtureRequest) -> Iterator[TenantsEnv]:
    """A sandbox with the shared stack installed: every tenant beside the others."""
    stack = request.param
    started = time.monotonic()
    sandbox = bring_up(stack, progress=progress)
    try:
        tenants = {tenant.namespace: tenant for tenant in read_tenants(sandbox.plan)}
        assert sorted(tenants) == sorted(declared_namespaces(stack)), tenants
        assert len(tenants) >= 2, f"stack {stack} has fewer than two tenants"
        progress(f"stack {stack} ({len(tenants)} tenants) up in {time.monotonic() - started:.1f}s")
        yield TenantsEnv(sandbox, stack, tenants)
    finally:
        sandbox.stop()
        progress(f"stack {stack} down after {time.monotonic() - started:.1f}s")


@pytest.mark.e2e_group("apply")
def test_every_rendered_object_of_every_tenant_is_accepted(tenants_env: TenantsEnv, record_property: Record) -> None:
    sandbox = tenants_env.sandbox
    record_property("applied", len(sandbox.applied))
    record_property("errors", len(sandbox.errors))
    record_property("error_details", [f"{item.ref}: {item.error}" for item in sandbox.errors])
    constraint = next(o for o in sandbox.plan.objects if o["metadata"]["name"] == "deny-privileged-containers")
    record_property("enforcement", constraint["spec"].get("enforcementAction", "deny"))
    assert len(sandbox.applied) == len(sandbox.plan.objects) > 0
    assert not sandbox.errors, "\n".join(f"{item.ref}: {item.error}" for item in sandbox.errors)


# --- RBAC --------------------------------------------------------------------------------------


def _allowed(client: ApiClient, groups: tuple[str, ...], attributes: dict[str, str]) -> bool:
    """The API server's RBAC answer for a member of `groups` (and every authenticated user's groups)."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": "e2e-tenant-deployer",
            "groups": [*groups, "system:authenticated"],
            "resourceAttributes": attributes,
        },
    }
    return bool(client.request("POST", SAR, review).body.get("status", {}).get("allowed"))


def _granted(tenant: Tenant) -> list[dict[str, str]]:
    """Every (group, resource, verb) the tenant's deployer Role grants, as review attributes."""
    return [
        {"group": group, "resource": resource, "verb": verb}
        for rule in tenant.deployer_rules
        for group in rule.get("apiGroups", [""])
        for resource in rule["resources"]
        for verb in rule["verbs"]
    ]


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_deployer_has_every_right_of_its_role_in_its_own_namespace(
    tenants_env: TenantsEnv, namespace: str, record_property: Record
) -> None:
    tenant = tenants_env.tenant(namespace)
    granted = _granted(tenant)
    missing = [
        a for a in granted if not _allowed(tenants_env.client, tenant.deployer_groups, {**a, "namespace": namespace})
    ]
    record_property("case", f"{tenant.deployer_groups} in {namespace}: {len(granted)} rights")
    assert granted and not missing, missing


@pytest.mark.parametrize(("owner", "other"), PAIRS)
def test_a_deployer_has_no_right_in_another_tenants_namespace(
    tenants_env: TenantsEnv, owner: str, other: str, record_property: Record
) -> None:
    tenant, target = tenants_env.tenant(owner), tenants_env.tenant(other)
    assert not set(tenant.deployer_groups) & set(target.deployer_groups), "the tenants share a deployer group"
    granted = _granted(tenant)
    leaked = [a for a in granted if _allowed(tenants_env.client, tenant.deployer_groups, {**a, "namespace": other})]
    record_property("case", f"{tenant.deployer_groups} in {other}: {len(granted)} rights checked")
    assert not leaked, leaked
    # Nor any other right there: RBAC's whole answer for the group is an outsider's.
    outsider = _rules(tenants_env.client, Identity("e2e-outsider", ()), other)
    assert _rules(tenants_env.client, Identity("e2e-intruder", tenant.deployer_groups), other) == outsider
    # The same as real requests by impersonation (RBAC's 403, not a wrong path: the owner succeeds).
    deployment = target.deployment["metadata"]["name"]
    path = f"/apis/apps/v1/namespaces/{other}/deployments"
    for identity, expected in ((Identity("e2e-intruder", tenant.deployer_groups), 403), (_deployer(target), 200)):
        for method, url, body in (("GET", f"{path}/{deployment}", None), ("POST", path, _renamed(target.deployment))):
            status = _status(tenants_env.client, method, url, body, identity)
            assert status == expected or (expected == 200 and 200 <= status < 300), (identity, method, url, status)


def _deployer(tenant: Tenant) -> Identity:
    return Identity("e2e-owner", tenant.deployer_groups)


def _renamed(deployment: dict[str, Any]) -> dict[str, Any]:
    return {**deployment, "metadata": {**deployment["metadata"], "name": "e2e-tenant-copy"}}


def _status(client: ApiClient, method: str, path: str, body: Any, identity: Identity) -> int:
    try:
        return client.request(method, path, body, query={"dryRun": "All"} if body else None, identity=identity).status
    except ApiError as error:
        return error.status


def _rules(client: ApiClient, identity: Identity, namespace: str) -> dict[str, Any]:
    """What RBAC lets `identity` do in `namespace` (SelfSubjectRulesReview): the rules of the
    RoleBindings there and of every ClusterRoleBinding, cluster-scoped resources included."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    }
    status = client.request("POST", SSRR, review, identity=identity).body["status"]
    return {key: sorted(map(repr, status.get(key) or [])) for key in ("resourceRules", "nonResourceRules")}


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_deployer_has_no_cluster_wide_right(tenants_env: TenantsEnv, namespace: str, record_property: Record) -> None:
    """No ClusterRoleBinding gives the group more than any authenticated user has, and no right of
    its Role holds across all namespaces."""
    tenant, client = tenants_env.tenant(namespace), tenants_env.client
    outsider = Identity("e2e-outsider", ())
    deployer = Identity("e2e-deployer", tenant.deployer_groups)
    baseline = _rules(client, outsider, "default")
    granted = _granted(tenant)
    across = [a for a in granted if _allowed(client, tenant.deployer_groups, {**a, "namespace": ""})]
    record_property("case", f"{tenant.deployer_groups}: cluster rules and {len(granted)} rights across namespaces")
    assert baseline["resourceRules"], "the review shows no rule at all, so equality proves nothing"
    assert _rules(client, deployer, "default") == baseline
    assert not across, across
    # Control: in its own namespace the same review shows the Role's rules on top.
    assert _rules(client, deployer, namespace) != baseline


# --- Gatekeeper: whose image runs where ------------------------------------------------------


def _with_image(tenant: Tenant, kind: str, image: str, name: str) -> dict[str, Any]:
    """The tenant's model Deployment (or its pod) in its namespace, its model image set to `image`."""
    deployment = copy.deepcopy(tenant.deployment)
    template = deployment["spec"]["template"]
    next(c for c in template["spec"]["containers"] if c["name"] == "model")["image"] = image
    if kind == "Deployment":
        deployment["metadata"] = {**deployment["metadata"], "name": name}
        return deployment
    metadata = {**template.get("metadata", {}), "name": name, "namespace": tenant.namespace}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def _refused_by(verdict: Any, constraint: str) -> bool:
    return not verdict.admitted and GATEKEEPER_DENIAL in verdict.message and verdict.names(constraint)


KINDS = ("Deployment", "Pod")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_tenant_runs_its_own_image(
    tenants_env: TenantsEnv, namespace: str, kind: str, record_property: Record
) -> None:
    tenant = tenants_env.tenant(namespace)
    verdict = judge(tenants_env.client, _with_image(tenant, kind, tenant.image, "e2e-own-image"))
    record_property("case", f"{kind} in {namespace} with its own image {tenant.image}")
    record_property("verdict", verdict.summary())
    assert verdict.admitted and not verdict.warnings, verdict.summary()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("owner", "other"), PAIRS)
def test_a_tenants_image_is_refused_in_another_tenants_namespace(
    tenants_env: TenantsEnv, owner: str, other: str, kind: str, record_property: Record
) -> None:
    image, target = tenants_env.tenant(owner).image, tenants_env.tenant(other)
    assert not any(image.startswith(f"{prefix}/") for prefix in target.registries), "the test image is not foreign"
    verdict = judge(tenants_env.client, _with_image(target, kind, image, "e2e-foreign-image"))
    record_property("case", f"{kind} in {other} with {owner}'s image {image}")
    record_property("verdict", verdict.summary())
    assert _refused_by(verdict, target.pod_shape_constraint), verdict.summary()


def _outside_every_tenant(tenants_env: TenantsEnv, tenant: Tenant) -> str:
    """An image below the platform's registries (the parent of a tenant's path) but in no tenant's path."""
    parent = tenant.registries[0].rsplit("/", 1)[0]
    image = f"{parent}/no-tenant/model@sha256:{'c' * 64}"
    assert not any(image.startswith(f"{p}/") for t in tenants_env.tenants.values() for p in t.registries)
    return image


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("namespace", NAMESPACES)
def test_an_image_outside_every_tenants_path_is_refused(
    tenants_env: TenantsEnv, namespace: str, kind: str, record_property: Record
) -> None:
    tenant = tenants_env.tenant(namespace)
    image = _outside_every_tenant(tenants_env, tenant)
    verdict = judge(tenants_env.client, _with_image(tenant, kind, image, "e2e-stray-image"))
    record_property("case", f"{kind} in {namespace} with {image}")
    record_property("verdict", verdict.summary())
    assert _refused_by(verdict, tenant.pod_shape_constraint), verdict.summary()


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_the_constraints_judge_every_tenant_namespace(
    tenants_env: TenantsEnv, namespace: str, record_property: Record
) -> None:
    """A privileged model pod (its Deployment: Pod Security Admission does not judge Deployments)."""
    tenant = tenants_env.tenant(namespace)
    obj = _with_image(tenant, "Deployment", tenant.image, "e2e-privileged")
    model = next(c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == "model")
    model["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
    verdict = judge(tenants_env.client, obj)
    record_property("case", f"privileged Deployment in {namespace}")
    record_property("verdict", verdict.summary())
    assert _refused_by(verdict, "deny-privileged-containers"), verdict.summary()


# --- The label lock: no one takes a tenant out of the constraints -----------------------------

NAMESPACE_EDITORS = Identity("e2e-namespace-editor", ("e2e-tenant-namespace-editors",))


@pytest.fixture(scope="module")
def namespace_editors(tenants_env: TenantsEnv) -> Iterator[None]:
    """RBAC lets a cluster-wide group update namespaces (another team's operator, say)."""
    name = NAMESPACE_EDITORS.groups[0]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "update", "patch"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}],
    }
    for obj in (role, binding):
        tenants_env.client.apply(obj)
    attributes = {"resource": "namespaces", "verb": "patch"}
    deadline = time.monotonic() + 15
    while not _allowed(tenants_env.client, NAMESPACE_EDITORS.groups, attributes):
        assert time.monotonic() < deadline, "RBAC never saw the namespace editors' binding"
        time.sleep(0.2)
    time.sleep(1)  # the review and the authorizer of requests read the same cache; give it a beat
    yield
    for obj in (binding, role):
        tenants_env.client.delete(obj)


@pytest.mark.usefixtures("namespace_editors")
@pytest.mark.parametrize("namespace", NAMESPACES)
def test_no_namespace_editor_takes_a_tenant_out_of_the_constraints(
    tenants_env: TenantsEnv, namespace: str, record_property: Record
) -> None:
    tenants_env.tenant(namespace)
    path = f"/api/v1/namespaces/{namespace}"
    merge = "application/merge-patch+json"

    def relabel(labels: dict[str, str | None]) -> str:
        try:
            tenants_env.client.request(
                "PATCH",
                path,
                {"metadata": {"labels": labels}},
                query={"dryRun": "All"},
                content_type=merge,
                identity=NAMESPACE_EDITORS,
            )
        except ApiError as error:
            return error.message
        return "admitted"

    removed = relabel({ISOLATION_LABEL: None})
    record_property("case", f"namespace editor removes {ISOLATION_LABEL} from {namespace}")
    record_property("verdict", removed)
    assert f"label {ISOLATION_LABEL}=true of namespace {namespace} is locked" in removed, removed
    assert relabel({"team.example.com/cost-centre": "ml"}) == "admitted"  # RBAC did allow the editor


# --- Network and mesh policies, as applied ---------------------------------------------------


def _applied(client: ApiClient, path: str) -> list[dict[str, Any]]:
    return list(client.get(path).get("items") or [])


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_no_policy_of_a_tenant_admits_another_tenant(
    tenants_env: TenantsEnv, namespace: str, record_property: Record
) -> None:
    tenants_env.tenant(namespace)
    client = tenants_env.client
    labels = {
        ns["metadata"]["name"]: ns["metadata"].get("labels") or {} for ns in _applied(client, "/api/v1/namespaces")
    }
    others = {name for name in tenants_env.tenants if name != namespace}
    network = _applied(client, f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies")
    mesh = _applied(client, f"/apis/security.istio.io/v1/namespaces/{namespace}/authorizationpolicies")
    foreign = [p for name in sorted(others) for p in tenants_env.tenants[name].principals]
    by_network, by_mesh = network_admits(network, namespace, labels), mesh_admits(mesh, foreign)
    record_property("case", f"{len(network)} NetworkPolicies, {len(mesh)} AuthorizationPolicies of {namespace}")
    record_property("admitted", {"namespaces": sorted(by_network), "foreign principals": sorted(by_mesh)})
    assert network and mesh, "the tenant's policies were not applied"
    assert not by_network & others and not by_mesh, (by_network, by_mesh)
    # The check sees a widening: the same policies plus one ingress rule open to every isolated namespace.
    widened = copy.deepcopy(network)
    peer = {"namespaceSelector": {"matchLabels": {ISOLATION_LABEL: "true"}}}
    widened[0]["spec"].setdefault("ingress", []).append({"from": [peer]})
    assert others <= network_admits(widened, namespace, labels)
    assert mesh_admits([{"spec": {"rules": [{"from": [{"source": {"namespaces": sorted(others)}}]}]}}], foreign)
