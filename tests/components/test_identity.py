"""ModelIdentity: a token-less ServiceAccount and namespaced least-privilege Roles."""

from __future__ import annotations

import pytest

from secure_model_serving.policies import load_policies
from secure_model_serving.tenant.identity import (
    AUDITOR_RULES,
    DEPLOYER_RULES,
    FORBIDDEN_RESOURCES,
    FORBIDDEN_VERBS,
    ModelIdentity,
    ModelIdentityArgs,
    auditor_cluster_rules,
)
from tests.support.registrations import by_kind, only

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def build(**overrides: object) -> ModelIdentity:
    values = {"namespace": "models", "service_account_name": "fraud"} | overrides
    return ModelIdentity("id", ModelIdentityArgs(**values))  # type: ignore[arg-type]


def rule_violations(rules: list[dict]) -> list[str]:
    """Why a Role's rules break the least-privilege contract (empty: they keep it)."""
    problems = []
    for rule in rules:
        problems += [f"resource {r}" for r in rule["resources"] if r in FORBIDDEN_RESOURCES]
        problems += [f"verb {v}" for v in rule["verbs"] if v in FORBIDDEN_VERBS]
        problems += ["apiGroup *" for group in rule["apiGroups"] if group == "*"]
        problems += ["resourceNames *" for name in rule.get("resourceNames", []) if name == "*"]
    return problems


def test_service_account_never_mounts_a_token(run_program) -> None:
    account = only(run_program(lambda: build()), "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"] == {**account["metadata"], "name": "fraud", "namespace": "models"}


@pytest.mark.parametrize(
    "rules", [DEPLOYER_RULES, AUDITOR_RULES, auditor_cluster_rules()], ids=["deployer", "auditor", "auditor-cluster"]
)
def test_roles_keep_the_least_privilege_contract(rules: list[dict]) -> None:
    assert rule_violations(rules) == []


@pytest.mark.parametrize(
    "bad_rule",
    [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"]},
        {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
        {"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]},
    ],
)
def test_the_contract_check_refuses_each_dangerous_grant(bad_rule: dict) -> None:
    assert rule_violations([*DEPLOYER_RULES, bad_rule])


def test_auditor_is_read_only_and_deployer_cannot_touch_isolation(run_program) -> None:
    roles = {role["metadata"]["name"]: role["rules"] for role in by_kind(run_program(lambda: build()), "Role")}
    assert set(roles) == {"model-deployer", "model-auditor"}
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in roles["model-auditor"])
    writable = {
        res for rule in roles["model-deployer"] if set(rule["verbs"]) & WRITE_VERBS for res in rule["resources"]
    }
    assert writable == {"deployments", "poddisruptionbudgets", "horizontalpodautoscalers"}
    assert all(rule_violations(rules) == [] for rules in roles.values())


def test_bindings_go_to_the_named_groups_only(run_program) -> None:
    registrations = run_program(lambda: build(deployer_groups=["ml-deployers"], auditor_groups=["auditors", "sec"]))
    bindings = {item["metadata"]["name"]: item for item in by_kind(registrations, "RoleBinding")}
    assert {s["name"] for s in bindings["model-deployer"]["subjects"]} == {"ml-deployers"}
    assert {s["name"] for s in bindings["model-auditor"]["subjects"]} == {"auditors", "sec"}
    for binding in bindings.values():
        assert binding["roleRef"]["kind"] == "Role"
        assert all(subject["kind"] == "Group" for subject in binding["subjects"])


def test_no_binding_without_groups_and_nothing_cluster_wide(run_program) -> None:
    registrations = run_program(lambda: build())
    assert by_kind(registrations, "RoleBinding") == []
    kinds = {item.inputs.get("kind") for item in registrations if item.custom}
    assert kinds == {"ServiceAccount", "Role"}


def readable(rules: list[dict]) -> set[tuple[str, str]]:
    return {
        (group, res)
        for rule in rules
        if "get" in rule["verbs"]
        for group in rule["apiGroups"]
        for res in rule["resources"]
    }


# The posture an auditor exists to audit: each (apiGroup, resource) the auditor must be able to read.
POSTURE_IN_NAMESPACE = {
    ("security.istio.io", "authorizationpolicies"),
    ("security.istio.io", "peerauthentications"),
    ("networking.istio.io", "sidecars"),
    ("networking.istio.io", "serviceentries"),
    ("external-secrets.io", "secretstores"),
    ("external-secrets.io", "externalsecrets"),
    ("networking.k8s.io", "networkpolicies"),
}


def test_the_auditor_reads_the_namespace_posture(run_program) -> None:
    roles = {role["metadata"]["name"]: role["rules"] for role in by_kind(run_program(lambda: build()), "Role")}
    assert readable(roles["model-auditor"]) >= POSTURE_IN_NAMESPACE
    assert not readable(roles["model-deployer"]) & {("external-secrets.io", "secretstores")}


def test_the_auditor_reads_every_constraint_and_template_cluster_wide_and_nothing_else(run_program) -> None:
    registrations = run_program(lambda: build(auditor_groups=["security-auditors"]))
    (role,) = by_kind(registrations, "ClusterRole")
    (binding,) = by_kind(registrations, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "security-auditors"}
    ]
    kinds = {("constraints.gatekeeper.sh", p.kind.lower()) for p in load_policies(require_fixtures=False)}
    assert readable(role["rules"]) >= kinds | {
        ("templates.gatekeeper.sh", "constrainttemplates"),
        ("expansion.gatekeeper.sh", "expansiontemplates"),
        ("policy.sigstore.dev", "clusterimagepolicies"),
    }
    # Read only, and nothing outside the admission posture (no core group: no secrets, no pods).
    assert all(set(rule["verbs"]) == {"get", "list", "watch"} for rule in role["rules"])
    assert {group for rule in role["rules"] for group in rule["apiGroups"]} == {
        "constraints.gatekeeper.sh",
        "templates.gatekeeper.sh",
        "expansion.gatekeeper.sh",
        "status.gatekeeper.sh",
        "policy.sigstore.dev",
    }
