"""Every pinned version the platform deploys, in one place.

Bump a version here and nowhere else; the components, the renderer and the tests read the same
constants. Chart versions are exact (never a range), so `pulumi preview` shows an upgrade as a diff.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXTERNAL_SECRETS", "FALCO", "GATEKEEPER", "POD_SECURITY_LEVEL", "HelmChart"]

POD_SECURITY_LEVEL = "restricted"
"""Pod Security Standards level enforced, audited and warned on in every model namespace."""


@dataclass(frozen=True)
class HelmChart:
    """A Helm chart pinned to one version, and the repository it comes from."""

    name: str
    version: str
    repository: str


GATEKEEPER = HelmChart(
    name="gatekeeper",
    version="3.23.0",
    repository="https://open-policy-agent.github.io/gatekeeper/charts",
)
"""OPA Gatekeeper: ConstraintTemplates v1 with Rego v1 `code` sources and ExpansionTemplates."""

FALCO = HelmChart(
    name="falco",
    version="4.20.0",
    repository="https://falcosecurity.github.io/charts",
)
"""Falco with the modern eBPF probe (least-privileged mode), `customRules` and Falcosidekick."""

EXTERNAL_SECRETS = HelmChart(
    name="external-secrets",
    version="0.19.2",
    repository="https://charts.external-secrets.io",
)
"""External Secrets Operator; serves `external-secrets.io/v1` SecretStore and ExternalSecret."""
