"""The split step's pure parts: the platform and tenant stacks' config, and what each may hold.

The platform stack starts from `stacks/Pulumi.shared-platform.yaml` and the tenant stack from
`stacks/Pulumi.shared-churn.yaml`, changed as the tier changes production (preinstalled add-ons,
no External Secrets sync, gateway off), and the tenant's `platformStack` names the platform stack
in the tier's file backend. The platform keeps its alerts' `secretName`: its tenants validate the
platform's alert settings too, and the `alertUrl` Pulumi secret is never exported to them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.e2e_pulumi.project import PROJECT, e2e_stack_config
from tools.mock_engine import REPO_ROOT

__all__ = [
    "PLATFORM_STACK",
    "REFUSED_KEY",
    "TENANT_STACK",
    "platform_stack_config",
    "refusal_names",
    "registered_namespaces",
    "tenant_objects",
    "tenant_stack_config",
]

PLATFORM_STACK = "split-platform"
TENANT_STACK = "split-churn"
REFUSED_KEY = "admission"
"""A platform key the tenant stack sets once, for the preview that must refuse it."""
_BACKEND_ORG = "organization"
"""The organization of every stack of a file backend (`organization/<project>/<stack>`)."""


def _key(name: str) -> str:
    return f"{PROJECT}:{name}"


def _stack_config(name: str) -> dict[str, Any]:
    document = yaml.safe_load((REPO_ROOT / "stacks" / f"Pulumi.{name}.yaml").read_text(encoding="utf-8"))
    return dict(document["config"])


def platform_stack_config(kubeconfig: Path) -> dict[str, Any]:
    """The platform stack's `config:` map: shared-platform, as the tier changes production, but
    with its alerts' existing Secret kept (no `alertUrl` to set)."""
    shared = _stack_config("shared-platform")
    config = e2e_stack_config(shared, kubeconfig)
    config[_key("runtime")]["alerts"] = copy.deepcopy(shared[_key("runtime")]["alerts"])
    return config


def tenant_stack_config(kubeconfig: Path) -> dict[str, Any]:
    """The tenant stack's `config:` map: shared-churn on the platform stack of this backend, its
    secrets off (an ExternalSecret waits for an operator the sandbox does not run)."""
    config = copy.deepcopy(_stack_config("shared-churn"))
    config.pop("kubernetes:context", None)
    config["kubernetes:kubeconfig"] = str(kubeconfig)
    config[_key("platformStack")] = f"{_BACKEND_ORG}/{PROJECT}/{PLATFORM_STACK}"
    config.pop(_key("secrets"), None)
    return config


def registered_namespaces(platform: Mapping[str, Any]) -> list[str]:
    """The tenant namespaces a platform stack's config registers."""
    return [str(tenant["namespace"]) for tenant in platform[_key("tenants")]]


def tenant_objects(objects: Iterable[Mapping[str, Any]], namespaces: Iterable[str]) -> list[str]:
    """`kind name` of each object that belongs to one of the tenant `namespaces`: in it, the
    namespace itself, or a cluster-wide object named for it (`...-<namespace>`)."""
    wanted = set(namespaces)
    found = []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        name = str(metadata.get("name", ""))
        mine = (
            metadata.get("namespace") in wanted
            or (obj.get("kind") == "Namespace" and name in wanted)
            or any(name.endswith(f"-{namespace}") or name.startswith(f"{namespace}-") for namespace in wanted)
        )
        if mine:
            found.append(f"{obj.get('kind')} {name}")
    return found


def refusal_names(output: str, key: str) -> bool:
    """True when a program's output is the settings error naming the platform key `key`, and no
    Python traceback."""
    return f"{_key(key)}: belongs to the platform stack" in output and "Traceback" not in output
