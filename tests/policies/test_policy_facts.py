"""The facts a policy.yaml states about its policy: validated when loaded, emitted as template
annotations, and the version that must grow with the Rego.

What the facts claim is checked against the verdicts elsewhere: `level` and `skipped_containers`
by tests/policies/test_fixtures.py (which lists a policy's messages name), `image_exemptible` by
tests/policies/test_attack_pods.py (exactly what the injected pod needs), the bundles by the
policy pack's tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import secure_model_serving.policies as policies
import secure_model_serving.policies.__main__ as generator
from policy_pack.validation import MANDATORY_POLICIES
from secure_model_serving.policies import (
    ANNOTATION_PREFIX,
    DIGEST_ANNOTATION,
    POLICY_DIR,
    TEMPLATE_FILE,
    VERSION_ANNOTATION,
    Bundle,
    Level,
    Policy,
    PolicyError,
    constraint,
    constraint_template,
    load_policies,
    rego_digest,
    version_problem,
)
from secure_model_serving.policies.deployed import CONSTRAINT_FILE, DEPLOYED_STACK, deployed_constraints
from secure_model_serving.policies.parameters import MIN_ID
from tests.policies.support import describe, judge
from tools.render import Rendered

POLICIES = load_policies(require_fixtures=False)
NAME = "deny-missing-resource-limits"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A copy of one policy (and the shared libs) to break."""
    shutil.copytree(POLICY_DIR / NAME, tmp_path / NAME)
    shutil.copytree(POLICY_DIR / "lib", tmp_path / "lib")
    return tmp_path


def edit_meta(library: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = library / NAME / "policy.yaml"
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(meta)
    path.write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")


def test_the_copy_loads_with_its_facts(library: Path) -> None:
    (policy,) = load_policies(library)
    assert (policy.version, policy.level, policy.bundles, policy.image_exemptible) == (
        "1.0.0",
        Level.CONTAINER,
        (),
        False,
    )
    assert set(policy.skipped_containers) == {"ephemeralContainers"}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda m: m.pop("version"), "`version` must be a quoted MAJOR.MINOR.PATCH"),
        (lambda m: m.update(version="1.0"), "`version` must be a quoted MAJOR.MINOR.PATCH"),
        (lambda m: m.update(version=1.0), "`version` must be a quoted MAJOR.MINOR.PATCH"),
        (lambda m: m.update(version="01.0.0"), "`version` must be a quoted MAJOR.MINOR.PATCH"),
        (lambda m: m.pop("level"), "`level` must be one of"),
        (lambda m: m.update(level="containers"), "`level` must be one of"),
        (lambda m: m.update(bundles=["pod-security-strict"]), "`bundles` must list distinct names"),
        (lambda m: m.update(bundles="pod-security-restricted"), "`bundles` must list distinct names"),
        (lambda m: m.update(bundles=["pod-security-baseline"]), "restricted profile includes the baseline"),
        (lambda m: m.update(image_exemptible="yes"), "`image_exemptible` must be true or false"),
        (
            lambda m: (m.update(image_exemptible=True), m["parameters"]["properties"].pop("exemptImages")),
            "`image_exemptible` needs an `exemptImages` parameter",
        ),
        (lambda m: m.update(skipped_containers={"sidecars": "why"}), "`skipped_containers` must map"),
        (lambda m: m.update(skipped_containers={"initContainers": ""}), "`skipped_containers` must map"),
        (lambda m: m.update(skipped_containers=["ephemeralContainers"]), "`skipped_containers` must map"),
        (lambda m: m.update(level="pod"), "`skipped_containers` needs `level: container`"),
        (lambda m: m.update(exemptible=True), "unknown fields"),
    ],
)
def test_a_bad_fact_is_refused_naming_the_field(library: Path, change: Callable, error: str) -> None:
    edit_meta(library, change)
    with pytest.raises(PolicyError, match=error) as raised:
        load_policies(library)
    assert f"{NAME}/policy.yaml" in str(raised.value)


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_the_template_carries_the_facts(policy: Policy) -> None:
    annotations = constraint_template(policy)["metadata"]["annotations"]
    assert annotations[VERSION_ANNOTATION] == policy.version
    assert annotations[DIGEST_ANNOTATION] == rego_digest(policy)
    assert annotations[ANNOTATION_PREFIX + "namespaces"] == policy.namespaces.value
    assert annotations[ANNOTATION_PREFIX + "level"] == policy.level.value
    assert annotations[ANNOTATION_PREFIX + "image-exemptible"] == str(policy.image_exemptible).lower()
    bundles = annotations.get(ANNOTATION_PREFIX + "bundles", "")
    assert (bundles.split(",") if bundles else []) == list(policy.bundles)
    skipped = annotations.get(ANNOTATION_PREFIX + "skipped-containers", "")
    assert (skipped.split(",") if skipped else []) == list(policy.skipped_containers)
    assert all(isinstance(value, str) for value in annotations.values()), "annotations are strings"


