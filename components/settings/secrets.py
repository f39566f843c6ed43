"""The `secrets` section: External Secrets Operator, its store provider and the model's secrets."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from components.settings.values import (
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
from serving_vocabulary import SecretProvider


class VaultSettings(SettingsModel):
    """HashiCorp Vault, KV engine, Kubernetes auth with a role bound to the store's ServiceAccount."""

    server: HttpsOrigin
    role: Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
    path: Annotated[str, Field(strict=True, pattern=STORE_PATH)] = "secret"
    auth_mount_path: Annotated[str, Field(strict=True, pattern=STORE_PATH)] = Field(
        default="kubernetes", alias="authMountPath"
    )


class AwsSettings(SettingsModel):
    """AWS Secrets Manager through IRSA: the store's ServiceAccount is annotated with the role."""

    region: Annotated[str, Field(strict=True, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
    role_arn: Annotated[str, Field(strict=True, pattern=ROLE_ARN)] = Field(alias="roleArn")


class GcpSettings(SettingsModel):
    """GCP Secret Manager through GKE workload identity."""

    project_id: Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] = Field(alias="projectID")
    service_account: Annotated[str, Field(strict=True, pattern=GCP_SERVICE_ACCOUNT)] = Field(alias="serviceAccount")
    cluster_location: Annotated[str, Field(strict=True, pattern=r"^[a-z]+-[a-z]+[0-9](-[a-z])?$")] = Field(
        alias="clusterLocation"
    )
    cluster_name: DnsLabel = Field(alias="clusterName")


class ModelSecret(SettingsModel):
    """One Kubernetes Secret synced from the store and mounted as files into the model pod."""

    name: DnsLabel
    remote_key: Annotated[str, Field(strict=True, pattern=STORE_PATH)] = Field(alias="remoteKey")
    properties: list[SecretKeyName] = Field(min_length=1)


class SecretsSettings(SettingsModel):
    """External Secrets Operator: one SecretStore in the model namespace, one ExternalSecret per item."""

    provider: SecretProvider | None = None
    namespace: DnsLabel = "external-secrets"
    refresh_interval: Duration = Field(default="1h", alias="refreshInterval")
    vault: VaultSettings | None = None
    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None
    items: list[ModelSecret] = Field(default_factory=list)

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
