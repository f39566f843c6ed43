"""Every policy against its own fixtures, judged by gator (Gatekeeper's own engine).

`make verify-policies` runs each policy's gator suite (exact violation counts). These tests add
what a count cannot say:

* allowed fixtures are admitted by their own policy and by the whole policy set;
* denied fixtures are denied by their own constraint, with a message naming the offending
  container or field, workloads through expansion;
* each policy that judges containers does so in all three container lists, shown by moving the
  offending container from one list to another;
* the suites cover every fixture, and a suite with a wrong count fails;
* each suite's as-deployed sample (constraint.yaml) is the constraint the prod stack deploys,
  and each extra sample sets parameters that one does not.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from secure_model_serving.policies import (
    EXPANSION_FILE,
    POLICY_DIR,
    TEMPLATE_FILE,
    Level,
    NamespaceScope,
    Policy,
    PolicyError,
    constraint_template,
    expansion_templates,
    load_policies,
    render_template,
)
from secure_model_serving.policies.deployed import (
    CONSTRAINT_FILE,
    DEPLOYED_STACK,
    deployed_constraints,
    render_constraint,
)
from tests.policies.support import (
    CONTAINER_LISTS,
    Fixture,
    describe,
    fixture_constraint,
    fixture_files,
    fixture_parameters,
    judge,
    load_documents,
    load_fixtures,
    pod_spec,
    sample_folder,
    sample_names,
)
from tools.gator import Report, Violation
from tools.render import Rendered
from tools.toolchain import ensure

POLICIES = load_policies(require_fixtures=False)
FIXTURES = load_fixtures(POLICIES)
ALLOWED = [f for f in FIXTURES if f.outcome == "allowed"]
DENIED = [f for f in FIXTURES if f.outcome == "denied"]
# The fixtures of the as-deployed samples: judged with what the prod stack deploys.
DEPLOYED_ALLOWED = [f for f in ALLOWED if f.sample is None]
DEPLOYED_DENIED = [f for f in DENIED if f.sample is None]
SAMPLES = [(p, sample) for p in POLICIES for sample in sample_names(p)]
POD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob"}
CONTAINER_REF = re.compile(r'^(ephemeral container|init container|container) "([^"]+)"')
FIELD_NAME = re.compile(r"\b[a-z]+(?:[A-Z][a-z0-9]*)+\b")
EXPANSION_PREFIX = "[Implied by expand-"
# What a policy judges, and the lists it leaves alone, are facts of its policy.yaml (`level`,
# `skipped_containers`); the tests below hold the fixtures and the verdicts to them.
CONTAINER_POLICIES = [p for p in POLICIES if p.level is Level.CONTAINER]


def own(violations: list[Violation], policy: str) -> list[Violation]:
    """Violations of the policy's suite constraint."""
    return [v for v in violations if v.constraint_name == policy]


def unprefixed(message: str) -> str:
    """A violation's message without gator's `[Implied by <ExpansionTemplate>] ` prefix."""
    return re.sub(r"^\[Implied by [\w-]+\] ", "", message)


def single_policy_set(policy: Policy, sample: str | None = None) -> list[dict[str, Any]]:
    """What one test of the policy's suite loads: its template, the sample's constraint (the
    as-deployed one by default) and the ExpansionTemplates."""
    return [constraint_template(policy), fixture_constraint(policy, sample), *expansion_templates()]


@functools.cache
def fixture_reports(policy_name: str, sample: str | None) -> dict[str, Report]:
    """Every fixture of one sample of a policy judged by that sample's policy set, in one gator run."""
    policy = next(p for p in POLICIES if p.name == policy_name)
    fixtures = [f for f in FIXTURES if f.policy == policy_name and f.sample == sample]
    reports = judge(single_policy_set(policy, sample), [f.obj for f in fixtures])
    return {fixture.id: report for fixture, report in zip(fixtures, reports, strict=True)}


def fixture_review(fixture: Fixture) -> Report:
    return fixture_reports(fixture.policy, fixture.sample)[fixture.id]


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
    for sample in sample_names(policy):
        extra = (fixture_files(policy, "allowed", sample), fixture_files(policy, "denied", sample))
        assert all(extra), f"{policy.name}: sample {sample} needs an allowed and a denied fixture"
        allowed, denied = allowed + extra[0], denied + extra[1]
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
def test_allowed_fixture_admitted_by_its_policy(fixture: Fixture) -> None:
    report = fixture_review(fixture)
    assert not report.violations, describe(report.violations)


