"""Judge one Pulumi resource with the project's Gatekeeper policies (no pulumi_policy import).

The Pulumi policy pack calls `validate(resource_type, props)` for every resource of a preview.
A Kubernetes object (type token `kubernetes:<group>/<version>:<Kind>`) is rebuilt from its
inputs and judged by gator, Gatekeeper's own engine (tools/gator.py: the OPA and constraint
framework the webhook runs), with the ConstraintTemplates, Constraints and ExpansionTemplates
built from the library's policies exactly as secure_model_serving/cluster/admission.py builds them, so a
Deployment is judged as
the Pod it creates. The Rego in secure_model_serving/policies/*/src.rego stays the single source of truth and one
engine judges it everywhere: nothing here restates a rule.

Every namespace except the exempt ones is treated as a model namespace (the constraints select
namespaces by label, and a resource seen alone carries no Namespace labels): fail closed, as
`python -m tools.policy` does for namespaces it does not know.

What cannot be judged is refused, never waved through: a judged object with a value unknown at
preview (other than its name or namespace), a patch of a judged kind (its target is not in the
preview), a Helm release of a chart the platform does not pin (the analyzer cannot see its
manifests), and an engine failure each give a finding of `UNJUDGED`, the pack's one mandatory
gate policy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from secure_model_serving import versions
from secure_model_serving.policies import (
    Bundle,
    NamespaceScope,
    Policy,
    constraint,
    constraint_template,
    expansion_templates,
    load_policies,
)
from secure_model_serving.policies.parameters import ISOLATION_LABEL, constraint_parameters, model_namespace_match
from tools.gator import GatorError, review
from tools.manifests import load_yaml
from tools.toolchain import ToolchainError

REPO_ROOT = Path(__file__).resolve().parent.parent

__all__ = [
    "DEFAULT_EXEMPT_NAMESPACES",
    "MANDATORY_POLICIES",
    "RESTRICTED_POLICIES",
    "UNJUDGED",
    "Finding",
    "PackConfig",
    "Unknown",
    "config_from",
    "default_registries",
    "kubernetes_object",
    "policy_names",
    "validate",
]

DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "gatekeeper-system")
"""Namespaces the webhook never judges, so the pack does not either."""

UNJUDGED = "judgeable-resources"
"""The pack's own gate policy: a resource the policies cannot judge is refused under this name."""

RESTRICTED_POLICIES = frozenset(
    policy.name for policy in load_policies(require_fixtures=False) if Bundle.POD_SECURITY_RESTRICTED in policy.bundles
)
"""The rules of the Pod Security Standards (baseline and restricted, `bundles:` in each
policy.yaml): always mandatory in the pack."""

MANDATORY_POLICIES = RESTRICTED_POLICIES | {UNJUDGED}
"""Policies whose enforcement level no policy-pack config can lower."""

_PROJECT = "secure-model-serving"


@dataclass(frozen=True)
class PackConfig:
    """What the constraints need from a stack: registries, exempt images and namespaces."""

    registries: tuple[str, ...]
    exempt_images: tuple[str, ...] = ()
    exempt_namespaces: tuple[str, ...] = DEFAULT_EXEMPT_NAMESPACES


@dataclass(frozen=True)
class Unknown:
    """A value the engine cannot know during preview, at `path` (e.g. `.spec.replicas`)."""

    path: str


@dataclass(frozen=True)
class Finding:
    """One violation: the policy (folder name under secure_model_serving/policies/) and its message."""

    policy: str
    message: str


