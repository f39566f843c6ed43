"""The admission policies as installed, read once per program.

Every model tenant adds constraints of the same policies and grants its auditors read access to
their constraint kinds: reading the policy folders once, not once per tenant, keeps a shared
cluster's render linear in its tenants (benchmarks/tenants.py).
"""

from __future__ import annotations

from functools import lru_cache

from .policies import Policy, load_policies

__all__ = ["installed_policies"]


@lru_cache(maxsize=1)
def installed_policies() -> tuple[Policy, ...]:
    """Every policy with its Rego (fixtures are a test concern, not an install's)."""
    return tuple(load_policies(require_fixtures=False))
