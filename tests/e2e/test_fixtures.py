"""(b) Every denied fixture of every policy is refused in the stack's model namespace, by the real
Gatekeeper naming the expected constraint (and by Pod Security Admission where it applies);
every allowed fixture and the mesh-injected pod are admitted.

Every policy's generic fixtures are judged in a namespace labelled like the model's, where every
constraint applies but the model's pod shape (deny-model-pod-widening pins one model's pod in its
own namespace). That policy's fixtures are built from prod's render: in prod they are judged in the
model namespace; other stacks pin their own shape, which their own workload and the insider cases
exercise. The fixtures of a policy for the other namespaces (`namespaces: outside-model`) are judged
in a namespace created without the platform's labels: there the model's images are refused, other
teams' images admitted. The injected pod is the stack's own model pod as the pinned Istio injects it.

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

from secure_model_serving.policies import NamespaceScope, load_policies
from tests.e2e.cases import (
    INVALID_OBJECTS,
    KNOWN_DEFECTS,
    STACK_DEFAULTED,
    Fixture,
    fixture_cases,
    judge,
    placed,
    resource_gaps,
)
from tests.e2e.envs import UNLABELLED_NAMESPACE, StackEnv
from tests.support.mesh import injected_pod
from tools.sandbox.client import Identity
from tools.sandbox.cluster import PROBE_USER

PROBE = Identity(PROBE_USER, ("system:masters",))
CASES = fixture_cases()
POLICIES = {policy.name: policy for policy in load_policies()}
MESH_ID = "mesh/allowed/injected-model-pod"
SHAPED_BY = "prod"
"""The stack whose render deny-model-pod-widening's fixtures are built from."""


def placement(stack_env: StackEnv, case: Fixture) -> str:
    """The namespace a fixture is judged in (see the module docstring); skips where it does not apply."""
    scope = POLICIES[case.policy].namespaces
    if scope is NamespaceScope.OUTSIDE_MODEL:
        return UNLABELLED_NAMESPACE
    if scope is NamespaceScope.MODEL:
        return stack_env.fixtures_namespace
    if stack_env.stack != SHAPED_BY:
        pytest.skip(f"{case.policy}'s fixtures are {SHAPED_BY}'s model pod; {stack_env.stack} pins its own")
    return stack_env.namespace


def _param(case: Fixture) -> Any:
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
    stack_env: StackEnv, case: Fixture, record_property: Callable[[str, Any], None]
) -> None:
    obj = placed(case.obj, placement(stack_env, case), case.path.stem)
    action = stack_env.enforcement_action(case.policy)
    constraint = stack_env.constraint_name(case.policy)
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
        record_property("expected", f"refused; Gatekeeper names [{constraint}]")
        assert as_probe.refused_by == "gatekeeper" and as_probe.names(constraint), as_probe.summary()
        assert not as_admin.admitted, as_admin.summary()
        assert as_admin.refused_by == "pod-security" or as_admin.names(constraint), as_admin.summary()
    elif action == "warn":
        record_property("expected", f"Gatekeeper warns naming [{constraint}]; refused where PSA applies")
        assert as_probe.admitted and as_probe.names(constraint), as_probe.summary()
        assert as_admin.refused_by == "pod-security" or (as_admin.admitted and as_admin.names(constraint)), (
            as_admin.summary()
        )
    else:
        pytest.fail(f"enforcementAction {action}: nothing to see at admission")


@pytest.mark.e2e_group("legit")
@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id) for case in CASES if case.outcome == "allowed"] + [MESH_ID]
)
def test_allowed_fixture_is_admitted(
    stack_env: StackEnv, case: Fixture | str, record_property: Callable[[str, Any], None]
) -> None:
    if case == MESH_ID:
        obj = injected_pod(stack_env.deployment, name="injected-model-pod")
    else:
        assert isinstance(case, Fixture)
        obj = placed(case.obj, placement(stack_env, case), case.path.stem)
    verdict = judge(stack_env.client, obj)
    record_property("case", case if isinstance(case, str) else case.id)
    record_property("verdict", verdict.summary())
    assert verdict.admitted, verdict.message
    assert not verdict.warnings, verdict.warnings