def test_allowed_fixtures_admitted_by_whole_set() -> None:
    """Every allowed fixture against every model-namespace policy at once, each with its suite
    constraint; not the `each-model` policy, whose constraint pins one model's pod (the other
    fixtures are other pods), nor the `outside-model` one, which judges other namespaces."""
    generic = [p for p in POLICIES if p.namespaces is NamespaceScope.MODEL]
    policy_set = [
        *(constraint_template(p) for p in generic),
        *(fixture_constraint(p) for p in generic),
        *expansion_templates(),
    ]
    names = {p.name for p in generic}
    allowed = [f for f in DEPLOYED_ALLOWED if f.policy in names]
    reports = judge(policy_set, [f.obj for f in allowed])
    assert reports[0].constraints == len(generic)
    admitted_badly = {f.id: describe(r.violations) for f, r in zip(allowed, reports, strict=True) if r.violations}
    assert not admitted_badly, admitted_badly


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
    reference = CONTAINER_REF.match(message)
    if reference:
        label, name = reference.groups()
        assert name in _containers(obj).get(label, set()), f"{message!r}: no {label} named {name!r} in the object"
        return
    concrete = {s for s in _scalars(obj) if len(s) >= 4} - {"metadata", "spec", "name", "namespace", "labels"}
    named = bool(FIELD_NAME.search(message)) or any(token in message for token in concrete)
    assert named, f"{message!r} names neither a container nor a field or value of the object"


@pytest.mark.parametrize("fixture", DENIED, ids=ids(DENIED))
def test_denied_fixture_denied_by_its_policy(fixture: Fixture) -> None:
    report = fixture_review(fixture)
    violations = own(report.violations, fixture.policy)
    assert violations, f"{fixture.id} is admitted by its own policy"
    assert report.denied
    for violation in violations:
        assert violation.action == "deny"
        assert violation.kind == fixture.obj["kind"]
        assert_names_offender(unprefixed(violation.message), fixture.obj)
        if fixture.obj["kind"] not in ("Pod", "Service"):
            assert violation.message.startswith(EXPANSION_PREFIX), f"{violation.format()}: judged through expansion"


def test_denied_messages_follow_the_fixture_comments() -> None:
    """A fixture whose comment names an init or ephemeral container is about that list."""
    for fixture in DENIED:
        comment = fixture.comment.lower()
        for label in ("init container", "ephemeral container"):
            if f"an {label}" in comment:
                spec = pod_spec(fixture.obj)
                field = next(f for f, lbl in CONTAINER_LISTS.items() if lbl == label)
                assert spec.get(field), f"{fixture.id}: says {label} but has none"


# --- container lists, by behaviour -----------------------------------------------


def _single_container_fixture(policy: Policy) -> tuple[Fixture, str, str] | None:
    """A denied Pod fixture whose own violations all name one container: (fixture, list, name)."""
    for fixture in DEPLOYED_DENIED:
        if fixture.policy != policy.name or fixture.obj["kind"] != "Pod":
            continue
        violations = own(fixture_review(fixture).violations, policy.name)
        references = {
            CONTAINER_REF.match(v.message).groups() if CONTAINER_REF.match(v.message) else None for v in violations
        }
        if len(references) == 1 and None not in references:
            ((label, name),) = references
            field = next(f for f, lbl in CONTAINER_LISTS.items() if lbl == label)
            return fixture, field, name
    return None


def _compliant_container(policy: Policy) -> dict[str, Any]:
    for fixture in DEPLOYED_ALLOWED:
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


def _container_labels(policy: str) -> set[str]:
    """The container lists named by the policy's messages on its as-deployed denied fixtures."""
    return {
        match.group(1)
        for fixture in DEPLOYED_DENIED
        if fixture.policy == policy
        for v in own(fixture_review(fixture).violations, policy)
        if (match := CONTAINER_REF.match(unprefixed(v.message)))
    }


def test_pod_level_policies_are_the_ones_naming_no_container() -> None:
    for policy in POLICIES:
        labels = _container_labels(policy.name)
        if policy.level is Level.CONTAINER:
            assert labels, f"{policy.name} says `level: container` but no denied fixture names one"
        else:
            assert not labels, f"{policy.name} says `level: {policy.level}` but names containers"


