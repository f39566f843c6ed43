"""Every policy against its own fixtures, on the real offline engine (regopy / rego-cpp).

* allowed fixtures are admitted by their own policy and by the whole policy set;
* denied fixtures are denied by their own policy, with a message naming the
  offending container or field;
* the engine's fast path (hooks) and its per-constraint path agree;
* each policy that judges containers does so in all three container lists,
  shown by moving the offending container from one list to another.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from policies import POLICY_DIR, Policy, PolicyError, constraint_template, load_policies
from tests.policies.conftest import VARIANT_SUFFIX
from tests.policies.support import (
    CONTAINER_LISTS,
    Fixture,
    describe,
    fixture_files,
    fixture_parameters,
    formatted,
    load_documents,
    load_fixtures,
    pod_spec,
    review,
)
from tools.policy_engine import PolicyEngine, Report, Violation

POLICIES = load_policies(require_fixtures=False)
FIXTURES = load_fixtures(POLICIES)
ALLOWED = [f for f in FIXTURES if f.outcome == "allowed"]
DENIED = [f for f in FIXTURES if f.outcome == "denied"]
POD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}
CONTAINER_REF = re.compile(r'^(ephemeral container|init container|container) "([^"]+)"')
FIELD_NAME = re.compile(r"\b[a-z]+(?:[A-Z][a-z0-9]*)+\b")
EVALUATION_ERROR = "policy evaluation error"
_REVIEWS: dict[tuple[str, bool], Report] = {}
# Policies about pod-level fields or Services: no message of theirs is about one container.
POD_LEVEL_POLICIES = frozenset(
    {
        "deny-default-service-account",
        "deny-disallowed-volume-types",
        "deny-exposed-services",
        "deny-host-namespaces",
        "deny-host-path-volumes",
        "deny-service-account-token-automount",
        "deny-service-links",
        "deny-shared-process-namespace",
        "deny-unsafe-sysctls",
    }
)
CONTAINER_POLICIES = [p for p in POLICIES if p.name not in POD_LEVEL_POLICIES]
# Policies that by design leave a container list alone, and why.
LISTS_NOT_JUDGED = {
    ("deny-missing-resource-limits", "ephemeralContainers"): "the API forbids resources on ephemeral containers",
}


def own(violations: list[Violation], policy: str) -> list[Violation]:
    """Violations of the policy's fixture constraint (not of its variant)."""
    return [v for v in violations if v.constraint_name == policy]


def fixture_review(engines: dict[str, PolicyEngine], fixture: Fixture, *, hooks: bool = True) -> Report:
    """A fixture judged by its policy's single-policy set, once per session and path."""
    key = (fixture.id, hooks)
    if key not in _REVIEWS:
        _REVIEWS[key] = review(engines[fixture.policy], fixture.obj, hooks=hooks)
    return _REVIEWS[key]


def ids(fixtures: list[Fixture]) -> list[str]:
    return [f.id for f in fixtures]


# --- the library and its templates ----------------------------------------------


def test_load_policies_requires_fixtures(tmp_path: Path) -> None:
    loaded = load_policies()
    assert [p.name for p in loaded] == [p.name for p in POLICIES]
    # The other side: a copy of one policy without its denied fixtures is refused.
    source = POLICY_DIR / POLICIES[0].name
    shutil.copytree(source, tmp_path / source.name)
    shutil.copytree(POLICY_DIR / "lib", tmp_path / "lib")
    assert load_policies(tmp_path)
    shutil.rmtree(tmp_path / source.name / "fixtures" / "denied")
    with pytest.raises(PolicyError, match="denied"):
        load_policies(tmp_path)
    assert load_policies(tmp_path, require_fixtures=False)


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_fixture_files(policy: Policy) -> None:
    allowed = fixture_files(policy, "allowed")
    denied = fixture_files(policy, "denied")
    assert len(allowed) >= 1, f"{policy.name}: needs an allowed fixture"
    assert len(denied) >= 3, f"{policy.name}: needs at least three denied fixtures"
    for path in allowed + denied:
        first_line = path.read_text(encoding="utf-8").splitlines()[0]
        assert re.match(r"^# \S", first_line), f"{path.name}: the first line must say what the fixture shows"
        documents = load_documents(path.read_text(encoding="utf-8"))
        assert len(documents) == 1, f"{path.name}: one object per file"


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_template_is_rego_v1_code_only(policy: Policy) -> None:
    template = constraint_template(policy)
    (target,) = template["spec"]["targets"]
    assert "rego" not in target
    assert "libs" not in target
    (code,) = target["code"]
    assert code["engine"] == "Rego"
    assert code["source"]["version"] == "v1"
    assert code["source"]["rego"] == policy.rego


def test_every_policy_has_fixture_objects_it_matches(policies: list[Policy]) -> None:
    for policy in policies:
        kinds = {k for entry in policy.match_kinds for k in entry["kinds"]}
        for fixture in (f for f in FIXTURES if f.policy == policy.name):
            kind = fixture.obj.get("kind")
            reaches = kind in kinds or ("Pod" in kinds and kind in POD_KINDS)
            assert reaches, f"{fixture.id}: a {kind} never reaches a policy matching {sorted(kinds)}"


