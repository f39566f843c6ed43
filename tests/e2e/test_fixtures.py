"""(b) Every denied fixture of every policy is refused in the stack's model namespace, by the real
Gatekeeper naming the expected constraint (and by Pod Security Admission where it applies);
every allowed fixture and the mesh-injected pod are admitted.

Each denied fixture is judged twice: as the admin (the whole real chain: validation, Pod Security
Admission, Gatekeeper) and as the sandbox's probe user, whom only Pod Security Admission exempts,
to see Gatekeeper's own verdict on pods that Pod Security Admission refuses first. In a stack
whose constraints `warn` (dev), Gatekeeper admits with a warning naming the constraint; that is
the verdict expected there. The exceptions (invalid objects, verdicts that depend on the stack's
parameters and LimitRange, known defects) are listed with their reasons in tests/e2e/cases.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.e2e.cases import (
    INVALID_OBJECTS,
    KNOWN_DEFECTS,
    MESH_POD,
    STACK_DEFAULTED,
    FixtureCase,
    fixture_cases,
    judge,
    placed,
    resource_gaps,
)
from tests.e2e.conftest import StackEnv
from tools.sandbox.client import Identity
from tools.sandbox.cluster import PROBE_USER

PROBE = Identity(PROBE_USER, ("system:masters",))
CASES = fixture_cases()
MESH = FixtureCase("mesh", "allowed", MESH_POD, yaml.safe_load(MESH_POD.read_text()))


def mesh_pod_as_deployed(pod: dict[str, Any], deployment: dict[str, Any]) -> dict[str, Any]:
    """The injected pod with its model container's pull policy as the stack's Deployment sets it.

    The fixture leaves imagePullPolicy out of the model container, calling it a server-side
    default added after admission; the API server defaults it (to IfNotPresent) before admission,
    so Gatekeeper would judge a value the Deployment never asks for. The injected proxy keeps
    whatever the injector leaves (its pull policy is one of its exemptions).
    """
    (template,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "model"]
    (model,) = [c for c in pod["spec"]["containers"] if c["name"] == "model"]
    model["imagePullPolicy"] = template["imagePullPolicy"]
    return pod


def _param(case: FixtureCase) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[case.id])] if case.id in KNOWN_DEFECTS else []
    return pytest.param(case, id=case.id, marks=marks)


def test_the_exception_tables_name_real_fixtures() -> None:
    ids = {case.id for case in CASES if case.outcome == "denied"}
    for table in (INVALID_OBJECTS, STACK_DEFAULTED, KNOWN_DEFECTS):
        assert set(table) <= ids
    assert not set(INVALID_OBJECTS) & set(STACK_DEFAULTED)


@pytest.mark.e2e_group("attack")
@pytest.mark.parametrize("case", [_param(case) for case in CASES if case.outcome == "denied"])
def test_denied_fixture_is_refused(
    stack_env: StackEnv, case: FixtureCase, record_property: Callable[[str, Any], None]
) -> None:
    obj = placed(case.obj, stack_env.namespace, case.path.stem)
    action = stack_env.enforcement_action(case.policy)
    record_property("case", case.id)
    record_property("enforcement", action)
    as_admin = judge(stack_env.client, obj)
    record_property("verdict", as_admin.summary())

    if case.id in INVALID_OBJECTS:
        record_property("expected", "refused by the API server's validation (not a valid object)")
        assert as_admin.refused_by == "validation", as_admin.summary()
        assert INVALID_OBJECTS[case.id] in as_admin.message
        return
    if case.id in STACK_DEFAULTED:
        record_property("expected", f"admitted under the stack: {STACK_DEFAULTED[case.id]}")
        assert as_admin.admitted, as_admin.message
        assert not resource_gaps(as_admin.body, requests=obj["kind"] == "Pod")
        return

    as_probe = judge(stack_env.client, obj, PROBE)
    record_property("gatekeeper_verdict", as_probe.summary())
    if action == "deny":
        record_property("expected", f"refused; Gatekeeper names [{case.policy}]")
        assert as_probe.refused_by == "gatekeeper" and as_probe.names(case.policy), as_probe.summary()
        assert not as_admin.admitted, as_admin.summary()
        assert as_admin.refused_by == "pod-security" or as_admin.names(case.policy), as_admin.summary()
    elif action == "warn":
        record_property("expected", f"Gatekeeper warns naming [{case.policy}]; refused where PSA applies")
        assert as_probe.admitted and as_probe.names(case.policy), as_probe.summary()
        assert as_admin.refused_by == "pod-security" or (as_admin.admitted and as_admin.names(case.policy)), (
            as_admin.summary()
        )
    else:
        pytest.fail(f"enforcementAction {action}: nothing to see at admission")


@pytest.mark.e2e_group("legit")
@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id) for case in [*CASES, MESH] if case.outcome == "allowed"]
)
def test_allowed_fixture_is_admitted(
    stack_env: StackEnv, case: FixtureCase, record_property: Callable[[str, Any], None]
) -> None:
    obj = placed(case.obj, stack_env.namespace, case.path.stem)
    if case is MESH:
        obj = mesh_pod_as_deployed(obj, stack_env.deployment)
    verdict = judge(stack_env.client, obj)
    record_property("case", case.id)
    record_property("verdict", verdict.summary())
    assert verdict.admitted, verdict.message
    assert not verdict.warnings, verdict.warnings
