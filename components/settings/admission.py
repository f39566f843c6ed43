"""The `admission` section: OPA Gatekeeper's webhook and its constraints."""

from __future__ import annotations

from pydantic import Field

from components.settings.values import DigestImage, DnsLabel, SettingsModel
from serving_vocabulary import EnforcementAction, FailurePolicy


class AdmissionSettings(SettingsModel):
    """OPA Gatekeeper: the webhook, and the constraints on the model namespaces."""

    enforcement_action: EnforcementAction = Field(default=EnforcementAction.DENY, alias="enforcementAction")
    failure_policy: FailurePolicy = Field(default=FailurePolicy.FAIL, alias="failurePolicy")
    replicas: int = Field(default=3, strict=True, ge=1)
    namespace: DnsLabel = "gatekeeper-system"
    exempt_namespaces: list[DnsLabel] = Field(default_factory=list, alias="exemptNamespaces")
    exempt_images: list[DigestImage] = Field(default_factory=list, alias="exemptImages")
    audit_interval_seconds: int = Field(default=60, strict=True, ge=10, le=3600, alias="auditIntervalSeconds")
