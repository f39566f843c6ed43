"""The project's vocabulary: every choice a setting, a component or a tool names, as a `StrEnum`.

The settings parse stack files into these, the components' Args take them (a plain string with the
same value is accepted: a StrEnum member equals its value), and the tools judge renders with them,
so a choice is spelled once and a new one reaches every reader.

Standard library only, like serving_contract.py, because its readers include the policy pack and
the offline tools, which run without Pulumi's Kubernetes SDK.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Addon",
    "AlertOutput",
    "CertificateIssuer",
    "EnforcementAction",
    "Environment",
    "FailurePolicy",
    "FalcoPriority",
    "PodSecurityMode",
    "Role",
    "SecretProvider",
    "SupplyChainMode",
    "choices",
]


def choices(enum: type[StrEnum]) -> str:
    """The values of `enum`, for an error message: "deny, warn, dryrun"."""
    return ", ".join(member.value for member in enum)


class Environment(StrEnum):
    """The environments a stack can be; they differ in strictness and availability."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"

    @property
    def is_production(self) -> bool:
        """Production must stay up through a node loss and must not be deleted by accident."""
        return self is Environment.PROD


class EnforcementAction(StrEnum):
    """What Gatekeeper does with a violation: refuse it, or only report it."""

    DENY = "deny"
    WARN = "warn"
    DRYRUN = "dryrun"


class FailurePolicy(StrEnum):
    """What the API server does when Gatekeeper's webhook cannot answer."""

    FAIL = "Fail"
    IGNORE = "Ignore"


class AlertOutput(StrEnum):
    """Where Falcosidekick forwards Falco's alerts (besides its own log)."""

    NONE = "none"
    SLACK = "slack"
    WEBHOOK = "webhook"


class FalcoPriority(StrEnum):
    """Falco rule priorities, lowest first; alerts below the chosen one are not forwarded."""

    DEBUG = "debug"
    INFORMATIONAL = "informational"
    NOTICE = "notice"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"
    ALERT = "alert"
    EMERGENCY = "emergency"


class SecretProvider(StrEnum):
    """The external secret store the model's secrets come from."""

    VAULT = "vault"
    AWS = "aws"
    GCP = "gcp"


class CertificateIssuer(StrEnum):
    """Where the gateway's certificate comes from."""

    SELF_SIGNED = "selfSigned"
    ACME = "acme"


class SupplyChainMode(StrEnum):
    """What the image policy does with an unsigned image."""

    ENFORCE = "enforce"
    WARN = "warn"


class Addon(StrEnum):
    """An add-on whose Helm release (and namespace) a stack can leave to the cluster's platform."""

    GATEKEEPER = "gatekeeper"
    FALCO = "falco"
    EXTERNAL_SECRETS = "external-secrets"
    ISTIO = "istio"
    POLICY_CONTROLLER = "policy-controller"
    CERT_MANAGER = "cert-manager"


class Role(StrEnum):
    """What a stack builds: everything (one stack), or its part of a split ownership."""

    ALL = "all"
    """The platform and its model tenants, in one stack."""
    PLATFORM = "platform"
    """The shared platform only, for the tenants it registers (`tenants`); tenant stacks add the models."""
    TENANT = "tenant"
    """One model tenant, on the platform another stack runs (`platformStack`)."""


class PodSecurityMode(StrEnum):
    """The modes of Pod Security Admission: each is one label `pod-security.kubernetes.io/<mode>`."""

    ENFORCE = "enforce"
    AUDIT = "audit"
    WARN = "warn"