@pytest.mark.parametrize("policy", CONTAINER_POLICIES, ids=[p.name for p in CONTAINER_POLICIES])
def test_policy_judges_every_container_list(policy: Policy) -> None:
    labels = _container_labels(policy.name)
    # The fixtures show every list the policy judges...
    for field, label in CONTAINER_LISTS.items():
        if field not in policy.skipped_containers:
            assert label in labels, f"{policy.name}: no denied fixture about an {label}"
    # ...and moving the offending container to another list moves the verdict with it.
    found = _single_container_fixture(policy)
    assert found, f"{policy.name}: needs a denied Pod fixture about a single container"
    fixture, source, name = found
    filler = _compliant_container(policy)
    targets = [(target, label) for target, label in CONTAINER_LISTS.items() if target != source]
    moved = [_moved(fixture, source, name, target, filler) for target, _ in targets]
    for (target, label), report in zip(targets, judge(single_policy_set(policy), moved), strict=True):
        violations = own(report.violations, policy.name)
        if target in policy.skipped_containers:
            assert not violations, describe(violations)
            continue
        assert violations, f"{fixture.id}: moved to {target}, the container is no longer judged"
        for violation in violations:
            assert violation.message.startswith(f'{label} "moved"'), violation.message


def test_fixture_parameters_are_valid(policies: list[Policy]) -> None:
    """Every sample's constraint sets parameters only where the schema has properties, and only known ones."""
    for policy in policies:
        for sample in [None, *sample_names(policy)]:
            parameters = fixture_parameters(policy, sample)
            if parameters is None:
                continue
            known = set(policy.parameters_schema.get("properties", {}))
            where = f"{policy.name} {sample or 'as deployed'}"
            assert parameters, f"{where}: empty parameters in its constraint"
            assert set(parameters) <= known, f"{where}: unknown parameters {sorted(set(parameters) - known)}"


@pytest.mark.parametrize(("policy", "sample"), SAMPLES, ids=[f"{p.name}/{s}" for p, s in SAMPLES])
def test_an_extra_sample_shows_another_setting(policy: Policy, sample: str) -> None:
    """An extra sample is another setting of the parameters than the deployed one, named by its
    first line; its constraint is otherwise the deployed one (kinds, action, name)."""
    path = sample_folder(policy, sample) / "constraint.yaml"
    assert path.read_text(encoding="utf-8").startswith("# Sample "), f"{path}: the first line says what it sets"
    extra, deployed = fixture_constraint(policy, sample), fixture_constraint(policy)
    assert fixture_parameters(policy, sample) != fixture_parameters(policy), f"{path}: the deployed setting"
    assert {**extra, "spec": {**extra["spec"], "parameters": None}} == {
        **deployed,
        "spec": {**deployed["spec"], "parameters": None},
    }


# --- the gator suites ------------------------------------------------------------


