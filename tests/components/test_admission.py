"""AdmissionControl: Gatekeeper fail-closed, templates from the policy files, ordered constraints."""

from __future__ import annotations

from typing import Any

import pytest

from secure_model_serving.cluster.admission import AdmissionControl, AdmissionControlArgs, model_constraints
from secure_model_serving.naming import ISOLATION_LABEL
from secure_model_serving.policies import POLICY_DIR, NamespaceScope, load_policies
from secure_model_serving.versions import GATEKEEPER, POD_SECURITY_VERSION
from tests.support.stacks import PRODUCTION_STACKS, STACKS
from tools.mock_engine import Registration
from tools.render import Rendered
from tools.toolchain import TOOLS

PROXY = "docker.io/istio/proxyv2:1.31.1@sha256:" + "d8" * 32
POLICIES = load_policies(require_fixtures=False)
(SHAPE_POLICY,) = [policy.name for policy in POLICIES if policy.namespaces is NamespaceScope.EACH_MODEL]


def args(**changes: Any) -> AdmissionControlArgs:
    values: dict[str, Any] = {
        "registries": ["registry.example.com/models"],
        "pod_security_version": POD_SECURITY_VERSION,
    }
    return AdmissionControlArgs(**(values | changes))


def of_kind(registrations: list[Registration], kind: str) -> list[Registration]:
    return [item for item in registrations if item.inputs.get("kind") == kind]


def constraints(registrations: list[Registration]) -> list[Registration]:
    return [item for item in registrations if item.inputs.get("apiVersion", "").startswith("constraints.gatekeeper")]


def release(registrations: list[Registration]) -> Registration:
    (found,) = [
        item
        for item in registrations
        if item.type == "kubernetes:helm.sh/v3:Release" and item.inputs["chart"] == "gatekeeper"
    ]
    return found


@pytest.fixture
def installed(run_program) -> list[Registration]:
    return run_program(lambda: AdmissionControl("admission", args()))


def test_templates_carry_the_rego_of_the_policy_files(installed: list[Registration]) -> None:
    templates = {item.inputs["metadata"]["name"]: item.inputs for item in of_kind(installed, "ConstraintTemplate")}
    assert len(templates) == len(POLICIES) == len(list(POLICY_DIR.glob("*/src.rego")))
    for policy in POLICIES:
        (target,) = templates[policy.template_name]["spec"]["targets"]
        (code,) = target["code"]
        assert code["source"]["version"] == "v1"
        assert code["source"]["rego"] == (POLICY_DIR / policy.name / "src.rego").read_text()
        assert "rego" not in target  # the legacy field would be parsed as Rego v0


def test_release_is_pinned_and_fails_closed_by_default(installed: list[Registration]) -> None:
    inputs = release(installed).inputs
    assert (inputs["chart"], inputs["version"]) == (GATEKEEPER.name, GATEKEEPER.version)
    assert inputs["version"].count(".") == 2
    values = inputs["values"]
    assert values["validatingWebhookFailurePolicy"] == "Fail"
    assert values["replicas"] == 3 and values["pdb"]["controllerManager"]["minAvailable"] == 2
    assert values["enableGeneratorResourceExpansion"] is True and values["disableAudit"] is False
    assert values["controllerManager"]["resources"]["requests"] and values["audit"]["resources"]["requests"]
    assert values["validatingWebhookExemptNamespacesLabels"] == {"kubernetes.io/metadata.name": ["kube-system"]}


def test_fail_open_and_warn_are_passed_through_when_asked(run_program) -> None:
    registrations = run_program(
        lambda: AdmissionControl("admission", args(failure_policy="Ignore", enforcement_action="warn", replicas=1))
    )
    assert release(registrations).inputs["values"]["validatingWebhookFailurePolicy"] == "Ignore"
    # One replica: a budget keeping it would block every node drain.
    assert release(registrations).inputs["values"]["pdb"]["controllerManager"]["minAvailable"] == 0
    assert {item.inputs["spec"]["enforcementAction"] for item in constraints(registrations)} == {"warn"}


def test_gatekeeper_namespace_is_restricted(installed: list[Registration]) -> None:
    (namespace,) = of_kind(installed, "Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == POD_SECURITY_VERSION


def test_order_is_release_then_templates_then_constraints(installed: list[Registration]) -> None:
    release_urn = release(installed).urn
    (namespace,) = of_kind(installed, "Namespace")
    assert namespace.urn in release(installed).options.depends_on
    templates = {
        item.inputs["spec"]["crd"]["spec"]["names"]["kind"]: item for item in of_kind(installed, "ConstraintTemplate")
    }
    expansions = of_kind(installed, "ExpansionTemplate")
    for template in templates.values():
        assert release_urn in template.options.depends_on
        assert template.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.created}=true"
    for expansion in expansions:
        assert release_urn in expansion.options.depends_on
    for item in constraints(installed):
        assert templates[item.inputs["kind"]].urn in item.options.depends_on
        assert all(expansion.urn in item.options.depends_on for expansion in expansions)


