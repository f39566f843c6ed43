"""The as-deployed sample of every policy's suite: its constraint as the prod stack deploys it.

Each policy folder's `constraint.yaml` is generated (`python -m secure_model_serving.policies`) from
the prod stack's render: the constraint cluster/admission.py builds with policies.parameters.constraint_parameters
or, for an `each-model` policy, with the prod model's pod shape (tenant/model_tenant.py,
tenant_pod_shape). So the suite judges its fixtures with exactly what the cluster enforces, and no
test restates a parameter. Other settings of a policy's parameters are extra samples
(`samples/<setting>/constraint.yaml`), written by hand and named after what they set.

Two parts of the deployed constraint are left out of the sample, both tested elsewhere:
* its namespace selection (`spec.match.namespaceSelector`, `spec.match.namespaces`): a suite
  judges objects on their own, without their namespace (tests/components/test_admission.py
  checks the selection, `make e2e` applies it);
* its name, for an `each-model` constraint (`<policy>-<namespace>`): every sample is named after
  its policy, so a verdict names the policy that gave it.

This module renders the program, so it needs the development environment (Pulumi and the
components); nothing but the generator and the tests import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from . import CONSTRAINT_API_VERSION, NamespaceScope, Policy, PolicyError

__all__ = ["CONSTRAINT_FILE", "DEPLOYED_STACK", "deployed_constraints", "render_constraint"]

DEPLOYED_STACK = "prod"
"""The stack whose constraints are the suites' as-deployed samples."""
CONSTRAINT_FILE = "constraint.yaml"
"""Each policy folder's generated as-deployed sample."""

_NAMESPACE_MATCH = ("namespaceSelector", "namespaces")


def deployed_constraints(
    policies: Sequence[Policy], objects: Iterable[Mapping[str, Any]] | None = None, stack: str = DEPLOYED_STACK
) -> dict[str, dict[str, Any]]:
    """Per policy name, its constraint in the stack's render (`objects`, rendered when None), as
    the suite's sample.

    An `each-model` policy has one constraint per model namespace: the first in name order is taken.

    Raises:
        PolicyError: a policy has no constraint in the render, or several where one is deployed.
    """
    if objects is None:
        from tools.render import render_objects  # the program, on the mock engine: needs Pulumi

        objects = render_objects(stack)
    found: dict[str, list[Mapping[str, Any]]] = {}
    for document in objects:
        if document.get("apiVersion") == CONSTRAINT_API_VERSION:
            found.setdefault(document["kind"], []).append(document)
    samples = {}
    for policy in policies:
        deployed = sorted(found.get(policy.kind, []), key=lambda document: document["metadata"]["name"])
        if not deployed:
            raise PolicyError(f"{policy.name}: the {stack} stack deploys no {policy.kind} constraint")
        if len(deployed) > 1 and policy.namespaces is not NamespaceScope.EACH_MODEL:
            raise PolicyError(f"{policy.name}: the {stack} stack deploys {len(deployed)} constraints, expected one")
        samples[policy.name] = _sample(policy, deployed[0])
    return samples


def _sample(policy: Policy, document: Mapping[str, Any]) -> dict[str, Any]:
    spec = dict(document["spec"])
    spec["match"] = {key: value for key, value in spec["match"].items() if key not in _NAMESPACE_MATCH}
    return {
        "apiVersion": document["apiVersion"],
        "kind": document["kind"],
        "metadata": {"name": policy.name},
        "spec": spec,
    }


def render_constraint(policy: Policy, sample: dict[str, Any], stack: str = DEPLOYED_STACK) -> str:
    """The text of a policy's generated constraint.yaml."""
    header = (
        f"# Generated from the {stack} stack's render by `python -m secure_model_serving.policies`"
        " (secure_model_serving/policies/deployed.py): do not edit.\n"
        f"# The as-deployed sample of {policy.name}: the constraint the platform deploys, without its\n"
        "# namespace selection. Other settings are samples/<setting>/constraint.yaml.\n"
    )
    return header + yaml.safe_dump(sample, sort_keys=False, width=120)
