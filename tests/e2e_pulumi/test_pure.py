"""The pure parts of the real `pulumi up` tier: event-log reading, the stack's config, the secret
scan, the program's transforms, the upgrade step's verdict and the split step's stacks (the tier
itself runs with `make e2e-pulumi`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from secure_model_serving.settings import Addon
from tests.e2e_pulumi.collector import without_foreground
from tests.e2e_pulumi.events import (
    Step,
    changes,
    finished_before_started,
    policy_violations,
    read_events,
    refused_deletes,
    steps,
)
from tests.e2e_pulumi.program import privileged, skip_await
from tests.e2e_pulumi.project import PROJECT, addon_namespaces, e2e_stack_config, production_config, settings_of
from tests.e2e_pulumi.secrets_scan import holders, marker_in_secret, plaintext_count
from tests.e2e_pulumi.split import (
    PLATFORM_STACK,
    REFUSED_KEY,
    TENANT_STACK,
    platform_stack_config,
    refusal_names,
    registered_namespaces,
    tenant_objects,
    tenant_stack_config,
)
from tests.e2e_pulumi.upgrade import MODEL_TENANT_TYPE, UPGRADE_FROM, export_tree, judge_upgrade
from tools.render import render_with_outputs

MARKER = "marker-0123"


def pre(sequence: int, urn: str, op: str = "create") -> dict[str, Any]:
    return {"sequence": sequence, "resourcePreEvent": {"metadata": {"urn": urn, "type": urn.split("::")[2], "op": op}}}


def out(sequence: int, urn: str, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    metadata = {"urn": urn, "op": "create", "new": {"outputs": outputs or {}}}
    return {"sequence": sequence, "resOutputsEvent": {"metadata": metadata}}


TEMPLATE = "urn:pulumi:prod::p::kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate::t"
CONSTRAINT = "urn:pulumi:prod::p::kubernetes:constraints.gatekeeper.sh/v1beta1:K8sX::c"


def test_steps_pair_each_start_with_its_outputs_in_engine_order() -> None:
    events = [pre(1, TEMPLATE), pre(2, CONSTRAINT), out(3, TEMPLATE, {"a": 1}), out(4, CONSTRAINT)]
    template, constraint = steps(events)
    assert (template.started, template.finished, template.outputs) == (1, 3, {"a": 1})
    assert template.name == "t" and constraint.type.endswith(":K8sX")
    # Started before the template's outputs came: the ordering check must see it.
    assert not finished_before_started(template, constraint)
    events = [pre(1, TEMPLATE), out(2, TEMPLATE), pre(3, CONSTRAINT), out(4, CONSTRAINT)]
    assert finished_before_started(*steps(events))


def test_a_step_without_outputs_never_counts_as_finished_first() -> None:
    (template,) = steps([pre(1, TEMPLATE)])
    (constraint,) = steps([pre(5, CONSTRAINT)])
    assert template.finished is None and not finished_before_started(template, constraint)


def test_changes_count_every_operation_but_same() -> None:
    assert changes([{"summaryEvent": {"resourceChanges": {"same": 40}}}]) == 0
    assert changes([{"summaryEvent": {"resourceChanges": {"same": 39, "update": 1, "create": 2}}}]) == 3
    with pytest.raises(ValueError, match="no summary event"):
        changes([pre(1, TEMPLATE)])


def test_policy_violations_and_reading_a_log(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    violation = {"policyName": "p", "message": "privileged", "enforcementLevel": "mandatory"}
    log.write_text(json.dumps(pre(1, TEMPLATE)) + "\n\n" + json.dumps({"sequence": 2, "policyEvent": violation}) + "\n")
    events = read_events(log)
    assert len(events) == 2 and policy_violations(events) == [violation]


def test_the_e2e_stack_is_production_minus_what_the_sandbox_cannot_serve(tmp_path: Path) -> None:
    prod = production_config()
    config = e2e_stack_config(prod, tmp_path / "kubeconfig")
    assert "kubernetes:context" not in config and config["kubernetes:kubeconfig"] == str(tmp_path / "kubeconfig")
    assert f"{PROJECT}:secrets" not in config and config[f"{PROJECT}:mesh"]["gateway"] == {"enabled": False}
    assert "secretName" not in config[f"{PROJECT}:runtime"]["alerts"]
    assert "secretName" in prod[f"{PROJECT}:runtime"]["alerts"]  # the original is untouched
    settings = settings_of({**config, f"{PROJECT}:alertUrl": {"secure": "v1:abc"}})
    assert settings.environment.is_production
    assert set(settings.preinstalled_addons) == {Addon.GATEKEEPER, Addon.FALCO, Addon.ISTIO, Addon.POLICY_CONTROLLER}
    assert addon_namespaces(settings) == ["cosign-system", "falco", "gatekeeper-system", "istio-cni", "istio-system"]


def test_the_marker_counts_only_inside_a_secret() -> None:
    encoded = base64.b64encode(f"https://hooks.example.com/{MARKER}".encode()).decode()
    secret = {"kind": "Secret", "metadata": {"name": "s", "namespace": "falco"}, "data": {"url": encoded}}
    leak = {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "falco"}, "data": {"url": MARKER}}
    annotated = {"kind": "Secret", "metadata": {"name": "a", "annotations": {"note": MARKER}}, "data": {}}
    clean = {"kind": "Deployment", "metadata": {"name": "d"}}
    assert marker_in_secret(secret, MARKER) and not marker_in_secret(leak, MARKER)
    # A Secret carrying the value outside its data (an annotation) is a leak too.
    both = {**secret, "metadata": {"name": "b", "annotations": {"url": MARKER}}}
    found = holders([secret, leak, annotated, clean, both], MARKER)
    assert found == (["Secret falco/s", "Secret -/b"], ["ConfigMap falco/c", "Secret -/a", "Secret -/b"])
    assert plaintext_count(f"a{MARKER}b{MARKER}", MARKER) == 2 and plaintext_count("ciphertext", MARKER) == 0


def test_the_transforms_add_skip_await_and_privileged_and_keep_the_rest() -> None:
    props = {
        "metadata": {"name": "m", "annotations": {"a": "b"}},
        "spec": {"template": {"spec": {"containers": [{"name": "model", "securityContext": {"runAsNonRoot": True}}]}}},
    }
    skipped = skip_await(props)
    assert skipped["metadata"]["annotations"] == {"a": "b", "pulumi.com/skipAwait": "true"}
    assert props["metadata"]["annotations"] == {"a": "b"}  # not mutated
    (container,) = privileged(props)["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"] == {"runAsNonRoot": True, "privileged": True}
    assert "privileged" not in props["spec"]["template"]["spec"]["containers"][0]["securityContext"]


def test_refused_deletes_are_read_from_the_engines_diagnostics() -> None:
    urn = "urn:pulumi:prod::secure-model-serving::kubernetes:core/v1:Namespace::fraud-model"
    message = f'resource "{urn}" cannot be deleted\nbecause it is protected. To unprotect the resource, ...'
    other = {"diagnosticEvent": {"message": "error: timed out waiting for the condition"}}
    assert refused_deletes([{"diagnosticEvent": {"message": message}}, other]) == {urn}
    assert refused_deletes([other]) == set()


@pytest.mark.parametrize(
    ("metadata", "kept"),
    [
        ({"deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]}, []),
        ({"deletionTimestamp": "t", "finalizers": ["foregroundDeletion", "example.com/keep"]}, ["example.com/keep"]),
        # Not being deleted, or waiting on someone else's finalizer: left alone.
        ({"finalizers": ["foregroundDeletion"]}, None),
        ({"deletionTimestamp": "t", "finalizers": ["kubernetes"]}, None),
    ],
)
def test_the_collector_stand_in_removes_only_the_foreground_finalizer(
    metadata: dict[str, Any], kept: list[str] | None
) -> None:
    assert without_foreground({"metadata": metadata}) == kept


TENANT = f"urn:pulumi:prod::p::secureml:platform:SecureModelPlatform${MODEL_TENANT_TYPE}::fraud-model"
MOVED = f"urn:pulumi:prod::p::secureml:platform:SecureModelPlatform${MODEL_TENANT_TYPE}$secureml:x:Workload::w"
WAS = "urn:pulumi:prod::p::secureml:platform:SecureModelPlatform$secureml:x:Workload::w"


def step(urn: str, op: str, old_urn: str = "") -> Step:
    type_ = urn.split("::")[2].rpartition("$")[2]
    return Step(urn=urn, type=type_, op=op, started=0, finished=None, outputs={}, old_urn=old_urn)


def test_steps_keep_the_old_urn_the_engine_matched() -> None:
    event = pre(1, MOVED, op="same")
    event["resourcePreEvent"]["metadata"]["old"] = {"urn": WAS}
    (moved,) = steps([event])
    assert moved.old_urn == WAS
    (fresh,) = steps([pre(1, TENANT)])
    assert fresh.old_urn == ""


def test_an_upgrade_that_only_adds_the_tenant_component_is_safe() -> None:
    verdict = judge_upgrade([step(TEMPLATE, "same", TEMPLATE), step(MOVED, "same", WAS), step(TENANT, "create")])
    assert verdict.safe and verdict.problems() == ""
    assert verdict.line(UPGRADE_FROM) == (
        f"upgrade from {UPGRADE_FROM[:7]}: 2 same (1 moved by alias), 0 updated, 0 replaced, 0 deleted, 1 created"
    )


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        # A replacement shows as three steps of one URN: it is listed once.
        (
            [step(MOVED, "replace"), step(MOVED, "create-replacement"), step(MOVED, "delete-replaced")],
            f"replaced {MOVED}",
        ),
        ([step(WAS, "delete"), step(MOVED, "create")], f"deleted {WAS}\ncreated {MOVED}"),
        ([step(WAS, "discard")], f"deleted {WAS}"),
        ([step(CONSTRAINT, "create")], f"created {CONSTRAINT}"),
    ],
)
def test_an_upgrade_that_replaces_deletes_or_creates_more_is_refused_naming_each_urn(
    bad: list[Step], problem: str
) -> None:
    verdict = judge_upgrade([step(TEMPLATE, "same", TEMPLATE), step(TENANT, "create"), *bad])
    assert not verdict.safe and verdict.problems() == problem


def test_the_older_program_comes_from_the_clones_history(tmp_path: Path) -> None:
    tree = export_tree(UPGRADE_FROM, tmp_path / "tree")
    assert (tree / "tests" / "e2e_pulumi" / "program.py").is_file()
    assert not (tree / "components" / "tenant.py").exists()  # before model tenants
    assert f"{PROJECT}:model" in production_config(tree)
    with pytest.raises(RuntimeError, match=r"needs commit 0{40} in the clone's history"):
        export_tree("0" * 40, tmp_path / "missing")


def test_the_split_stacks_render_a_platform_without_tenants_and_the_tenant_on_it(tmp_path: Path) -> None:
    platform = platform_stack_config(tmp_path / "kubeconfig")
    tenant = tenant_stack_config(tmp_path / "kubeconfig")
    assert tenant[f"{PROJECT}:platformStack"] == f"organization/{PROJECT}/{PLATFORM_STACK}"
    assert "kubernetes:context" not in tenant and f"{PROJECT}:secrets" not in tenant
    assert platform[f"{PROJECT}:mesh"]["gateway"] == {"enabled": False}
    # No alertUrl to set: the platform names its existing Secret, which its tenants validate too.
    assert platform[f"{PROJECT}:runtime"]["alerts"]["secretName"]
    rendered, outputs = render_with_outputs(PLATFORM_STACK, platform)
    platform_objects = [item.document for item in rendered if item.document and "kind" in item.document]
    assert tenant_objects(platform_objects, registered_namespaces(platform)) == []
    tenant_rendered, _ = render_with_outputs(TENANT_STACK, tenant, (), outputs)
    held = tenant_objects([item.document for item in tenant_rendered if item.document], ["churn-model"])
    assert {"Deployment churn-predictor", "K8sDenyModelPodWidening deny-model-pod-widening-churn-model"} <= set(held)


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "Role", "metadata": {"name": "model-deployer", "namespace": "churn-model"}},
        {"kind": "Namespace", "metadata": {"name": "churn-model"}},
        {"kind": "ClusterImagePolicy", "metadata": {"name": "model-images-signed-churn-model"}},
        {"kind": "ClusterRole", "metadata": {"name": "churn-model-churn-predictor-auditor-posture"}},
    ],
)
def test_a_tenant_object_is_found_by_its_namespace_or_its_name(obj: dict[str, Any]) -> None:
    assert tenant_objects([obj], ["fraud-model", "churn-model"]) == [f"{obj['kind']} {obj['metadata']['name']}"]


def test_the_platforms_own_objects_are_not_tenant_objects() -> None:
    platform = [
        {"kind": "ConstraintTemplate", "metadata": {"name": "k8sdenymodelpodwidening"}},
        {"kind": "Namespace", "metadata": {"name": "gatekeeper-system"}},
        {"kind": "ConfigMap", "metadata": {"name": "churn-model-rules", "namespace": "falco"}},
    ]
    assert tenant_objects(platform[:2], ["churn-model"]) == []
    assert tenant_objects(platform, ["churn-model"]) == ["ConfigMap churn-model-rules"]


def test_the_refusal_is_the_settings_error_naming_the_key_and_no_traceback() -> None:
    error = f"error: invalid stack configuration:\n  {PROJECT}:{REFUSED_KEY}: belongs to the platform stack; ..."
    assert refusal_names(error, REFUSED_KEY)
    assert not refusal_names(error, "runtime")
    assert not refusal_names(f"Traceback (most recent call last):\n{error}", REFUSED_KEY)