# --- allowed fixtures ------------------------------------------------------------


@pytest.mark.parametrize("fixture", ALLOWED, ids=ids(ALLOWED))
def test_allowed_fixture_admitted_by_its_policy(fixture: Fixture, single_policy_sets: dict[str, PolicyEngine]) -> None:
    report = fixture_review(single_policy_sets, fixture)
    assert not own(report.violations, fixture.policy), describe(report.violations)
    assert report.objects == 1


@pytest.mark.parametrize("fixture", ALLOWED, ids=ids(ALLOWED))
def test_allowed_fixture_admitted_by_whole_set(fixture: Fixture, fixture_set: PolicyEngine) -> None:
    report = review(fixture_set, fixture.obj)
    assert report.constraints == len(POLICIES)
    assert not report.violations, describe(report.violations)
    assert not report.denied


# --- denied fixtures -------------------------------------------------------------


def _scalars(value: Any) -> set[str]:
    """Every mapping key and string value in an object, for naming checks."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(str(key))
            found |= _scalars(item)
    elif isinstance(value, list):
        for item in value:
            found |= _scalars(item)
    elif isinstance(value, str):
        found.add(value)
    return found


def _containers(obj: dict[str, Any]) -> dict[str, set[str]]:
    if obj.get("kind") not in POD_KINDS:
        return {}
    spec = pod_spec(obj)
    return {label: {c["name"] for c in spec.get(field) or []} for field, label in CONTAINER_LISTS.items()}


def assert_names_offender(message: str, obj: dict[str, Any]) -> None:
    """The message names a container of the object (with its list), or a field or value of it."""
    assert EVALUATION_ERROR not in message, message
    reference = CONTAINER_REF.match(message)
    if reference:
        label, name = reference.groups()
        assert name in _containers(obj).get(label, set()), f"{message!r}: no {label} named {name!r} in the object"
        return
    concrete = {s for s in _scalars(obj) if len(s) >= 4} - {"metadata", "spec", "name", "namespace", "labels"}
    named = bool(FIELD_NAME.search(message)) or any(token in message for token in concrete)
    assert named, f"{message!r} names neither a container nor a field or value of the object"


@pytest.mark.parametrize("fixture", DENIED, ids=ids(DENIED))
def test_denied_fixture_denied_by_its_policy(fixture: Fixture, single_policy_sets: dict[str, PolicyEngine]) -> None:
    report = fixture_review(single_policy_sets, fixture)
    violations = own(report.violations, fixture.policy)
    assert violations, f"{fixture.id} is admitted by its own policy"
    assert report.denied
    for violation in violations:
        assert violation.action == "deny"
        assert violation.kind == fixture.obj["kind"]
        assert violation.name == fixture.obj["metadata"]["name"]
        assert_names_offender(violation.message, fixture.obj)
        if fixture.obj["kind"] not in ("Pod", "Service"):
            assert violation.expansion, f"{violation.format()}: a workload is judged through expansion"


def test_denied_messages_follow_the_fixture_comments() -> None:
    """A fixture whose comment names an init or ephemeral container is about that list."""
    for fixture in DENIED:
        comment = fixture.comment.lower()
        for label in ("init container", "ephemeral container"):
            if f"an {label}" in comment:
                spec = pod_spec(fixture.obj)
                field = next(f for f, lbl in CONTAINER_LISTS.items() if lbl == label)
                assert spec.get(field), f"{fixture.id}: says {label} but has none"


# --- both evaluation paths -------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_fast_path_and_per_constraint_path_agree(policy: Policy, single_policy_sets: dict[str, PolicyEngine]) -> None:
    """Every fixture, on the policy's set of two constraints (fixture parameters and a variant)."""
    fixtures = [f for f in FIXTURES if f.policy == policy.name]
    outcomes = set()
    for fixture in fixtures:
        fast = fixture_review(single_policy_sets, fixture, hooks=True)
        slow = fixture_review(single_policy_sets, fixture, hooks=False)
        assert formatted(fast) == formatted(slow), fixture.id
        outcomes.add(bool(own(fast.violations, policy.name)))
    assert outcomes == {True, False}, f"{policy.name}: the fixtures must exercise both outcomes"