def test_the_digest_follows_the_rego_and_its_libs() -> None:
    (policy,) = [p for p in POLICIES if p.name == NAME]
    assert policy.libs, "the policy imports a lib"
    digest = rego_digest(policy)
    assert rego_digest(policy) == digest
    assert rego_digest(Policy(**{**vars(policy), "rego": policy.rego + "\n# edited\n"})) != digest
    assert rego_digest(Policy(**{**vars(policy), "libs": (policy.libs[0] + "# edited\n",)})) != digest
    # The description is no part of the Rego: rewording it needs no new version.
    assert rego_digest(Policy(**{**vars(policy), "description": "reworded"})) == digest


def test_the_pack_makes_the_pod_security_bundle_mandatory() -> None:
    baseline = {p.name for p in POLICIES if Bundle.POD_SECURITY_BASELINE in p.bundles}
    restricted = {p.name for p in POLICIES if Bundle.POD_SECURITY_RESTRICTED in p.bundles}
    assert baseline < restricted, "the restricted profile includes the baseline"
    assert {"deny-privileged-containers", "deny-host-namespaces"} <= baseline
    assert {"deny-run-as-root", "deny-privilege-escalation"} <= restricted - baseline
    assert restricted <= MANDATORY_POLICIES
    # The other side: a rule beyond the Pod Security Standards stays configurable in the pack.
    assert "deny-untrusted-registries" not in MANDATORY_POLICIES


# --- the version must grow with the Rego --------------------------------------------


def committed(policy: Policy) -> dict[str, Any]:
    return yaml.safe_load((policy.directory / TEMPLATE_FILE).read_text(encoding="utf-8"))


def test_version_problem_from_both_sides() -> None:
    (policy,) = [p for p in POLICIES if p.name == NAME]
    template = committed(policy)
    assert version_problem(policy, template) is None
    assert version_problem(policy, None) is None  # a new policy
    edited = Policy(**{**vars(policy), "rego": policy.rego + "\n# edited\n"})
    assert "changed: raise `version` (now 1.0.0)" in str(version_problem(edited, template))
    assert version_problem(Policy(**{**vars(edited), "version": "1.0.1"}), template) is None
    assert version_problem(Policy(**{**vars(edited), "version": "2.0.0"}), template) is None
    # A version may grow without a Rego change, never shrink.
    assert version_problem(Policy(**{**vars(policy), "version": "1.1.0"}), template) is None
    older = {**template, "metadata": {"annotations": {VERSION_ANNOTATION: "1.2.0"}}}
    assert "is below the template's 1.2.0" in str(version_problem(policy, older))


@pytest.fixture
def generate(library: Path, monkeypatch: pytest.MonkeyPatch, rendered: dict[str, list[Rendered]]) -> Callable[..., int]:
    """`python -m secure_model_serving.policies` on the copy (the session's prod render stands in for a new one)."""
    objects = [item.document for item in rendered[DEPLOYED_STACK] if item.document is not None]
    monkeypatch.setattr(policies, "POLICY_DIR", library)
    monkeypatch.setattr(generator, "deployed_constraints", lambda found: deployed_constraints(found, objects))
    return lambda *argv: generator.main(list(argv))


def test_the_generator_refuses_a_rego_change_under_the_same_version(
    library: Path, generate: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    template = library / NAME / TEMPLATE_FILE
    assert generate("--check") == 0
    before = template.read_text(encoding="utf-8")
    rego = library / NAME / "src.rego"
    rego.write_text(rego.read_text(encoding="utf-8") + "\n# a changed rule\n", encoding="utf-8")

    assert generate() == 1
    assert f"{NAME}/policy.yaml: its Rego (src.rego or a lib it imports) changed" in capsys.readouterr().err
    assert template.read_text(encoding="utf-8") == before, "nothing written"
    assert generate("--check") == 1

    edit_meta(library, lambda meta: meta.update(version="1.1.0"))
    assert generate() == 0
    annotations = yaml.safe_load(template.read_text(encoding="utf-8"))["metadata"]["annotations"]
    assert annotations[VERSION_ANNOTATION] == "1.1.0"
    assert annotations[DIGEST_ANNOTATION] != yaml.safe_load(before)["metadata"]["annotations"][DIGEST_ANNOTATION]
    assert generate("--check") == 0


def test_the_generator_rewrites_a_stale_constraint(library: Path, generate: Callable[..., int]) -> None:
    path = library / NAME / CONSTRAINT_FILE
    deployed = path.read_text(encoding="utf-8")
    path.write_text(deployed.replace("deny\n", "dryrun\n"), encoding="utf-8")
    assert generate("--check") == 1
    assert generate() == 0
    assert path.read_text(encoding="utf-8") == deployed


def test_the_rego_s_default_floor_is_min_id() -> None:
    """The UID floor's home is MIN_ID (the platform always passes it); the Rego's own default, for
    a constraint that sets none, is the same number."""
    (policy,) = [p for p in POLICIES if p.name == "deny-low-user-and-group-ids"]
    policy_set = [constraint_template(policy), constraint(policy)]

    def pod(user: int) -> dict[str, Any]:
        context = {"runAsUser": user, "runAsGroup": MIN_ID}
        container = {"name": "model", "image": "registry.example.com/models/m@sha256:" + "0" * 64}
        spec = {"securityContext": context, "containers": [container]}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": spec}

    at_floor, below = judge(policy_set, [pod(MIN_ID), pod(MIN_ID - 1)])
    assert not at_floor.violations, describe(at_floor.violations)
    assert below.violations, "a UID below MIN_ID is denied"
