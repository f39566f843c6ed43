"""Gatekeeper semantics of the offline engine (tools/policy_engine.py), each shown from both sides.

Small synthetic templates keep these tests independent of the policy library
(and fast to compile); expansion is shown with a real policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from policies import Policy, constraint, constraint_template, expansion_templates
from tools.policy_engine import PolicyEngine, PolicySet, PolicySetError, Report, engine_version

# Denies every object it is asked about, naming it: what matters here is which objects it sees.
SEEN = Policy(
    name="test-seen",
    kind="K8sTestSeen",
    description="Reports every object it matches.",
    rego="""package k8stestseen

violation contains {"msg": msg} if {
\tmsg := sprintf("saw %s %s", [input.review.kind.kind, input.review.object.metadata.name])
}
""",
    libs=(),
    parameters_schema={
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    },
    match_kinds=({"apiGroups": [""], "kinds": ["Pod"]},),
)

# Judges a string from the object against parameters: backslashes and non-ASCII text must reach
# Rego intact, both in the object and in the parameters.
TEXT = Policy(
    name="test-text",
    kind="K8sTestText",
    description="Forbids one annotation value and annotation values longer than maxLength characters.",
    rego="""package k8stesttext

violation contains {"msg": msg} if {
\tvalue := input.review.object.metadata.annotations.note
\tvalue == input.parameters.forbidden
\tmsg := sprintf("note %s is forbidden", [value])
}

violation contains {"msg": msg} if {
\tvalue := input.review.object.metadata.annotations.note
\tcount(value) > input.parameters.maxLength
\tmsg := sprintf("note has %d characters", [count(value)])
}
""",
    libs=(),
    parameters_schema={
        "type": "object",
        "properties": {"forbidden": {"type": "string"}, "maxLength": {"type": "integer"}},
    },
    match_kinds=({"apiGroups": [""], "kinds": ["ConfigMap"]},),
)

# rego-cpp formats a local variable bound to a string literal with its quotes and then emits
# output that is not JSON: the engine must fail closed on that constraint alone.
LITERAL = Policy(
    name="test-literal",
    kind="K8sTestLiteral",
    description="Writes a message through the rego-cpp sprintf fault.",
    rego="""package k8stestliteral

