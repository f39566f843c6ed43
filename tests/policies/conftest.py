"""Session-wide fixtures of the policy tests: the policy library."""

from __future__ import annotations

import pytest

from secure_model_serving.policies import Policy, load_policies


@pytest.fixture(scope="session")
def policies() -> list[Policy]:
    """The policy library, with fixtures required."""
    return load_policies()


@pytest.fixture(scope="session")
def policies_by_name(policies: list[Policy]) -> dict[str, Policy]:
    return {p.name: p for p in policies}
