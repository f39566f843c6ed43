"""The `mesh` section: Istio, the model's callers and outside hosts, and the edge gateway with its TLS."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from components.settings.values import (
    GCP_PROJECT,
    GCP_SERVICE_ACCOUNT,
    ROLE_ARN,
    Cidr,
    DnsLabel,
    Hostname,
    HttpsEndpoint,
    KeyedError,
    SettingsModel,
)
from serving_vocabulary import CertificateIssuer


class MeshCaller(SettingsModel):
    """A workload allowed to call the model, named by its mesh identity (namespace + account)."""

    namespace: DnsLabel
    service_account: DnsLabel = Field(alias="serviceAccount")


class ExternalHost(SettingsModel):
    """An outside host the model may reach: a ServiceEntry, and the addresses it resolves to."""

    host: Hostname
    port: int = Field(default=443, strict=True, ge=1, le=65535)
    cidrs: list[Cidr] = Field(min_length=1)


class Route53Dns01(SettingsModel):
    """DNS-01 through Route 53 with the IAM role cert-manager's service account assumes (IRSA)."""

    region: Annotated[str, Field(strict=True, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]
    hosted_zone_id: Annotated[str, Field(strict=True, pattern=r"^Z[A-Z0-9]{1,31}$")] = Field(alias="hostedZoneID")
    role_arn: Annotated[str, Field(strict=True, pattern=ROLE_ARN)] = Field(alias="roleArn")


class CloudDnsDns01(SettingsModel):
    """DNS-01 through Cloud DNS as the Google service account bound to cert-manager (GKE workload
    identity)."""

    project: Annotated[str, Field(strict=True, pattern=rf"^{GCP_PROJECT}$")]
    service_account: Annotated[str, Field(strict=True, pattern=GCP_SERVICE_ACCOUNT)] = Field(alias="serviceAccount")
    hosted_zone_name: DnsLabel | None = Field(default=None, alias="hostedZoneName")


class AcmeDns01(SettingsModel):
    """The DNS provider that answers the ACME DNS-01 challenge; exactly one section."""

    route53: Route53Dns01 | None = None
    cloud_dns: CloudDnsDns01 | None = Field(default=None, alias="cloudDNS")

    @model_validator(mode="after")
    def _one_provider(self) -> AcmeDns01:
        if (self.route53 is None) == (self.cloud_dns is None):
            raise KeyedError("mesh.gateway.acmeDns01", "set exactly one provider: route53 or cloudDNS")
        return self


class GatewaySettings(SettingsModel):
    """The ingress gateway: TLS at the edge, HTTP redirected to HTTPS."""

    enabled: bool = Field(default=True, strict=True)
    namespace: DnsLabel = "istio-ingress"
    service_account: DnsLabel = Field(default="istio-ingressgateway", alias="serviceAccount")
    host: Hostname | None = None
    issuer: CertificateIssuer = CertificateIssuer.SELF_SIGNED
    acme_email: Annotated[str, Field(strict=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = Field(
        default=None, alias="acmeEmail"
    )
    acme_server: HttpsEndpoint = Field(default="https://acme-v02.api.letsencrypt.org/directory", alias="acmeServer")
    acme_dns01: AcmeDns01 | None = Field(default=None, alias="acmeDns01")
    model: DnsLabel | None = None
    """The model (its name) the gateway routes to: required when the stack serves several."""

    @model_validator(mode="after")
    def _complete(self) -> GatewaySettings:
        if self.enabled and self.host is None:
            raise KeyedError("mesh.gateway.host", "is required while the gateway is enabled")
        if self.issuer is CertificateIssuer.ACME and self.acme_email is None:
            raise KeyedError("mesh.gateway.acmeEmail", "is required with issuer acme")
        if self.issuer is CertificateIssuer.ACME and self.acme_dns01 is None:
            raise KeyedError(
                "mesh.gateway.acmeDns01",
                "is required with issuer acme: the DNS-01 provider (route53 or cloudDNS) and the cloud identity "
                "cert-manager uses for it",
            )
        return self


class MeshWide(SettingsModel):
    """Settings that change every workload of the mesh, other teams' included: off unless the
    platform team chooses them. Each model namespace is STRICT and registry-only either way."""

    strict_mtls: bool = Field(default=False, strict=True, alias="strictMtls")
    registry_only: bool = Field(default=False, strict=True, alias="registryOnly")


class MeshSettings(SettingsModel):
    """Istio: CNI mode, STRICT mTLS, allow-nothing authorization, an egress allow-list."""

    enabled: bool = Field(default=True, strict=True)
    namespace: DnsLabel = "istio-system"
    cni_namespace: DnsLabel = Field(default="istio-cni", alias="cniNamespace")
    trust_domain: Hostname = Field(default="cluster.local", alias="trustDomain")
    callers: list[MeshCaller] = Field(default_factory=list)
    monitoring_namespace: DnsLabel | None = Field(default=None, alias="monitoringNamespace")
    external_hosts: list[ExternalHost] = Field(default_factory=list, alias="externalHosts")
    gateway: GatewaySettings = GatewaySettings(enabled=False)
    mesh_wide: MeshWide = Field(default=MeshWide(), alias="meshWide")
