"""The `runtime` section: Falco runtime detection and where its alerts go."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from components.settings.values import (
    Cidr,
    DnsLabel,
    KeyedError,
    ResourceAmounts,
    SecretKeyName,
    SettingsModel,
    not_above,
)
from serving_vocabulary import AlertOutput, FalcoPriority


class AlertSettings(SettingsModel):
    """Falcosidekick's output. Its URL comes from a Kubernetes Secret: an existing one named here
    (nothing in Pulumi state), or one the stack writes from the `alertUrl` Pulumi secret."""

    output: AlertOutput = AlertOutput.NONE
    secret_name: DnsLabel | None = Field(default=None, alias="secretName")
    secret_key: SecretKeyName = Field(default="url", alias="secretKey")
    minimum_priority: FalcoPriority = Field(default=FalcoPriority.WARNING, alias="minimumPriority")


class RuntimeSettings(SettingsModel):
    """Falco runtime detection on every node, including the dedicated model node pool."""

    enabled: bool = Field(default=True, strict=True)
    namespace: DnsLabel = "falco"
    requests: ResourceAmounts = ResourceAmounts(cpu="100m", memory="512Mi", ephemeralStorage="256Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="1", memory="1Gi", ephemeralStorage="1Gi")
    allowed_processes: list[Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9._+-]{1,15}$")]] = Field(
        default_factory=lambda: ["python3", "gunicorn"], alias="allowedProcesses", min_length=1
    )
    allowed_egress: list[Cidr] = Field(default_factory=list, alias="allowedEgress")
    alerts: AlertSettings = AlertSettings()

    @model_validator(mode="after")
    def _requests_within_limits(self) -> RuntimeSettings:
        try:
            not_above(self.requests, self.limits, "requests must not exceed limits")
        except ValueError as error:
            raise KeyedError("runtime.requests", str(error)) from None
        return self
