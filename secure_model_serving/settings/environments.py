"""What staging and production require beyond the defaults: one table, evaluated in one place.

Each rule is (key, predicate, message) for a set of environments: the key the error names, what
must hold, and what the error says when it does not. The defaults already meet every rule; a rule
stops a stack from loosening, in the environments it names, what only dev may loosen. Rules with
`per_model` are judged once per model (a `models:` entry's key is spelled as the entry's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..serving_vocabulary import (
    AlertOutput,
    CertificateIssuer,
    EnforcementAction,
    Environment,
    FailurePolicy,
    SupplyChainMode,
)
from .values import KeyedError

if TYPE_CHECKING:
    from .stack import StackSettings

PRODUCTION = frozenset(environment for environment in Environment if environment.is_production)
STAGING_AND_PRODUCTION = frozenset(Environment) - {Environment.DEV}


@dataclass(frozen=True)
class EnvironmentRule:
    """One requirement of some environments: `holds(settings)` or an error naming `key`."""

    key: str
    holds: Callable[[StackSettings], bool]
    message: str
    environments: frozenset[Environment]
    per_model: bool = False


def _signatures_verified(settings: StackSettings) -> bool:
    return settings.supply_chain is not None and settings.supply_chain.enabled


def _signatures_enforced(settings: StackSettings) -> bool:
    return settings.supply_chain is not None and settings.supply_chain.mode is SupplyChainMode.ENFORCE


# In the order they are judged: the first rule broken is the one reported.
ENVIRONMENT_RULES: tuple[EnvironmentRule, ...] = (
    EnvironmentRule(
        "model.replicas",
        lambda s: s.tenant.replicas >= 2,
        "production stacks need at least 2 replicas",
        PRODUCTION,
        per_model=True,
    ),
    EnvironmentRule(
        "model.autoscaling.minReplicas",
        lambda s: not s.tenant.autoscaling.enabled or s.tenant.autoscaling.min_replicas >= 2,
        "production stacks need at least 2 replicas",
        PRODUCTION,
        per_model=True,
    ),
    EnvironmentRule(
        "admission.enforcementAction",
        lambda s: s.admission.enforcement_action is EnforcementAction.DENY,
        "production stacks must use deny",
        PRODUCTION,
    ),
    EnvironmentRule(
        "admission.failurePolicy",
        lambda s: s.admission.failure_policy is FailurePolicy.FAIL,
        "production stacks must fail closed (Fail)",
        PRODUCTION,
    ),
    EnvironmentRule(
        "admission.replicas",
        lambda s: s.admission.replicas >= 2,
        "production stacks need at least 2 webhook replicas",
        PRODUCTION,
    ),
    EnvironmentRule("runtime.enabled", lambda s: s.runtime.enabled, "production stacks must run Falco", PRODUCTION),
    EnvironmentRule(
        "runtime.alerts.output",
        lambda s: s.runtime.alerts.output is not AlertOutput.NONE,
        "production stacks must forward alerts (slack or webhook)",
        PRODUCTION,
    ),
    EnvironmentRule(
        "mesh.enabled",
        lambda s: s.mesh.enabled,
        "production stacks must run the mesh (mTLS and authorization)",
        PRODUCTION,
    ),
    EnvironmentRule(
        "mesh.gateway.issuer",
        lambda s: not s.mesh.gateway.enabled or s.mesh.gateway.issuer is CertificateIssuer.ACME,
        "production stacks must use acme, not a self-signed CA",
        PRODUCTION,
    ),
    EnvironmentRule(
        "supplyChain.enabled",
        _signatures_verified,
        "staging and production stacks must verify image signatures",
        STAGING_AND_PRODUCTION,
    ),
    EnvironmentRule(
        "supplyChain.mode",
        _signatures_enforced,
        "staging and production stacks must use enforce",
        STAGING_AND_PRODUCTION,
    ),
)


def check_environment(settings: StackSettings, *, per_model: bool) -> None:
    """Raise KeyedError for the first rule of the stack's environment that does not hold:
    the per-model rules (`per_model`) on a one-model view, or the stack-wide ones."""
    for rule in ENVIRONMENT_RULES:
        if rule.per_model is per_model and settings.environment in rule.environments and not rule.holds(settings):
            raise KeyedError(rule.key, rule.message)
