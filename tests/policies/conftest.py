"""Session-wide policy sets for the policy tests: each is compiled once (about a second each)."""

from __future__ import annotations

import pytest

from policies import Policy, constraint, constraint_template, expansion_templates, load_policies
from tests.policies.support import engine_for, fixture_parameters, policy_objects
from tools.policy_engine import PolicyEngine

# A second constraint of the same kind in each single-policy set: the fast path evaluates both
# in one query, each with its own input.parameters, so parameters leaking from one constraint to
# the other would make the two paths disagree.
VARIANT_SUFFIX = "-variant"
VARIANT_EXEMPTION = {"exemptImages": ["registry.example.com/models/*"]}


@pytest.fixture(scope="session")
def policies() -> list[Policy]:
    """The policy library, with fixtures required."""
    return load_policies()


@pytest.fixture(scope="session")
def policies_by_name(policies: list[Policy]) -> dict[str, Policy]:
    return {p.name: p for p in policies}


@pytest.fixture(scope="session")
def fixture_set(policies: list[Policy]) -> PolicyEngine:
    """Every policy, each constraint with its own fixtures/parameters.yaml."""
    return engine_for(policy_objects(policies, {p.name: fixture_parameters(p) for p in policies}))


@pytest.fixture(scope="session")
def single_policy_sets(policies: list[Policy]) -> dict[str, PolicyEngine]:
    """Per policy: its template, the ExpansionTemplates, its fixture constraint and a variant."""
    engines = {}
    for policy in policies:
        variant = VARIANT_EXEMPTION if "exemptImages" in policy.parameters_schema.get("properties", {}) else None
        objects = [
            constraint_template(policy),
            *expansion_templates(),
            constraint(policy, parameters=fixture_parameters(policy)),
            constraint(policy, policy.name + VARIANT_SUFFIX, parameters=variant),
        ]
        engines[policy.name] = engine_for(objects)
    return engines
