"""Helpers shared by the policy tests: fixture files, policy sets, and judging objects with gator.

Each gator run loads its templates and compiles the Rego (a fraction of a second), so the tests
judge many objects in one run: `judge` gives each object a unique name and maps gator's
violations back to it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from secure_model_serving.policies import Policy, constraint, constraint_template, expansion_templates
from tools.gator import Report, Violation, review

OUTCOMES = ("allowed", "denied")
SAMPLES_DIR = "samples"
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
    """One fixture file of a policy folder: of its as-deployed sample (`sample` None, under
    fixtures/) or of an extra sample (under samples/<sample>/)."""

    policy: str
    outcome: str
    path: Path
    comment: str
    obj: dict[str, Any]
    sample: str | None = None

    @property
    def id(self) -> str:
        where = f"samples/{self.sample}/" if self.sample else ""
        return f"{self.policy}/{where}{self.outcome}/{self.path.stem}"


def read_fixture(policy: str, outcome: str, path: Path, sample: str | None = None) -> Fixture:
    """Read one fixture file, which must hold one object after a first-line comment."""
    text = path.read_text(encoding="utf-8")
    first_line = text.splitlines()[0] if text else ""
    documents = load_documents(text)
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ValueError(f"{path}: must hold exactly one object")
    comment = first_line.lstrip("#").strip() if first_line.startswith("#") else ""
    return Fixture(policy, outcome, path, comment, documents[0], sample)


def load_documents(text: str) -> list[Any]:
    """The non-empty YAML documents of a text."""
    return [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]


def sample_folder(policy: Policy, sample: str | None = None) -> Path:
    """The folder of a sample: the policy's own for the as-deployed one, else samples/<sample>."""
    return policy.directory / SAMPLES_DIR / sample if sample else policy.directory


def sample_names(policy: Policy) -> list[str]:
    """The policy's extra samples (folders under samples/), sorted."""
    folder = policy.directory / SAMPLES_DIR
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def fixture_files(policy: Policy, outcome: str, sample: str | None = None) -> list[Path]:
    folder = (sample_folder(policy, sample) if sample else policy.directory / "fixtures") / outcome
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml")) if folder.is_dir() else []


def load_fixtures(policies: Iterable[Policy], *, samples: bool = True) -> list[Fixture]:
    """Every fixture of every policy, allowed ones first; those of the extra samples too unless
    `samples` is false (only the as-deployed ones are what a stack admits or refuses)."""
    return [
        read_fixture(policy.name, outcome, path, sample)
        for policy in policies
        for sample in [None, *(sample_names(policy) if samples else [])]
        for outcome in OUTCOMES
        for path in fixture_files(policy, outcome, sample)
    ]


def fixture_constraint(policy: Policy, sample: str | None = None) -> dict[str, Any]:
    """The constraint of a sample of the policy's suite: constraint.yaml (as deployed, generated)
    or samples/<sample>/constraint.yaml."""
    path = sample_folder(policy, sample) / "constraint.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    if not isinstance(data, dict) or data.get("kind") != policy.kind:
        raise ValueError(f"{path}: must be one {policy.kind} constraint")
    return data


def fixture_parameters(policy: Policy, sample: str | None = None) -> dict[str, Any] | None:
    """spec.parameters of a sample's constraint, None when it sets none."""
    return fixture_constraint(policy, sample)["spec"].get("parameters")


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


def judge(policy_set: Sequence[Mapping[str, Any]], objects: Sequence[Mapping[str, Any]]) -> list[Report]:
    """One report per object, all judged in one gator run against `policy_set`.

    Each object is renamed `case-<index>` (its verdict cannot depend on its name) so that
    gator's violations map back to it.
    """
    renamed = []
    for index, obj in enumerate(objects):
        copied = copy.deepcopy(dict(obj))
        copied["metadata"] = {**copied.get("metadata", {}), "name": f"case-{index}"}
        renamed.append(copied)
    report = review([*policy_set, *renamed])
    constraints = report.constraints
    reports = [Report(objects=1, constraints=constraints) for _ in renamed]
    for violation in report.violations:
        reports[int(violation.name.removeprefix("case-"))].violations.append(violation)
    return reports


def denying(report: Report) -> set[str]:
    """Names of the constraints that deny."""
    return {v.constraint_name for v in report.violations if v.action == "deny"}


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
