"""The `runtime` section: Falco runtime detection and where its alerts go."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ..serving_vocabulary import AlertOutput, FalcoPriority
from .values import (
    Cidr,
    DnsLabel,
    KeyedError,
    ResourceAmounts,
    SecretKeyName,
    SettingsModel,
    not_above,
)


class AlertSettings(SettingsModel):
    """Falcosidekick's output. Its URL comes from a Kubernetes Secret: an existing one named here
    (nothing in Pulumi state), or one the stack writes from the `alertUrl` Pulumi secret."""

    output: AlertOutput = Field(
        default=AlertOutput.NONE,
        description="where Falcosidekick forwards alerts: `none`, `slack` or `webhook`; `prod` requires one",
    )
    secret_name: DnsLabel | None = Field(
        default=None,
        alias="secretName",
        description=(
            "existing Secret (in Falco's namespace) holding the Slack or webhook URL; an output needs"
            " this or `alertUrl`, not both"
        ),
    )
    secret_key: SecretKeyName = Field(
        default="url",
        alias="secretKey",
        description="the key of that Secret (or of the one written from `alertUrl`) holding the URL",
    )
    minimum_priority: FalcoPriority = Field(
        default=FalcoPriority.WARNING, alias="minimumPriority", description="lowest Falco priority forwarded"
    )


class RuntimeSettings(SettingsModel):
    """Falco runtime detection on every node, including the dedicated model node pool."""

    enabled: bool = Field(
        default=True, strict=True, description="install Falco (runtime detection); `prod` requires it"
    )
    namespace: DnsLabel = Field(
        default="falco",
        description=(
            "Falco's namespace (PSA `enforce: privileged` for the eBPF probe, `audit: restricted`; "
            "exempt from the admission webhook)"
        ),
    )
    requests: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="100m", memory="512Mi", ephemeralStorage="256Mi"),
        description=(
            "resources the Falco container requests (`cpu`, `memory`, `ephemeralStorage`; requests <= limits)"
        ),
    )
    limits: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="1", memory="1Gi", ephemeralStorage="1Gi"),
        description=(
            "resource limits of the Falco container (`cpu`, `memory`, `ephemeralStorage`; requests <= limits)"
        ),
    )
    allowed_processes: list[Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9._+-]{1,15}$")]] = Field(
        default_factory=lambda: ["python3", "gunicorn"],
        alias="allowedProcesses",
        min_length=1,
        description=(
            'process names a model container may start (the exception of the "Unexpected process" '
            "rule); a shell always alerts"
        ),
    )
    allowed_egress: list[Cidr] = Field(
        default_factory=list,
        alias="allowedEgress",
        description=("CIDR blocks model containers may connect to without an alert (loopback and DNS always may)"),
    )
    alerts: AlertSettings = AlertSettings()

    @model_validator(mode="after")
    def _requests_within_limits(self) -> RuntimeSettings:
        try:
            not_above(self.requests, self.limits, "requests must not exceed limits")
        except ValueError as error:
            raise KeyedError("runtime.requests", str(error)) from None
        return self
