"""Judge one Pulumi resource with the project's Gatekeeper policies (no pulumi_policy import).

The Pulumi policy pack calls `validate(resource_type, props)` for every resource of a preview.
A Kubernetes object (type token `kubernetes:<group>/<version>:<Kind>`) is rebuilt from its
inputs and judged by gator, Gatekeeper's own engine (tools/gator.py: the OPA and constraint
framework the webhook runs), with the ConstraintTemplates, Constraints and ExpansionTemplates
built from policies/ exactly as components/admission.py builds them, so a Deployment is judged as
the Pod it creates. The Rego in policies/*/src.rego stays the single source of truth and one
engine judges it everywhere: nothing here restates a rule.

Every namespace except the exempt ones is treated as a model namespace (the constraints select
namespaces by label, and a resource seen alone carries no Namespace labels): fail closed, as
`python -m tools.policy` does for namespaces it does not know.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from policies import NamespaceScope, Policy, constraint, constraint_template, expansion_templates, load_policies
from policies.parameters import ISOLATION_LABEL, constraint_parameters, model_namespace_match
from tools.gator import review

REPO_ROOT = Path(__file__).resolve().parent.parent

__all__ = [
    "DEFAULT_EXEMPT_NAMESPACES",
    "RESTRICTED_POLICIES",
    "Finding",
    "PackConfig",
    "config_from",
    "default_registries",
    "kubernetes_object",
    "policy_names",
    "validate",
]

DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "gatekeeper-system")
"""Namespaces the webhook never judges, so the pack does not either."""

RESTRICTED_POLICIES = frozenset(
    {
        "deny-custom-selinux-options",
        "deny-disallowed-volume-types",
        "deny-extra-capabilities",
        "deny-host-namespaces",
        "deny-host-path-volumes",
        "deny-host-ports",
        "deny-privilege-escalation",
        "deny-privileged-containers",
        "deny-run-as-root",
        "deny-unconfined-apparmor",
        "deny-unconfined-seccomp",
        "deny-unmasked-proc-mount",
        "deny-unsafe-sysctls",
        "deny-windows-host-process",
    }
)
"""The rules of the Pod Security Standards (baseline and restricted): always mandatory in the pack."""

_PROJECT = "secure-model-serving"


@dataclass(frozen=True)
class PackConfig:
    """What the constraints need from a stack: registries, exempt images and namespaces."""

    registries: tuple[str, ...]
    exempt_images: tuple[str, ...] = ()
    exempt_namespaces: tuple[str, ...] = DEFAULT_EXEMPT_NAMESPACES


@dataclass(frozen=True)
class Finding:
    """One violation: the policy (folder name under policies/) and its message."""

    policy: str
    message: str


def default_registries(stack: str = "prod") -> tuple[str, ...]:
    """The registries of a stack file, for when the pack is given none in its config."""
    document = yaml.safe_load((REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text()) or {}
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
    """The Kubernetes object a `kubernetes:*` resource would apply, None for anything else."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or "/" not in parts[1]:
        return None
    group, version = parts[1].split("/", 1)
    if group.endswith(".sh") and group.startswith("helm"):
        return None  # Helm releases are not objects; their charts are reviewed elsewhere
    obj = dict(props)
    obj.setdefault("apiVersion", version if group == "core" else f"{group}/{version}")
    obj.setdefault("kind", parts[2])
    return obj if isinstance(obj.get("metadata"), Mapping) else None


def validate(resource_type: str, props: Mapping[str, Any], config: PackConfig) -> list[Finding]:
    """Every violation of the policies by one resource (empty when it passes or is not judged)."""
    obj = kubernetes_object(resource_type, props)
    if obj is None:
        return []
    return list(_validate_json(json.dumps(obj, sort_keys=True, default=str), config))


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