def test_variant_constraint_sees_its_own_parameters(single_policy_sets: dict[str, PolicyEngine]) -> None:
    """The variant exempts every model image: its verdicts differ from the fixture constraint's."""
    engine = single_policy_sets["deny-privileged-containers"]
    fixture = next(f for f in DENIED if f.policy == "deny-privileged-containers" and f.obj["kind"] == "Pod")
    for hooks in (True, False):
        report = review(engine, fixture.obj, hooks=hooks)
        names = {v.constraint_name for v in report.violations}
        assert names == {"deny-privileged-containers"}, describe(report.violations)
    # The other side: the variant judges images outside its exemption like the fixture constraint.
    outside = copy.deepcopy(fixture.obj)
    for container in pod_spec(outside).get("ephemeralContainers", []):
        container["image"] = "registry.example.com/tools/debug-shell@sha256:" + "0" * 64
    for hooks in (True, False):
        names = {v.constraint_name for v in review(engine, outside, hooks=hooks).violations}
        assert names == {"deny-privileged-containers", "deny-privileged-containers" + VARIANT_SUFFIX}


# --- container lists, by behaviour -----------------------------------------------


def _single_container_fixture(policy: Policy, engines: dict[str, PolicyEngine]) -> tuple[Fixture, str, str] | None:
    """A denied Pod fixture whose own violations all name one container: (fixture, list, name)."""
    for fixture in DENIED:
        if fixture.policy != policy.name or fixture.obj["kind"] != "Pod":
            continue
        violations = own(fixture_review(engines, fixture).violations, policy.name)
        references = {
            CONTAINER_REF.match(v.message).groups() if CONTAINER_REF.match(v.message) else None for v in violations
        }
        if len(references) == 1 and None not in references:
            ((label, name),) = references
            field = next(f for f, lbl in CONTAINER_LISTS.items() if lbl == label)
            return fixture, field, name
    return None


def _compliant_container(policy: Policy) -> dict[str, Any]:
    for fixture in ALLOWED:
        if fixture.policy == policy.name and fixture.obj["kind"] == "Pod":
            return copy.deepcopy(pod_spec(fixture.obj)["containers"][0])
    raise AssertionError(f"{policy.name}: no allowed Pod fixture")


def _moved(fixture: Fixture, source: str, name: str, target: str, filler: dict[str, Any]) -> dict[str, Any]:
    """The fixture with container `name` moved from one list to another (renamed `moved`)."""
    obj = copy.deepcopy(fixture.obj)
    spec = pod_spec(obj)
    (container,) = [c for c in spec[source] if c["name"] == name]
    spec[source] = [c for c in spec[source] if c["name"] != name]
    spec.setdefault(target, []).append({**container, "name": "moved"})
    if not spec.get("containers"):
        spec["containers"] = [{**filler, "name": "app"}]
    if not spec[source]:
        del spec[source]
    return obj


def _container_labels(policy: str, engines: dict[str, PolicyEngine]) -> set[str]:
    """The container lists named by the policy's messages on its denied fixtures."""
    return {
        match.group(1)
        for fixture in DENIED
        if fixture.policy == policy
        for v in own(fixture_review(engines, fixture).violations, policy)
        if (match := CONTAINER_REF.match(v.message))
    }


def test_pod_level_policies_are_the_ones_naming_no_container(single_policy_sets: dict[str, PolicyEngine]) -> None:
    for policy in POLICIES:
        labels = _container_labels(policy.name, single_policy_sets)
        if policy.name in POD_LEVEL_POLICIES:
            assert not labels, f"{policy.name} is listed as pod-level but names containers"
        else:
            assert labels, f"{policy.name} judges containers but no denied fixture names one"


@pytest.mark.parametrize("policy", CONTAINER_POLICIES, ids=[p.name for p in CONTAINER_POLICIES])
def test_policy_judges_every_container_list(policy: Policy, single_policy_sets: dict[str, PolicyEngine]) -> None:
    engine = single_policy_sets[policy.name]
    labels = _container_labels(policy.name, single_policy_sets)
    # The fixtures show every list the policy judges...
    for field, label in CONTAINER_LISTS.items():
        if (policy.name, field) not in LISTS_NOT_JUDGED:
            assert label in labels, f"{policy.name}: no denied fixture about an {label}"
    # ...and moving the offending container to another list moves the verdict with it.
    found = _single_container_fixture(policy, single_policy_sets)
    assert found, f"{policy.name}: needs a denied Pod fixture about a single container"
    fixture, source, name = found
    filler = _compliant_container(policy)
    for target, label in CONTAINER_LISTS.items():
        if target == source:
            continue
        moved = _moved(fixture, source, name, target, filler)
        violations = own(review(engine, moved).violations, policy.name)
        if (policy.name, target) in LISTS_NOT_JUDGED:
            assert not violations, describe(violations)
            continue
        assert violations, f"{fixture.id}: moved to {target}, the container is no longer judged"
        for violation in violations:
            assert violation.message.startswith(f'{label} "moved"'), violation.message


def test_fixture_parameters_are_valid(policies: list[Policy]) -> None:
    """parameters.yaml only where the schema has properties, and only known properties."""
    for policy in policies:
        parameters = fixture_parameters(policy)
        if parameters is None:
            continue
        known = set(policy.parameters_schema.get("properties", {}))
        assert parameters, f"{policy.name}: empty parameters.yaml"
        assert set(parameters) <= known, f"{policy.name}: unknown parameters {sorted(set(parameters) - known)}"
