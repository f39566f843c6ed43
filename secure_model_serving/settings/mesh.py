"""The `mesh` section: Istio, the model's callers and outside hosts, and the edge gateway with its TLS."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ..serving_vocabulary import CertificateIssuer
from .values import (
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

    region: Annotated[str, Field(strict=True, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")] = Field(
        description="DNS-01 through Route 53: the AWS region"
    )
    hosted_zone_id: Annotated[str, Field(strict=True, pattern=r"^Z[A-Z0-9]{1,31}$")] = Field(
        alias="hostedZoneID", description="DNS-01 through Route 53: the hosted zone"
    )
    role_arn: Annotated[str, Field(strict=True, pattern=ROLE_ARN)] = Field(
        alias="roleArn",
        description="DNS-01 through Route 53: the IAM role annotated on cert-manager's service account (IRSA)",
    )


class CloudDnsDns01(SettingsModel):
    """DNS-01 through Cloud DNS as the Google service account bound to cert-manager (GKE workload
    identity)."""

    project: Annotated[str, Field(strict=True, pattern=rf"^{GCP_PROJECT}$")] = Field(
        description="DNS-01 through Cloud DNS with GKE workload identity: the project"
    )
    service_account: Annotated[str, Field(strict=True, pattern=GCP_SERVICE_ACCOUNT)] = Field(
        alias="serviceAccount",
        description="DNS-01 through Cloud DNS: the Google service account bound to cert-manager's",
    )
    hosted_zone_name: DnsLabel | None = Field(
        default=None, alias="hostedZoneName", description="DNS-01 through Cloud DNS: optional, the managed zone's name"
    )


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

    enabled: bool = Field(default=True, strict=True, description="ingress gateway with TLS at the edge for `host`")
    namespace: DnsLabel = Field(default="istio-ingress", description="where the gateway runs")
    service_account: DnsLabel = Field(
        default="istio-ingressgateway", alias="serviceAccount", description="the gateway's identity"
    )
    host: Hostname | None = Field(default=None, description="the gateway's host name (required when enabled)")
    issuer: CertificateIssuer = Field(
        default=CertificateIssuer.SELF_SIGNED,
        description="`selfSigned` (a private CA chain via cert-manager) or `acme`; `prod` requires `acme`",
    )
    acme_email: Annotated[str, Field(strict=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = Field(
        default=None, alias="acmeEmail", description="ACME account contact (required with `acme`)"
    )
    acme_server: HttpsEndpoint = Field(
        default="https://acme-v02.api.letsencrypt.org/directory",
        alias="acmeServer",
        description="ACME directory URL (default: Let's Encrypt production)",
    )
    acme_dns01: AcmeDns01 | None = Field(
        default=None, alias="acmeDns01", description="the DNS-01 provider; exactly one provider is required with `acme`"
    )
    model: DnsLabel | None = Field(
        default=None,
        description=(
            "the model (its `name`) the gateway routes to (unset: the only model); required with "
            "several `models`. Only that tenant admits the gateway's identity"
        ),
    )

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

    strict_mtls: bool = Field(
        default=False,
        strict=True,
        alias="strictMtls",
        description=(
            "mesh-wide STRICT mTLS (root-namespace PeerAuthentication): it changes every team's "
            "workloads, so it is the platform team's explicit choice; each model namespace is STRICT "
            "either way"
        ),
    )
    registry_only: bool = Field(
        default=False,
        strict=True,
        alias="registryOnly",
        description=(
            "mesh-wide registry-only egress: it changes every team's workloads, so it is the platform"
            " team's explicit choice; each model namespace is registry-only either way"
        ),
    )


class MeshSettings(SettingsModel):
    """Istio: CNI mode, STRICT mTLS, allow-nothing authorization, an egress allow-list."""

    enabled: bool = Field(
        default=True,
        strict=True,
        description="Istio in CNI mode with STRICT mTLS and allow-nothing authorization; `prod` requires it",
    )
    namespace: DnsLabel = Field(
        default="istio-system",
        description="control plane namespace (PSA `enforce: baseline`, `audit`/`warn: restricted`)",
    )
    cni_namespace: DnsLabel = Field(
        default="istio-cni",
        alias="cniNamespace",
        description="the CNI node agent's namespace, the one `privileged` exception of the mesh",
    )
    trust_domain: Hostname = Field(
        default="cluster.local", alias="trustDomain", description="SPIFFE trust domain used in caller principals"
    )
    callers: list[MeshCaller] = Field(
        default_factory=list,
        description=(
            "in-mesh callers `{namespace, serviceAccount}` allowed to POST the prediction path and "
            "GET the health paths (the gateway is added when enabled)"
        ),
    )
    monitoring_namespace: DnsLabel | None = Field(
        default=None,
        alias="monitoringNamespace",
        description="a namespace allowed to scrape the sidecar metrics port (15020)",
    )
    external_hosts: list[ExternalHost] = Field(
        default_factory=list,
        alias="externalHosts",
        description=(
            "outside hosts the model may reach: `{host, port, cidrs}` become a ServiceEntry, a "
            "Sidecar egress entry and a NetworkPolicy egress rule"
        ),
    )
    gateway: GatewaySettings = GatewaySettings(enabled=False)
    mesh_wide: MeshWide = Field(default=MeshWide(), alias="meshWide")