def test_workloads_are_expanded_into_pods(installed: list[Registration]) -> None:
    expanded = {
        kind
        for item in of_kind(installed, "ExpansionTemplate")
        for rule in item.inputs["spec"]["applyTo"]
        for kind in rule["kinds"]
        if item.inputs["spec"]["generatedGVK"] == {"group": "", "version": "v1", "kind": "Pod"}
    }
    assert {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"} <= expanded


def test_each_model_namespace_gets_its_own_pod_shape_constraint() -> None:
    shapes = {"fraud-model": {"serviceAccountName": "fraud-detector"}, "churn": {"serviceAccountName": "churn"}}
    pinned = {
        name: document["spec"]
        for namespace, shape in shapes.items()
        for _, name, document in model_constraints(namespace, shape)
    }
    assert set(pinned) == {f"{SHAPE_POLICY}-fraud-model", f"{SHAPE_POLICY}-churn"}
    for namespace, shape in shapes.items():
        spec = pinned[f"{SHAPE_POLICY}-{namespace}"]
        # Only that namespace, and only while it carries the isolation label.
        assert spec["match"]["namespaces"] == [namespace]
        assert spec["match"]["namespaceSelector"] == {"matchLabels": {ISOLATION_LABEL: "true"}}
        assert spec["parameters"] == shape
        assert spec["enforcementAction"] == "deny"


def test_constraints_are_scoped_to_model_namespaces(installed: list[Registration]) -> None:
    found = constraints(installed)
    # One per policy; the model-pod policy has none until a model's shape is given.
    assert len(found) == len(POLICIES) - 1
    assert SHAPE_POLICY not in {item.inputs["metadata"]["name"] for item in found}
    outside = {policy.kind for policy in POLICIES if policy.namespaces is NamespaceScope.OUTSIDE_MODEL}
    assert outside, "a policy keeps the model's images out of unlabelled namespaces"
    for item in found:
        spec = item.inputs["spec"]
        if item.inputs["kind"] in outside:
            # Everywhere the constraints above do not look: namespaces without the isolation label.
            expression = {"key": ISOLATION_LABEL, "operator": "NotIn", "values": ["true"]}
            assert spec["match"]["namespaceSelector"] == {"matchExpressions": [expression]}
        else:
            assert spec["match"]["namespaceSelector"] == {"matchLabels": {ISOLATION_LABEL: "true"}}
        assert spec["enforcementAction"] == "deny"


def test_registries_parameter_comes_from_settings(installed: list[Registration]) -> None:
    (registries,) = [item for item in constraints(installed) if item.inputs["kind"] == "K8sDenyUntrustedRegistries"]
    assert registries.inputs["spec"]["parameters"]["registries"] == ["registry.example.com/models"]


def test_exempt_images_reach_only_the_exemptible_policies(run_program) -> None:
    registrations = run_program(lambda: AdmissionControl("admission", args(exempt_images=[PROXY])))
    exempted = {
        item.inputs["metadata"]["name"]
        for item in constraints(registrations)
        if PROXY in item.inputs["spec"].get("parameters", {}).get("exemptImages", [])
    }
    assert exempted == {policy.name for policy in POLICIES if policy.image_exemptible}
    assert "deny-privileged-containers" not in exempted and "deny-privilege-escalation" not in exempted


@pytest.mark.parametrize(
    "changes",
    [
        {"registries": []},
        {"enforcement_action": "audit"},
        {"failure_policy": "fail"},
        {"replicas": 0},
        {"model_namespace_labels": {}},
    ],
)
def test_bad_args_are_refused_before_anything_is_created(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="AdmissionControlArgs"):
        args(**changes)


def test_stacks_differ_in_strictness(rendered: dict[str, list[Rendered]]) -> None:
    def posture(stack: str) -> tuple[set[str], str]:
        registrations = [item.registration for item in rendered[stack]]
        actions = {item.inputs["spec"]["enforcementAction"] for item in constraints(registrations)}
        return actions, release(registrations).inputs["values"]["validatingWebhookFailurePolicy"]

    assert posture("dev") == ({"warn"}, "Ignore")
    assert posture("staging") == ({"deny"}, "Fail")
    assert posture("prod") == ({"deny"}, "Fail")


@pytest.mark.parametrize("stack", STACKS)
def test_production_protects_what_keeps_the_constraints(rendered: dict[str, list[Rendered]], stack: str) -> None:
    registrations = [item.registration for item in rendered[stack]]
    guarded = [release(registrations), *of_kind(registrations, "ConstraintTemplate")]
    assert {item.options.protect for item in guarded} == {stack in PRODUCTION_STACKS}


def test_model_namespace_carries_the_label_the_constraints_select(rendered: dict[str, list[Rendered]]) -> None:
    registrations = [item.registration for item in rendered["prod"]]
    model_namespace = next(item for item in of_kind(registrations, "Namespace") if item.name == "fraud-model")
    assert model_namespace.inputs["metadata"]["labels"][ISOLATION_LABEL] == "true"
    gatekeeper_namespace = next(item for item in of_kind(registrations, "Namespace") if item.name != "fraud-model")
    assert ISOLATION_LABEL not in gatekeeper_namespace.inputs["metadata"]["labels"]


def test_the_cluster_runs_the_gatekeeper_the_tests_judge_with() -> None:
    # gator (offline verdicts) and the manager (real API-server tier) are built at the chart's release.
    assert {TOOLS["gator"].version, TOOLS["gatekeeper"].version} == {"v" + GATEKEEPER.version}


@pytest.mark.parametrize("protect", [True, False])
def test_constraints_and_expansions_are_protected_and_retained_in_production(run_program, protect: bool) -> None:
    registered = run_program(lambda: AdmissionControl("admission", args(protect=protect)))
    guarded = [*constraints(registered), *of_kind(registered, "ExpansionTemplate")]
    assert len(guarded) == len(POLICIES) - 1 + 2
    assert all(item.options.protect is protect and item.options.retain_on_delete is protect for item in guarded)
