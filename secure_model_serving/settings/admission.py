"""The `admission` section: OPA Gatekeeper's webhook and its constraints."""

from __future__ import annotations

from pydantic import Field

from ..serving_vocabulary import EnforcementAction, FailurePolicy
from .values import DigestImage, DnsLabel, SettingsModel


class AdmissionSettings(SettingsModel):
    """OPA Gatekeeper: the webhook, and the constraints on the model namespaces."""

    enforcement_action: EnforcementAction = Field(
        default=EnforcementAction.DENY,
        alias="enforcementAction",
        description=("what every constraint does with a violation: `deny`, `warn` or `dryrun`; `prod` requires `deny`"),
    )
    failure_policy: FailurePolicy = Field(
        default=FailurePolicy.FAIL,
        alias="failurePolicy",
        description=("Gatekeeper webhook failure policy: `Fail` (closed) or `Ignore` (open); `prod` requires `Fail`"),
    )
    replicas: int = Field(
        default=3,
        strict=True,
        ge=1,
        description="Gatekeeper webhook replicas (>= 2 in `prod`); the PodDisruptionBudget keeps all but one",
    )
    namespace: DnsLabel = Field(default="gatekeeper-system", description="Gatekeeper's namespace (PSA `restricted`)")
    exempt_namespaces: list[DnsLabel] = Field(
        default_factory=list,
        alias="exemptNamespaces",
        description="more namespaces the webhook skips (`kube-system` and the DNS namespace always are)",
    )
    exempt_images: list[DigestImage] = Field(
        default_factory=list,
        alias="exemptImages",
        description=(
            "exact digest-pinned images (e.g. the mesh proxy) excused from the UID floor, the "
            "registry allow-list and the pull-policy rule only"
        ),
    )
    audit_interval_seconds: int = Field(
        default=60,
        strict=True,
        ge=10,
        le=3600,
        alias="auditIntervalSeconds",
        description="how often Gatekeeper audits existing objects (10-3600)",
    )