violation contains {"msg": msg} if {
\tstate := "unset"
\tmsg := sprintf("state %v", [state])
}
""",
    libs=(),
    parameters_schema={"type": "object", "properties": {}},
    match_kinds=({"apiGroups": [""], "kinds": ["Pod"]},),
)


def pod(name: str = "web", namespace: str | None = "team-a", labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": []}}


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def config_map(name: str = "settings", ns: str = "team-a", note: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": ns}
    if note is not None:
        metadata["annotations"] = {"note": note}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {}}


def cluster_role(name: str = "reader") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}}


def engine(*constraints: dict[str, Any], policies: Iterable[Policy] = (SEEN,), hooks: bool = True) -> PolicyEngine:
    objects = [constraint_template(p) for p in policies] + list(constraints)
    return PolicyEngine(PolicySet.from_objects(objects), hooks=hooks)


def seen(match: dict[str, Any], name: str = "seen", action: str = "deny", **kwargs: Any) -> dict[str, Any]:
    return constraint(SEEN, name, match=match, enforcement_action=action, **kwargs)


def names(report: Report) -> set[str]:
    """Names of the reported objects (namespace/name)."""
    return {f"{v.namespace}/{v.name}" for v in report.violations}


# --- kinds ------------------------------------------------------------------------------


def test_kinds_select_by_group_and_kind() -> None:
    objects = [pod(), config_map(), cluster_role()]
    only_pods = engine(seen({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}))
    assert names(only_pods.review(objects)) == {"team-a/web"}
    wrong_group = engine(seen({"kinds": [{"apiGroups": ["apps"], "kinds": ["Pod"]}]}))
    assert not wrong_group.review(objects).violations
    any_group = engine(seen({"kinds": [{"apiGroups": ["*"], "kinds": ["ClusterRole"]}]}))
    assert names(any_group.review(objects)) == {"/reader"}


def test_kinds_wildcard_and_absent_kinds_match_everything() -> None:
    objects = [pod(), config_map(), cluster_role()]
    everything = {"team-a/web", "team-a/settings", "/reader"}
    assert names(engine(seen({"kinds": [{"apiGroups": ["*"], "kinds": ["*"]}]})).review(objects)) == everything
    assert names(engine(seen({})).review(objects)) == everything
    two_kinds = seen({"kinds": [{"apiGroups": [""], "kinds": ["ConfigMap", "Pod"]}]})
    assert names(engine(two_kinds).review(objects)) == {"team-a/web", "team-a/settings"}


# --- namespaces -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "matched"),
    [
        (["team-a"], {"team-a"}),
        (["team-*"], {"team-a", "team-b"}),
        (["*-system"], {"kube-system"}),
        (["*am-*"], {"team-a", "team-b"}),
        (["*"], {"team-a", "team-b", "kube-system"}),
        (["other"], set()),
    ],
)
def test_namespaces_with_globs(patterns: list[str], matched: set[str]) -> None:
    objects = [pod("p", ns) for ns in ("team-a", "team-b", "kube-system")]
    report = engine(seen({"namespaces": patterns})).review(objects)
    assert {v.namespace for v in report.violations} == matched


@pytest.mark.parametrize(
    ("patterns", "excluded"),
    [(["kube-*"], {"kube-system"}), (["*-b"], {"team-b"}), (["team-a", "kube-system"], {"team-a", "kube-system"})],
)
def test_excluded_namespaces_with_globs(patterns: list[str], excluded: set[str]) -> None:
    namespaces = {"team-a", "team-b", "kube-system"}
    report = engine(seen({"excludedNamespaces": patterns})).review([pod("p", ns) for ns in sorted(namespaces)])
    assert {v.namespace for v in report.violations} == namespaces - excluded


def test_namespace_lists_do_not_filter_cluster_scoped_objects() -> None:
    report = engine(seen({"namespaces": ["team-*"]})).review([cluster_role(), pod("p", "other")])
    assert names(report) == {"/reader"}
    # A Namespace is matched by its own name.
    report = engine(seen({"excludedNamespaces": ["team-*"]})).review([namespace("team-a"), namespace("prod")])
    assert names(report) == {"/prod"}


# --- namespaceSelector ------------------------------------------------------------------


def test_namespace_selector_uses_namespace_objects_labels() -> None:
    objects = [namespace("models", {"isolation": "true"}), namespace("web", {}), pod("a", "models"), pod("b", "web")]
    report = engine(
        seen(
            {
                "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                "namespaceSelector": {"matchLabels": {"isolation": "true"}},
            }
        )
    ).review(objects)
    assert names(report) == {"models/a"}
    assert not report.warnings


def test_namespace_selector_with_labels_given_apart_and_unknown_namespaces() -> None:
    selector = seen({"namespaceSelector": {"matchExpressions": [{"key": "isolation", "operator": "Exists"}]}})
    checker = engine(selector)
    report = checker.review(
        [pod("a", "models"), pod("b", "unknown")], namespaces=[namespace("models", {"isolation": ""})]
    )
    assert names(report) == {"models/a"}
    assert len(report.warnings) == 1 and "'unknown'" in report.warnings[0]


def test_namespace_selector_judges_a_namespace_by_its_own_labels() -> None:
    checker = engine(seen({"namespaceSelector": {"matchLabels": {"tier": "models"}}}))
    report = checker.review([namespace("a", {"tier": "models"}), namespace("b", {"tier": "web"}), cluster_role()])
    # Cluster-scoped objects other than Namespaces are not filtered by a namespaceSelector.
    assert names(report) == {"/a", "/reader"}


# --- labelSelector ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "matched"),
    [
        ({"matchLabels": {"app": "model"}}, {"model-1"}),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["model", "web"]}]}, {"model-1", "web-1"}),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["model"]}]}, {"web-1", "bare"}),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, {"model-1", "web-1"}),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, {"bare"}),
        ({"matchLabels": {"app": "model"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, set()),
        ({}, {"model-1", "web-1", "bare"}),
    ],
)
def test_label_selector(selector: dict[str, Any], matched: set[str]) -> None:
    objects = [pod("model-1", labels={"app": "model"}), pod("web-1", labels={"app": "web"}), pod("bare")]
    report = engine(seen({"labelSelector": selector})).review(objects)
    assert {v.name for v in report.violations} == matched


def test_unsupported_selector_operator_is_an_error() -> None:
    checker = engine(seen({"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}}))
    with pytest.raises(PolicySetError, match="Gt"):
        checker.review([pod()])


# --- scope ------------------------------------------------------------------------------


def test_scope_cluster_and_namespaced() -> None:
    objects = [pod("p", "team-a"), cluster_role(), namespace("team-a")]
    assert names(engine(seen({"scope": "Cluster"})).review(objects)) == {"/reader", "/team-a"}
    assert names(engine(seen({"scope": "Namespaced"})).review(objects)) == {"team-a/p"}
    assert names(engine(seen({"scope": "*"})).review(objects)) == {"team-a/p", "/reader", "/team-a"}


# --- enforcement actions ----------------------------------------------------------------


@pytest.mark.parametrize("action", ["deny", "warn", "dryrun"])
def test_enforcement_actions_are_counted_apart(action: str) -> None:
    report = engine(seen({}, action=action)).review([pod("a"), pod("b")])
    assert {v.action for v in report.violations} == {action}
    assert report.count(action) == 2
    assert sum(report.count(a) for a in ("deny", "warn", "dryrun")) == 2
    assert report.denied == (action == "deny")
    assert f"2 {action}" in report.summary()
    assert report.violations[0].format().startswith(f"{action} Pod/team-a/")


def test_mixed_actions_deny_only_through_deny() -> None:
    checker = engine(seen({}, "audit-only", action="dryrun"), seen({}, "advise", action="warn"))
    report = checker.review([pod()])
    assert (report.count("dryrun"), report.count("warn"), report.count("deny")) == (1, 1, 0)
    assert not report.denied
    strict = engine(seen({}, "audit-only", action="dryrun"), seen({}, "enforce", action="deny"))
    assert strict.review([pod()]).denied


def test_scoped_enforcement_actions_at_the_webhook() -> None:
    scoped = seen({}, action="scoped")
    scoped["spec"]["scopedEnforcementActions"] = [
        {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]},
        {"action": "deny", "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]},
    ]
    assert engine(scoped).review([pod()]).count("warn") == 1
    audit = PolicyEngine(
        PolicySet.from_objects([constraint_template(SEEN), scoped]), enforcement_point="audit.gatekeeper.sh"
    )
    assert audit.review([pod()]).denied


# --- expansion ---------------------------------------------------------------------------


def privileged_pod_spec(privileged: bool) -> dict[str, Any]:
    return {
        "containers": [
            {"name": "app", "image": "app@sha256:" + "a" * 64, "securityContext": {"privileged": privileged}}
        ]
    }


def deployment(privileged: bool) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "scorer", "namespace": "models"},
        "spec": {
            "selector": {"matchLabels": {"app": "scorer"}},
            "template": {"metadata": {"labels": {"app": "scorer"}}, "spec": privileged_pod_spec(privileged)},
        },
    }


def cron_job(privileged: bool) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "models"},
        "spec": {
            "schedule": "0 1 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {"metadata": {"labels": {"app": "nightly"}}, "spec": privileged_pod_spec(privileged)}
                }
            },
        },
    }


@pytest.fixture(scope="module")
def privileged_policy(policies_by_name: dict[str, Policy]) -> Policy:
    return policies_by_name["deny-privileged-containers"]


@pytest.mark.parametrize(("build", "expansion"), [(deployment, "expand-workloads"), (cron_job, "expand-cronjobs")])
def test_workloads_are_judged_as_the_pods_they_create(build: Any, expansion: str, privileged_policy: Policy) -> None:
    objects = [constraint_template(privileged_policy), constraint(privileged_policy), *expansion_templates()]
    checker = PolicyEngine(PolicySet.from_objects(objects))
    report = checker.review([build(True)])
    (violation,) = report.violations
    workload = build(True)
    assert (violation.kind, violation.name, violation.namespace) == (
        workload["kind"],
        workload["metadata"]["name"],
        "models",
    )
    assert violation.expansion == expansion
    assert f"[Implied by {expansion}]" in violation.format()
    assert report.generated == 1 and report.objects == 1
    assert not checker.review([build(False)]).violations
    # Without ExpansionTemplates a constraint on Pods never sees the workload.
    bare = PolicyEngine(PolicySet.from_objects(objects[:2]))
    assert not bare.review([build(True)]).violations


def test_match_source_original_and_generated() -> None:
    objects = [constraint_template(SEEN), *expansion_templates()]
    workload = deployment(False)
    kinds = [{"apiGroups": [""], "kinds": ["Pod"]}]
    generated_only = PolicyEngine(PolicySet.from_objects([*objects, seen({"kinds": kinds, "source": "Generated"})]))
    assert names(generated_only.review([workload, pod("p", "models")])) == {"models/scorer"}
    original_only = PolicyEngine(PolicySet.from_objects([*objects, seen({"kinds": kinds, "source": "Original"})]))
    assert names(original_only.review([workload, pod("p", "models")])) == {"models/p"}


# --- parameters and templates -----------------------------------------------------------


def test_parameters_are_validated_against_the_template_schema() -> None:
    assert engine(seen({}, parameters={"limit": 3, "tags": ["a"]}))
    with pytest.raises(PolicySetError, match="invalid parameters"):
        engine(seen({}, parameters={"limit": "three"}))
    with pytest.raises(PolicySetError, match="invalid parameters"):
        engine(seen({}, parameters={"limit": 0}))
    with pytest.raises(PolicySetError, match="invalid parameters"):
        engine(seen({}, parameters={"tags": "a"}))


def test_parameters_must_be_an_object() -> None:
    bad = seen({})
    bad["spec"]["parameters"] = [["limit", 3]]
    with pytest.raises(PolicySetError, match="must be an object"):
        engine(bad)


def test_real_policy_parameters_are_validated(policies_by_name: dict[str, Policy]) -> None:
    registries = policies_by_name["deny-untrusted-registries"]
    good = constraint(registries, parameters={"registries": ["registry.example.com/models"]})
    assert engine(good, policies=[registries])
    bad = constraint(registries, parameters={"registries": "registry.example.com/models"})
    with pytest.raises(PolicySetError, match="deny-untrusted-registries"):
        engine(bad, policies=[registries])


def test_constraint_without_template_is_refused() -> None:
    orphan = constraint(LITERAL)
    with pytest.raises(PolicySetError, match="has no ConstraintTemplate"):
        engine(orphan, policies=[SEEN])
    assert engine(orphan, policies=[SEEN, LITERAL])


def test_only_rego_v1_templates_are_accepted() -> None:
    template = constraint_template(SEEN)
    assert PolicyEngine(PolicySet.from_objects([template]))
    template["spec"]["targets"][0]["code"][0]["source"]["version"] = "v0"
    with pytest.raises(PolicySetError, match="v1"):
        PolicySet.from_objects([template])


def test_engine_version_names_regopy() -> None:
    assert engine_version().startswith("regopy ")


# --- the ignore label -----------------------------------------------------------------------


def test_ignore_label_skips_the_namespace() -> None:
    ignored = namespace("kube-system", {"admission.gatekeeper.sh/ignore": "no-self-managing"})
    objects = [ignored, namespace("team-a"), pod("a", "kube-system"), pod("b", "team-a")]
    report = engine(seen({})).review(objects)
    # The Namespace object itself is skipped too: the webhook selects it by its own labels.
    assert names(report) == {"team-a/b", "/team-a"}
    report = engine(seen({})).review([pod("a", "kube-system")], namespaces=[ignored])
    assert not report.violations


# --- input and output through regopy ------------------------------------------------------


@pytest.mark.parametrize("hooks", [True, False], ids=["fast-path", "per-constraint"])
def test_backslashes_and_quotes_reach_rego_intact(hooks: bool) -> None:
    tricky = 'C:\\models\\"new"\\n'
    checker = engine(constraint(TEXT, parameters={"forbidden": tricky, "maxLength": 100}), policies=[TEXT], hooks=hooks)
    report = checker.review([config_map(note=tricky)])
    assert [v.message for v in report.violations] == [f"note {tricky} is forbidden"]
    for near_miss in ('C:\\models\\"new"\\\\n', 'C:/models/"new"/n', "C:\\models\\new\\n"):
        assert not checker.review([config_map(note=near_miss)]).violations, near_miss


@pytest.mark.parametrize("hooks", [True, False], ids=["fast-path", "per-constraint"])
def test_non_ascii_text_counts_as_characters(hooks: bool) -> None:
    checker = engine(constraint(TEXT, parameters={"forbidden": "-", "maxLength": 4}), policies=[TEXT], hooks=hooks)
    assert not checker.review([config_map(note="modè")]).violations
    report = checker.review([config_map(note="modèle")])
    assert [v.message for v in report.violations] == ["note has 6 characters"]


@pytest.mark.parametrize("hooks", [True, False], ids=["fast-path", "per-constraint"])
def test_unreadable_rego_output_fails_closed_for_its_constraint_only(hooks: bool) -> None:
    checker = engine(constraint(LITERAL), seen({}), policies=[SEEN, LITERAL], hooks=hooks)
    report = checker.review([pod("web")])
    by_kind = {v.constraint_kind: v.message for v in report.violations}
    assert by_kind["K8sTestSeen"] == "saw Pod web"
    # rego-cpp 1.5.2 produces the fault; a fixed rego-cpp would give the intended message.
    literal = by_kind["K8sTestLiteral"]
    assert literal == "state unset" or literal.startswith("policy evaluation error"), literal
    assert report.denied
    assert len(report.violations) == 2