def default_registries(stack: str = "prod") -> tuple[str, ...]:
    """The registries of a stack file, for when the pack is given none in its config."""
    document = load_yaml((REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()) or {}
    return tuple((document.get("config") or {}).get(f"{_PROJECT}:registries") or ())


@lru_cache(maxsize=1)
def _policies() -> tuple[Policy, ...]:
    return tuple(load_policies(require_fixtures=False))


def policy_names() -> list[str]:
    """Every policy the pack judges, in order (see _judged)."""
    return [policy.name for policy in _policies() if _judged(policy)]


def _judged(policy: Policy) -> bool:
    """The pack judges a resource as if it were in a model namespace, with no model's pod shape: the
    `each-model` policies (their parameters are one model's shape) and the `outside-model` ones
    are left to the render check and the cluster."""
    return policy.namespaces is NamespaceScope.MODEL


@lru_cache(maxsize=4)
def _policy_set(config: PackConfig) -> tuple[dict[str, Any], ...]:
    objects: list[dict[str, Any]] = [constraint_template(policy) for policy in _policies()]
    objects += expansion_templates()
    objects += [
        constraint(
            policy,
            parameters=constraint_parameters(policy, config.registries, config.exempt_images),
            match=model_namespace_match(policy),
        )
        for policy in _policies()
        if _judged(policy)
    ]
    return tuple(objects)


@lru_cache(maxsize=1)
def _judged_kinds() -> frozenset[str]:
    """Kinds a constraint matches or an ExpansionTemplate expands: nothing else can be denied, so
    a preview spends no gator run on a ConfigMap."""
    matched = {kind for policy in _policies() for entry in policy.match_kinds for kind in entry["kinds"]}
    expanded = {
        kind for template in expansion_templates() for rule in template["spec"]["applyTo"] for kind in rule["kinds"]
    }
    return frozenset(matched | expanded)


def kubernetes_object(resource_type: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Kubernetes object a `kubernetes:*` resource would apply, None for anything else.

    A `CustomResource` carries its own apiVersion and kind, which may be any kind at all (a Pod
    too), so they are taken from its inputs; for every other type they follow from the token.
    """
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    obj = dict(props)
    if parts[2].removesuffix("Patch") == "CustomResource":
        return obj if isinstance(obj.get("metadata"), Mapping) else None
    if "/" not in parts[1]:
        return None
    group, version = parts[1].split("/", 1)
    obj.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
    obj.setdefault("kind", parts[2].removesuffix("Patch"))  # a patch names the kind it patches
    return obj if isinstance(obj.get("metadata"), Mapping) else None


def _is_helm_release(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:helm.sh/") and resource_type.endswith(":Release")


@lru_cache(maxsize=1)
def pinned_charts() -> frozenset[tuple[str, str, str]]:
    """(chart, version, repository) of every Helm chart the platform pins (secure_model_serving/versions.py,
    standard library only, so the pack's virtualenv imports it without the Kubernetes SDK)."""
    charts = [value for value in vars(versions).values() if isinstance(value, versions.HelmChart)]
    return frozenset((chart.name, chart.version, chart.repository.rstrip("/")) for chart in charts)


def _judge_release(props: Mapping[str, Any]) -> list[Finding]:
    """A Helm release passes only as one of the platform's pinned charts: its manifests are not in
    the preview, so any other chart cannot be judged."""
    options = props.get("repositoryOpts")
    repository = options.get("repo") if isinstance(options, Mapping) else None
    chart = props.get("chart")
    version = props.get("version")
    if isinstance(repository, str) and (chart, version, repository.rstrip("/")) in pinned_charts():
        return []
    return [
        Finding(
            UNJUDGED,
            f"Helm release of chart {chart!r} version {version!r} from {repository!r} is not one of the charts "
            "the platform pins (secure_model_serving/versions.py); its manifests cannot be judged at preview",
        )
    ]


def unknown_paths(value: Any, path: str = "") -> list[str]:
    """The paths of every Unknown inside a plain value."""
    if isinstance(value, Unknown):
        return [value.path or path]
    if isinstance(value, Mapping):
        return [found for key, item in value.items() for found in unknown_paths(item, f"{path}.{key}")]
    if isinstance(value, list | tuple):
        return [found for index, item in enumerate(value) for found in unknown_paths(item, f"{path}[{index}]")]
    return []


_HARMLESS_UNKNOWNS = (".metadata.name", ".metadata.namespace", ".metadata.generateName")
"""Unknown values that decide no rule: an unknown namespace is judged as a model namespace."""


def validate(resource_type: str, props: Mapping[str, Any], config: PackConfig) -> list[Finding]:
    """Every violation of the policies by one resource (empty when it passes or is not judged).

    `props` is plain data (dicts, lists, scalars), with `Unknown` where preview has no value.
    """
    if _is_helm_release(resource_type):
        return _judge_release(props)
    obj = kubernetes_object(resource_type, props)
    if obj is None:
        return []
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        version = obj.get("apiVersion")
        items = [
            {"apiVersion": version, "kind": kind.removesuffix("List"), **item} if isinstance(item, Mapping) else item
            for item in obj["items"]
        ]
        return [finding for item in items for finding in _validate_object(resource_type, item, config)]
    return _validate_object(resource_type, obj, config)


def _validate_object(resource_type: str, obj: Any, config: PackConfig) -> list[Finding]:
    if not isinstance(obj, Mapping) or not isinstance(obj.get("metadata"), Mapping):
        return [Finding(UNJUDGED, f"{resource_type}: an object without metadata cannot be judged")]
    kind = obj.get("kind")
    if isinstance(kind, Unknown) or isinstance(obj.get("apiVersion"), Unknown):
        return [Finding(UNJUDGED, f"{resource_type}: its apiVersion or kind is unknown during preview")]
    if kind not in _judged_kinds():
        return []
    name = obj["metadata"].get("name")
    label = f"{kind} {name if isinstance(name, str) else '(unnamed)'}"
    if resource_type.endswith("Patch"):
        return [
            Finding(
                UNJUDGED,
                f"{label}: a patch ({resource_type}) of a kind the policies judge is refused; its target "
                "object is not in the preview, so the result of the patch cannot be judged",
            )
        ]
    unknown = [path for path in unknown_paths(obj) if path not in _HARMLESS_UNKNOWNS]
    if unknown:
        return [
            Finding(
                UNJUDGED,
                f"{label}: cannot be judged during preview, these values are unknown: {', '.join(unknown)}",
            )
        ]
    namespace = obj["metadata"].get("namespace")
    metadata = {**obj["metadata"], "namespace": namespace if isinstance(namespace, str) else None}
    document = json.dumps({**obj, "metadata": metadata}, sort_keys=True)
    try:
        return list(_validate_json(document, config))
    except (GatorError, ToolchainError, OSError) as error:
        return [Finding(UNJUDGED, f"{label}: the policy engine failed, so it is refused: {error}")]


@lru_cache(maxsize=256)
def _validate_json(document: str, config: PackConfig) -> tuple[Finding, ...]:
    # One engine run per resource, shared by the per-policy validators of the pack.
    obj = json.loads(document)
    namespace = (obj.get("metadata") or {}).get("namespace") or "default"
    if namespace in config.exempt_namespaces or obj.get("kind") not in _judged_kinds():
        return ()
    obj["metadata"]["namespace"] = namespace
    labels = {ISOLATION_LABEL: "true"}
    model_namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
    report = review([*_policy_set(config), model_namespace, obj])
    return tuple(Finding(v.constraint_name, v.message) for v in report.violations)


def config_from(values: Mapping[str, Any], fallback_registries: Sequence[str] = ()) -> PackConfig:
    """A PackConfig from the pack's policy config (registries, exemptImages, exemptNamespaces)."""
    registries = tuple(values.get("registries") or fallback_registries or default_registries())
    return PackConfig(
        registries=registries,
        exempt_images=tuple(values.get("exemptImages") or ()),
        exempt_namespaces=tuple(values.get("exemptNamespaces") or DEFAULT_EXEMPT_NAMESPACES),
    )
