"""Helpers shared by the policy tests: fixture files, policy sets and engines.

Compiling a policy set with rego-cpp takes most of a second, so the tests
build each engine once per session (see conftest.py) and switch between the
fast path and the per-constraint path through `PolicyEngine.hooks`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policies import POLICY_DIR, Policy, constraint, constraint_template, expansion_templates
from tools.policy_engine import PolicyEngine, PolicySet, Report, Violation

OUTCOMES = ("allowed", "denied")
CONTAINER_LISTS = {
    "containers": "container",
    "initContainers": "init container",
    "ephemeralContainers": "ephemeral container",
}
# libyaml when PyYAML has it: parsing the fixtures is otherwise a good part of a test run.
YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ISTIO_POD_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "mesh" / "istio-cni-injected-pod.yaml"


@dataclass(frozen=True)
class Fixture:
    """One fixture file of a policy folder."""

    policy: str
    outcome: str
    path: Path
    comment: str
    obj: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.policy}/{self.outcome}/{self.path.stem}"


def read_fixture(policy: str, outcome: str, path: Path) -> Fixture:
    """Read one fixture file, which must hold one object after a first-line comment."""
    text = path.read_text(encoding="utf-8")
    first_line = text.splitlines()[0] if text else ""
    documents = load_documents(text)
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ValueError(f"{path}: must hold exactly one object")
    return Fixture(
        policy, outcome, path, first_line.lstrip("#").strip() if first_line.startswith("#") else "", documents[0]
    )


def load_documents(text: str) -> list[Any]:
    """The non-empty YAML documents of a text."""
    return [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]


def fixture_files(policy: Policy, outcome: str) -> list[Path]:
    folder = policy.directory / "fixtures" / outcome
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []


def load_fixtures(policies: Iterable[Policy]) -> list[Fixture]:
    """Every fixture of every policy, allowed ones first."""
    return [
        read_fixture(policy.name, outcome, path)
        for policy in policies
        for outcome in OUTCOMES
        for path in fixture_files(policy, outcome)
    ]


def fixture_parameters(policy: Policy) -> dict[str, Any] | None:
    """The policy's fixtures/parameters.yaml, None when it has none."""
    path = POLICY_DIR / policy.name / "fixtures" / "parameters.yaml"
    if not path.is_file():
        return None
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a mapping")
    return data


def policy_objects(
    policies: Iterable[Policy],
    parameters: Mapping[str, Mapping[str, Any] | None],
    *,
    enforcement_action: str = "deny",
) -> list[dict[str, Any]]:
    """Templates, ExpansionTemplates and one constraint per policy with the given parameters."""
    policies = list(policies)
    return [
        *(constraint_template(p) for p in policies),
        *expansion_templates(),
        *(
            constraint(
                p,
                parameters=dict(parameters[p.name]) if parameters.get(p.name) is not None else None,
                enforcement_action=enforcement_action,
            )
            for p in policies
        ),
    ]


def engine_for(objects: Iterable[Mapping[str, Any]]) -> PolicyEngine:
    return PolicyEngine(PolicySet.from_objects(objects))


def review(engine: PolicyEngine, obj: Mapping[str, Any], *, hooks: bool = True) -> Report:
    """Judge one object on the fast path (hooks) or constraint by constraint."""
    saved = engine.hooks
    engine.hooks = hooks
    try:
        return engine.review([copy.deepcopy(dict(obj))])
    finally:
        engine.hooks = saved


def denying(report: Report) -> set[str]:
    """Names of the constraints that deny."""
    return {v.constraint_name for v in report.violations if v.action == "deny"}


def formatted(report: Report) -> list[str]:
    return sorted(v.format() for v in report.violations)


def describe(violations: Iterable[Violation]) -> str:
    return "\n".join(v.format() for v in violations) or "(no violations)"


def pod_spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec of a Pod or of the pod template of a workload."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def istio_pod() -> dict[str, Any]:
    """The Istio CNI-injected pod fixture of the mesh tests."""
    return yaml.load(ISTIO_POD_FILE.read_text(encoding="utf-8"), Loader=YAML_LOADER)


def istio_proxy_image() -> str:
    """The exact proxy image reference of the Istio fixture (its native sidecar)."""
    sidecars = [c for c in istio_pod()["spec"]["initContainers"] if c["name"] == "istio-proxy"]
    if len(sidecars) != 1:
        raise ValueError(f"{ISTIO_POD_FILE}: expected one istio-proxy init container")
    return str(sidecars[0]["image"])
