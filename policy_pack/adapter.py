"""Adapt policy_pack.validation to pulumi_policy: one ResourceValidationPolicy per Rego policy.

Each Pulumi policy is named after its folder under policies/, so a preview names the rule that
failed, and its enforcement level can be tuned per policy with Pulumi's policy config. The rules
of the Pod Security Standards are mandatory; the others default to `default_level`.
"""

from __future__ import annotations

from collections.abc import Callable

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, ResourceValidationPolicy

from policy_pack.validation import RESTRICTED_POLICIES, config_from, policy_names, validate

__all__ = ["build_policies"]

_CONFIG_SCHEMA_PROPERTIES = {
    "registries": {"type": "array", "items": {"type": "string"}},
    "exemptImages": {"type": "array", "items": {"type": "string"}},
    "exemptNamespaces": {"type": "array", "items": {"type": "string"}},
}


def _validator(policy: str) -> Callable[[ResourceValidationArgs, Callable[[str, str | None], None]], None]:
    def check(args: ResourceValidationArgs, report_violation: Callable[[str, str | None], None]) -> None:
        config = config_from(args.get_config())
        for finding in validate(args.resource_type, args.props, config):
            if finding.policy == policy:
                report_violation(finding.message, args.urn)

    return check


def build_policies(default_level: EnforcementLevel = EnforcementLevel.MANDATORY) -> list[ResourceValidationPolicy]:
    """One ResourceValidationPolicy per policy folder; the restricted ones are always mandatory."""
    return [
        ResourceValidationPolicy(
            name=name,
            description=f"Gatekeeper policy {name} (policies/{name}/src.rego), checked at preview.",
            validate=_validator(name),
            enforcement_level=EnforcementLevel.MANDATORY if name in RESTRICTED_POLICIES else default_level,
            config_schema=PolicyConfigSchema(properties=_CONFIG_SCHEMA_PROPERTIES),
        )
        for name in policy_names()
    ]
