"""(a) Every rendered object of the stack is accepted by the real API server (server-side apply),
custom resources included against the real CRD schemas, and Gatekeeper has taken every
ConstraintTemplate and constraint in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.envs import StackEnv
from tools.sandbox.client import object_ref

pytestmark = pytest.mark.e2e_group("apply")


def test_every_rendered_object_is_accepted(stack_env: StackEnv, record_property: Callable[[str, Any], None]) -> None:
    sandbox = stack_env.sandbox
    record_property("applied", len(sandbox.applied))
    record_property("errors", len(sandbox.errors))
    record_property("error_details", [f"{item.ref}: {item.error}" for item in sandbox.errors])
    record_property("skipped_release_records", list(sandbox.plan.skipped))
    record_property("enforcement", stack_env.enforcement_action("deny-privileged-containers"))
    assert len(sandbox.applied) == len(sandbox.plan.objects) > 0
    assert not sandbox.errors, "\n".join(f"{item.ref}: {item.error}" for item in sandbox.errors)
    missing = []
    for obj in sandbox.plan.objects:
        _, path = stack_env.client.paths(obj)
        stored = stack_env.client.get(path)
        if stored["metadata"]["name"] != obj["metadata"]["name"]:
            missing.append(object_ref(obj))
    assert not missing


def test_gatekeeper_took_every_template_and_constraint(
    stack_env: StackEnv, record_property: Callable[[str, Any], None]
) -> None:
    client = stack_env.client
    templates = stack_env.sandbox.plan.of_kind("ConstraintTemplate")
    constraints = [
        obj for obj in stack_env.sandbox.plan.objects if obj["apiVersion"].startswith("constraints.gatekeeper.sh/")
    ]
    record_property("templates", len(templates))
    record_property("constraints", len(constraints))
    assert templates and len(constraints) == len(templates)
    for obj in [*templates, *constraints]:
        _, path = client.paths(obj)
        status = client.get(path).get("status") or {}
        by_pod = status.get("byPod") or []
        assert by_pod, f"{object_ref(obj)}: no status from Gatekeeper"
        assert not [item["errors"] for item in by_pod if item.get("errors")], f"{object_ref(obj)}: {by_pod}"
        if obj["kind"] == "ConstraintTemplate":
            assert status.get("created") is True, object_ref(obj)
        else:
            assert all(item.get("enforced") for item in by_pod), object_ref(obj)
