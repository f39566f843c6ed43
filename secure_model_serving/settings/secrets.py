"""The `secrets` section: External Secrets Operator, its store provider and the model's secrets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ..serving_vocabulary import SecretProvider
from .values import (
    GCP_SERVICE_ACCOUNT,
    ROLE_ARN,
    STORE_PATH,
    DnsLabel,
    Duration,
    HttpsOrigin,
    KeyedError,
    SecretKeyName,
    SettingsModel,
)


class VaultSettings(SettingsModel):
    """HashiCorp Vault, KV engine, Kubernetes auth with a role bound to the store's ServiceAccount."""

    server: HttpsOrigin = Field(description="Vault (KV v2) address (`https://`, no path)")
    role: Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.-]{1,128}$")] = Field(
        description="the Kubernetes-auth role bound to the `secret-store` ServiceAccount"
    )
    path: Annotated[str, Field(strict=True, pattern=STORE_PATH)] = Field(default="secret", description="the KV mount")
    auth_mount_path: Annotated[str, Field(strict=True, pattern=STORE_PATH)] = Field(
        default="kubernetes", alias="authMountPath", description="the Kubernetes auth mount"
    )


class AwsSettings(SettingsModel):
    """AWS Secrets Manager through IRSA: the store's ServiceAccount is annotated with the role."""

    region: Annotated[str, Field(strict=True, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] = Field(
        description="AWS Secrets Manager region"
    )
    role_arn: Annotated[str, Field(strict=True, pattern=ROLE_ARN)] = Field(
        alias="roleArn", description="the IAM role the `secret-store` ServiceAccount assumes (IRSA annotation)"
    )


class GcpSettings(SettingsModel):
    """GCP Secret Manager through GKE workload identity."""

    project_id: Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] = Field(
        alias="projectID", description="GCP Secret Manager project"
    )
    service_account: Annotated[str, Field(strict=True, pattern=GCP_SERVICE_ACCOUNT)] = Field(
        alias="serviceAccount", description="the Google service account bound by workload identity"
    )
    cluster_location: Annotated[str, Field(strict=True, pattern=r"^[a-z]+-[a-z]+[0-9](-[a-z])?$")] = Field(
        alias="clusterLocation", description="the GKE cluster's location"
    )
    cluster_name: DnsLabel = Field(alias="clusterName", description="the GKE cluster's name")


class ModelSecret(SettingsModel):
    """One Kubernetes Secret synced from the store and mounted as files into the model pod."""

    name: DnsLabel
    remote_key: Annotated[str, Field(strict=True, pattern=STORE_PATH)] = Field(alias="remoteKey")
    properties: list[SecretKeyName] = Field(min_length=1)


class SecretsSettings(SettingsModel):
    """External Secrets Operator: one SecretStore in the model namespace, one ExternalSecret per item."""

    provider: SecretProvider | None = Field(
        default=None,
        description=(
            "`vault`, `aws` or `gcp` (unset: no secrets): installs External Secrets Operator and a "
            "SecretStore in the model namespace; its section below is required"
        ),
    )
    namespace: DnsLabel = Field(
        default="external-secrets",
        description="the operator's namespace (PSA `restricted`; exempt from the admission webhook)",
    )
    refresh_interval: Duration = Field(
        default="1h",
        alias="refreshInterval",
        description="how often each ExternalSecret re-reads the store (`1h`, `15m`, ...)",
    )
    vault: VaultSettings | None = None
    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None
    items: list[ModelSecret] = Field(
        default_factory=list,
        description=(
            "the model's secrets: each `{name, remoteKey, properties}` becomes an ExternalSecret and "
            "a Secret `name` whose keys are `properties`, mounted at "
            "`/var/run/secrets/model/<name>/<property>`"
        ),
    )

    @model_validator(mode="after")
    def _provider_configured(self) -> SecretsSettings:
        if self.items and self.provider is None:
            raise KeyedError("secrets.provider", "items need a provider: vault, aws or gcp")
        if self.provider is not None and getattr(self, self.provider.value) is None:
            key = self.provider.value
            raise KeyedError(f"secrets.{key}", f"provider {key} needs its section secrets.{key}")
        for other in SecretProvider:
            if other is not self.provider and getattr(self, other.value) is not None:
                raise KeyedError(f"secrets.{other.value}", "set only the section of the chosen provider")
        names = [item.name for item in self.items]
        if len(set(names)) != len(names):
            raise KeyedError("secrets.items", "secret names must be unique")
        return self