def _suite(policy: Policy) -> dict[str, Any]:
    return yaml.safe_load((policy.directory / "suite.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_suite_covers_every_fixture_with_the_expected_outcome(policy: Policy) -> None:
    """One test per sample, the as-deployed one first, each judging exactly the sample's fixtures
    with the sample's constraint."""
    tests = _suite(policy)["tests"]
    samples = [None, *sample_names(policy)]
    assert [test["name"] for test in tests] == [f"samples/{s}" if s else "as-deployed" for s in samples]
    for test, sample in zip(tests, samples, strict=True):
        prefix = f"samples/{sample}/" if sample else ""
        assert (test["template"], test["constraint"]) == (TEMPLATE_FILE, f"{prefix}constraint.yaml")
        assert (policy.directory / test["expansion"]).resolve() == EXPANSION_FILE
        cases = {case["object"]: case["assertions"] for case in test["cases"]}
        fixtures = {
            path.relative_to(policy.directory).as_posix(): outcome
            for outcome in ("allowed", "denied")
            for path in fixture_files(policy, outcome, sample)
        }
        assert set(cases) == set(fixtures), f"{policy.name}: suite.yaml and the fixtures of {test['name']} differ"
        for path, outcome in fixtures.items():
            (assertion,) = cases[path]
            if outcome == "allowed":
                assert assertion == {"violations": "no"}, path
            else:
                assert isinstance(assertion["violations"], int) and assertion["violations"] >= 1, path


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_committed_template_is_the_generated_one(policy: Policy) -> None:
    assert (policy.directory / TEMPLATE_FILE).read_text(encoding="utf-8") == render_template(policy), (
        f"{policy.name}/{TEMPLATE_FILE} is stale: run python -m secure_model_serving.policies"
    )


def test_committed_constraint_is_the_deployed_one(rendered: dict[str, list[Rendered]]) -> None:
    """Each suite's constraint.yaml is the prod stack's constraint (the parameters the platform
    deploys), as `python -m secure_model_serving.policies` writes it: a change of the deployed parameters that is not
    regenerated fails here and in `python -m secure_model_serving.policies --check`."""
    objects = [item.document for item in rendered[DEPLOYED_STACK] if item.document is not None]
    samples = deployed_constraints(POLICIES, objects)
    stale = [
        policy.name
        for policy in POLICIES
        if (policy.directory / CONSTRAINT_FILE).read_text(encoding="utf-8")
        != render_constraint(policy, samples[policy.name])
    ]
    assert not stale, f"stale {CONSTRAINT_FILE} of {stale}: run python -m secure_model_serving.policies"
    # The other side: a parameter the stack does not deploy is told apart.
    (registries,) = [p for p in POLICIES if p.name == "deny-untrusted-registries"]
    widened = copy.deepcopy(samples[registries.name])
    widened["spec"]["parameters"]["registries"].append("docker.io")
    assert render_constraint(registries, widened) != (registries.directory / CONSTRAINT_FILE).read_text("utf-8")


def test_the_deployed_sample_leaves_out_only_the_namespace_selection(rendered: dict[str, list[Rendered]]) -> None:
    (document,) = [
        item.document
        for item in rendered[DEPLOYED_STACK]
        if item.document is not None and item.document.get("kind") == "K8sDenyModelPodWidening"
    ]
    (policy,) = [p for p in POLICIES if p.kind == "K8sDenyModelPodWidening"]
    sample = deployed_constraints([policy], [document])[policy.name]
    assert sample["metadata"] == {"name": policy.name}
    assert sample["spec"]["parameters"] == document["spec"]["parameters"]
    assert sample["spec"]["enforcementAction"] == document["spec"]["enforcementAction"] == "deny"
    assert sample["spec"]["match"] == {"kinds": document["spec"]["match"]["kinds"]}
    assert {"namespaces", "namespaceSelector"} <= set(document["spec"]["match"])
    with pytest.raises(PolicyError, match="deploys no K8sDenyModelPodWidening constraint"):
        deployed_constraints([policy], [])


def _verify(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ensure("gator")), "verify", f"{folder}/..."], capture_output=True, text=True, check=False
    )


def test_a_suite_with_a_wrong_count_fails(tmp_path: Path) -> None:
    """The other side of `make verify-policies`: gator verify fails a denied case counted wrong,
    and an allowed case that is in fact denied."""
    name = "deny-run-as-root"
    shutil.copytree(POLICY_DIR / name, tmp_path / name)
    shutil.copy(EXPANSION_FILE, tmp_path / EXPANSION_FILE.name)
    assert _verify(tmp_path / name).returncode == 0
    suite_path = tmp_path / name / "suite.yaml"
    suite = yaml.safe_load(suite_path.read_text(encoding="utf-8"))
    denied = next(case for case in suite["tests"][0]["cases"] if case["name"].startswith("denied/"))
    denied["assertions"] = [{"violations": denied["assertions"][0]["violations"] + 1}]
    suite_path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    assert _verify(tmp_path / name).returncode != 0
    denied["assertions"] = [{"violations": "no"}]
    suite_path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    assert _verify(tmp_path / name).returncode != 0


def test_a_policy_names_where_it_applies_or_is_refused(tmp_path: Path) -> None:
    name = "deny-model-pod-widening"
    shutil.copytree(POLICY_DIR / name, tmp_path / name)
    shutil.copytree(POLICY_DIR / "lib", tmp_path / "lib")
    (loaded,) = load_policies(tmp_path)
    assert loaded.namespaces is NamespaceScope.EACH_MODEL
    meta = tmp_path / name / "policy.yaml"
    meta.write_text(meta.read_text(encoding="utf-8").replace("namespaces: each-model", "namespaces: everywhere"))
    with pytest.raises(PolicyError, match="`namespaces` must be one of"):
        load_policies(tmp_path)
