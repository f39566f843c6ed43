"""Typed, validated stack settings: the one place where Pulumi config is read and checked.

Every key of the stack file under this project's namespace is parsed into frozen pydantic models
before any resource is registered. Unknown keys are refused (a typo must not silently fall back
to a default), and every problem is reported in one `SettingsError` whose lines name the config
key and say what is expected. pydantic does the structural work (types, unknown keys, required
fields); the Kubernetes-specific formats live in `components.formats`.

Defaults are the hardened posture: a stack that sets only the environment, the allowed
registries and the model image gets it. Loosening takes an explicit, named setting.
"""

from __future__ import annotations

import ipaddress
import json
import re
import typing
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Annotated, Any

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from components.formats import (
    ImageRef,
    is_dns_label,
    is_dns_subdomain,
    is_label_key,
    is_label_value,
    parse_quantity,
    registry_allows,
    validate_registry_prefix,
)
from components.mesh import PROXY_RESOURCES
from components.naming import CERT_MANAGER_NAMESPACE
from components.versions import (
    CERT_MANAGER_SUPPORT,
    EXTERNAL_SECRETS_SUPPORT,
    FALCO_SUPPORT,
    GATEKEEPER_SUPPORT,
    ISTIO_SUPPORT,
    KUBERNETES_TARGET,
    POLICY_CONTROLLER_SUPPORT,
    Support,
    kubernetes_minor,
    unsupported,
)
from components.workload import ROLLOUT_SURGE
from policies.parameters import MIN_ID
from serving_contract import (
    BOUNDS,
    GRACEFUL_TIMEOUT_SECONDS,
    LIVENESS_PATH,
    PORT,
    PREDICT_PATH,
    READINESS_PATH,
    REQUEST_READ_TIMEOUT_SECONDS,
    RUN_AS_GROUP,
    RUN_AS_USER,
    ServerEnv,
)
from serving_vocabulary import (
    Addon,
    AlertOutput,
    CertificateIssuer,
    EnforcementAction,
    Environment,
    FailurePolicy,
    FalcoPriority,
    Role,
    SecretProvider,
    SupplyChainMode,
)

__all__ = [
    "SECRET_ONLY_KEYS",
    "UNDECRYPTED_SECRET",
    "Addon",
    "AdmissionSettings",
    "AlertOutput",
    "EnforcementAction",
    "Environment",
    "FailurePolicy",
    "Role",
    "RuntimeSettings",
    "SecretProvider",
    "SecretsSettings",
    "SettingsError",
    "StackSettings",
    "TenantModel",
    "TenantRegistration",
    "decode_config_value",
    "load_settings",
    "parse_settings",
    "raw_pulumi_config",
]


class SettingsError(pulumi.RunError):
    """Stack config is invalid. A RunError, so the Pulumi CLI prints it without a traceback."""


# --- value types ---------------------------------------------------------------------------


def _dns_label(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(f"expected a DNS label (lowercase a-z, 0-9, '-', at most 63), got {value!r}")
    return value


def _quantity(value: str) -> str:
    if parse_quantity(value) < 0:
        raise ValueError(f"expected a non-negative quantity, got {value!r}")
    return value


def _image(value: str) -> str:
    return str(ImageRef.parse(value))


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(f"expected a CIDR block such as 10.20.0.0/16, got {value!r} ({error})") from None


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, label_value in value.items():
        if not is_label_key(key):
            raise ValueError(f"{key!r} is not a valid label key")
        if not is_label_value(label_value):
            raise ValueError(f"{label_value!r} (label {key!r}) is not a valid label value")
    return value


def _kubernetes_version(value: str) -> str:
    kubernetes_minor(value)  # raises ValueError naming the expected form
    return value


def _group_name(value: str) -> str:
    if not value or value != value.strip() or any(ch.isspace() for ch in value):
        raise ValueError(f"expected a non-empty group name without whitespace, got {value!r}")
    return value


DnsLabel = Annotated[str, Field(strict=True), AfterValidator(_dns_label)]
Quantity = Annotated[str, Field(strict=True), AfterValidator(_quantity)]
DigestImage = Annotated[str, Field(strict=True), AfterValidator(_image)]
RegistryPrefix = Annotated[str, Field(strict=True), AfterValidator(validate_registry_prefix)]
Cidr = Annotated[str, Field(strict=True), AfterValidator(_cidr)]
Labels = Annotated[dict[str, str], AfterValidator(_labels)]
GroupName = Annotated[str, Field(strict=True), AfterValidator(_group_name)]
Port = Annotated[int, Field(strict=True, ge=1024, le=65535)]
SHUTDOWN_MARGIN_SECONDS = 5
"""Grace left after the drain, for the process to exit and the mesh sidecar to stop."""
Count = Annotated[int, Field(strict=True, ge=0)]


class _Model(BaseModel):
    """Base: immutable, camelCase keys as written in stack files, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)


# --- sections ------------------------------------------------------------------------------


class ResourceAmounts(_Model):
    """cpu, memory and ephemeral-storage amounts; all three are always set."""

    cpu: Quantity
    memory: Quantity
    ephemeral_storage: Quantity = Field(alias="ephemeralStorage")

    def as_kubernetes(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory, "ephemeral-storage": self.ephemeral_storage}


def _not_above(smaller: ResourceAmounts, larger: ResourceAmounts, what: str) -> None:
    for key, low in smaller.as_kubernetes().items():
        high = larger.as_kubernetes()[key]
        if parse_quantity(low) > parse_quantity(high):
            raise ValueError(f"{what}: {key} {low} is above {high}")


class Resources(_Model):
    """Requests and limits of the model container."""

    requests: ResourceAmounts = ResourceAmounts(cpu="250m", memory="512Mi", ephemeralStorage="128Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="1", memory="1Gi", ephemeralStorage="256Mi")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        _not_above(self.requests, self.limits, "requests must not exceed limits")
        return self


class Autoscaling(_Model):
    """HorizontalPodAutoscaler on cpu utilisation; off unless enabled."""

    enabled: bool = Field(default=False, strict=True)
    min_replicas: int = Field(default=2, strict=True, ge=1, alias="minReplicas")
    max_replicas: int = Field(default=6, strict=True, ge=1, alias="maxReplicas")
    target_cpu_utilization: int = Field(default=70, strict=True, ge=10, le=95, alias="targetCpuUtilization")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be >= minReplicas")
        return self


class Toleration(_Model):
    """A taint the model pods tolerate (the dedicated node pool's taint)."""

    key: Annotated[str, Field(strict=True, min_length=1)]
    operator: Annotated[str, Field(strict=True, pattern="^(Equal|Exists)$")] = "Equal"
    value: Annotated[str, Field(strict=True)] = ""
    effect: Annotated[str, Field(strict=True, pattern="^(NoSchedule|PreferNoSchedule|NoExecute)$")] = "NoSchedule"

    @model_validator(mode="after")
    def _value_matches_operator(self) -> Toleration:
        if not is_label_key(self.key):
            raise ValueError(f"key {self.key!r} is not a valid taint key")
        if self.operator == "Exists" and self.value:
            raise ValueError("value must be empty when operator is Exists")
        return self


class NodePool(_Model):
    """A dedicated node pool: the model pods select it and tolerate its taint."""

    node_selector: Labels = Field(alias="nodeSelector", min_length=1)
    tolerations: list[Toleration] = Field(min_length=1)


class IngressSource(_Model):
    """One allowed caller: pods of a namespace (optionally by label), or a CIDR block."""

    namespace: DnsLabel | None = None
    pod_labels: Labels = Field(default_factory=dict, alias="podLabels")
    cidr: Cidr | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> IngressSource:
        if (self.namespace is None) == (self.cidr is None):
            raise ValueError("set exactly one of namespace or cidr")
        if self.cidr is not None and self.pod_labels:
            raise ValueError("podLabels goes with namespace, not with cidr")
        return self


class Health(_Model):
    """HTTP paths the model server serves: its probes and its prediction endpoint."""

    liveness_path: Annotated[str, Field(strict=True, pattern=r"^/[A-Za-z0-9/_.-]*$")] = Field(
        default=LIVENESS_PATH, alias="livenessPath"
    )
    readiness_path: Annotated[str, Field(strict=True, pattern=r"^/[A-Za-z0-9/_.-]*$")] = Field(
        default=READINESS_PATH, alias="readinessPath"
    )
    predict_path: Annotated[str, Field(strict=True, pattern=r"^/[A-Za-z0-9/_.-]*$")] = Field(
        default=PREDICT_PATH, alias="predictPath"
    )


def _ec_public_key(value: str) -> str:
    """A PEM public key on an elliptic curve (what model-signing and cosign keys are)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(value.strip().encode())
    except ValueError:
        raise ValueError("expected a PEM public key (-----BEGIN PUBLIC KEY-----...)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("expected an elliptic-curve public key")
    return value.strip() + "\n"


EcPublicKey = Annotated[str, Field(strict=True), AfterValidator(_ec_public_key)]


def _certificates(value: str) -> str:
    from cryptography import x509

    try:
        certificates = x509.load_pem_x509_certificates(value.strip().encode())
    except ValueError:
        raise ValueError("expected PEM certificates (-----BEGIN CERTIFICATE-----...)") from None
    if not all(_is_ca(certificate) for certificate in certificates):
        raise ValueError("expected CA certificates (basicConstraints CA:TRUE): the chain the signer's leaf ends in")
    return value.strip() + "\n"


def _is_ca(certificate: Any) -> bool:
    from cryptography import x509

    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


CaCertificates = Annotated[str, Field(strict=True), AfterValidator(_certificates)]


class SigningCertificate(_Model):
    """Certificate-mode model verification: the CA chain, and the one signer it accepts."""

    chain: CaCertificates
    signer_identity: Annotated[str, Field(strict=True, min_length=3, max_length=512)] = Field(alias="signerIdentity")
    """The signing certificate's subject (RFC 4514) or one of its SANs (DNS, email, URI)."""


class Shutdown(_Model):
    """How a model pod stops without dropping a request.

    The kubelet first runs the preStop sleep while the pod leaves the Service's endpoints and
    every caller's sidecar learns it (endpoint propagation): the server keeps serving. Then it
    sends SIGTERM: the server stops accepting, serves what it has within drainSeconds and exits.
    Both must fit in terminationGracePeriodSeconds, or the kubelet kills requests mid-answer.
    """

    pre_stop_seconds: int = Field(default=10, strict=True, ge=1, le=120, alias="preStopSeconds")
    drain_seconds: int = Field(
        default=GRACEFUL_TIMEOUT_SECONDS,
        strict=True,
        ge=1,
        le=BOUNDS[ServerEnv.GRACEFUL_TIMEOUT][1],
        alias="drainSeconds",
    )
    termination_grace_period_seconds: int = Field(
        default=40, strict=True, ge=1, le=900, alias="terminationGracePeriodSeconds"
    )

    @model_validator(mode="after")
    def _fits_the_grace_period(self) -> Shutdown:
        needed = self.pre_stop_seconds + self.drain_seconds + SHUTDOWN_MARGIN_SECONDS
        if self.termination_grace_period_seconds < needed:
            raise ValueError(
                f"terminationGracePeriodSeconds ({self.termination_grace_period_seconds}) must be at least "
                f"preStopSeconds + drainSeconds + {SHUTDOWN_MARGIN_SECONDS} = {needed}"
            )
        return self


class ModelSettings(_Model):
    """The model server workload."""

    name: DnsLabel = "fraud-detector"
    image: DigestImage
    replicas: int = Field(default=2, strict=True, ge=1)
    port: Port = PORT
    run_as_user: int = Field(default=RUN_AS_USER, strict=True, ge=MIN_ID, alias="runAsUser")
    run_as_group: int = Field(default=RUN_AS_GROUP, strict=True, ge=MIN_ID, alias="runAsGroup")
    resources: Resources = Resources()
    tmp_size_limit: Quantity = Field(default="64Mi", alias="tmpSizeLimit")
    health: Health = Health()
    autoscaling: Autoscaling = Autoscaling()
    ingress_from: list[IngressSource] = Field(default_factory=list, alias="ingressFrom")
    node_pool: NodePool | None = Field(default=None, alias="nodePool")
    signing_public_key: EcPublicKey | None = Field(default=None, alias="signingPublicKey")
    signing_certificate: SigningCertificate | None = Field(default=None, alias="signingCertificate")
    request_read_timeout_seconds: int = Field(
        default=REQUEST_READ_TIMEOUT_SECONDS,
        strict=True,
        ge=1,
        le=BOUNDS[ServerEnv.REQUEST_READ_TIMEOUT][1],
        alias="requestReadTimeoutSeconds",
    )
    shutdown: Shutdown = Shutdown()

    @model_validator(mode="after")
    def _one_verifier(self) -> ModelSettings:
        if (self.signing_public_key is None) == (self.signing_certificate is None):
            raise _KeyedError(
                "model.signingPublicKey",
                "set exactly one of signingPublicKey (key mode) or signingCertificate (chain and signerIdentity)",
            )
        return self


class Quota(_Model):
    """ResourceQuota of the model namespace."""

    requests: ResourceAmounts = ResourceAmounts(cpu="4", memory="8Gi", ephemeralStorage="4Gi")
    limits: ResourceAmounts = ResourceAmounts(cpu="8", memory="16Gi", ephemeralStorage="8Gi")
    pods: Count = 20
    services: Count = 5
    configmaps: Count = 20
    secrets: Count = 20
    persistent_volume_claims: Count = Field(default=0, alias="persistentVolumeClaims")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Quota:
        _not_above(self.requests, self.limits, "quota requests must not exceed quota limits")
        return self


class ContainerDefaults(_Model):
    """LimitRange: what a container gets when it declares nothing, and the most it may ask."""

    default_request: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="100m", memory="128Mi", ephemeralStorage="64Mi"), alias="defaultRequest"
    )
    default_limit: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="500m", memory="512Mi", ephemeralStorage="256Mi"), alias="defaultLimit"
    )
    max: ResourceAmounts = ResourceAmounts(cpu="2", memory="4Gi", ephemeralStorage="2Gi")

    @model_validator(mode="after")
    def _ordered(self) -> ContainerDefaults:
        _not_above(self.default_request, self.default_limit, "defaultRequest must not exceed defaultLimit")
        _not_above(self.default_limit, self.max, "defaultLimit must not exceed max")
        return self


class NamespaceSettings(_Model):
    """The model's isolated namespace."""

    name: DnsLabel = "fraud-model"
    quota: Quota = Quota()
    container_defaults: ContainerDefaults = Field(default=ContainerDefaults(), alias="containerDefaults")


class Rbac(_Model):
    """Groups (from the cluster's authenticator) bound to the namespace roles."""

    deployer_groups: list[GroupName] = Field(default_factory=list, alias="deployerGroups")
    auditor_groups: list[GroupName] = Field(default_factory=list, alias="auditorGroups")
    platform_groups: list[GroupName] = Field(default_factory=list, alias="platformGroups")
    """Who may change the model namespace's locked security labels through the API."""


class AdmissionSettings(_Model):
    """OPA Gatekeeper: the webhook, and the constraints on the model namespaces."""

    enforcement_action: EnforcementAction = Field(default=EnforcementAction.DENY, alias="enforcementAction")
    failure_policy: FailurePolicy = Field(default=FailurePolicy.FAIL, alias="failurePolicy")
    replicas: int = Field(default=3, strict=True, ge=1)
    namespace: DnsLabel = "gatekeeper-system"
    exempt_namespaces: list[DnsLabel] = Field(default_factory=list, alias="exemptNamespaces")
    exempt_images: list[DigestImage] = Field(default_factory=list, alias="exemptImages")
    audit_interval_seconds: int = Field(default=60, strict=True, ge=10, le=3600, alias="auditIntervalSeconds")


# --- runtime detection (Falco) ---------------------------------------------------------------


SecretKeyName = Annotated[str, Field(strict=True, pattern=r"^[-._a-zA-Z0-9]{1,253}$")]


class AlertSettings(_Model):
    """Falcosidekick's output. Its URL comes from a Kubernetes Secret: an existing one named here
    (nothing in Pulumi state), or one the stack writes from the `alertUrl` Pulumi secret."""

    output: AlertOutput = AlertOutput.NONE
    secret_name: DnsLabel | None = Field(default=None, alias="secretName")
    secret_key: SecretKeyName = Field(default="url", alias="secretKey")
    minimum_priority: FalcoPriority = Field(default=FalcoPriority.WARNING, alias="minimumPriority")


UNDECRYPTED_SECRET = "[secret]"
"""What the offline renderer hands the program for a `secure:` value it has no key to decrypt."""


def _https_url(value: SecretStr) -> SecretStr:
    # The message never repeats the value: it is a credential.
    text = value.get_secret_value()
    if text != UNDECRYPTED_SECRET and not re.fullmatch(r"https://[^/\s]+(/\S*)?", text):
        raise ValueError("must be an https:// URL (the value is not shown: it is a secret)")
    return value


# pydantic's SecretStr keeps the value out of every repr and error of the settings.
AlertUrl = Annotated[SecretStr, AfterValidator(_https_url)]


class RuntimeSettings(_Model):
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
            _not_above(self.requests, self.limits, "requests must not exceed limits")
        except ValueError as error:
            raise _KeyedError("runtime.requests", str(error)) from None
        return self


# --- secrets (External Secrets Operator) ---------------------------------------------------


_PATH = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,252}$"
_ROLE_ARN = r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,128}$"
_GCP_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
_GCP_SERVICE_ACCOUNT = rf"^{_GCP_PROJECT}@{_GCP_PROJECT}\.iam\.gserviceaccount\.com$"


def _https_url(value: str) -> str:
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", value):
        raise ValueError(f"expected an https:// URL of the Vault server (no path), got {value!r}")
    return value


def _https_endpoint(value: str) -> str:
    if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?", value):
        raise ValueError(f"expected an https:// URL (host, optional port and path), got {value!r}")
    return value


class VaultSettings(_Model):
    """HashiCorp Vault, KV engine, Kubernetes auth with a role bound to the store's ServiceAccount."""

    server: Annotated[str, Field(strict=True), AfterValidator(_https_url)]
    role: Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
    path: Annotated[str, Field(strict=True, pattern=_PATH)] = "secret"
    auth_mount_path: Annotated[str, Field(strict=True, pattern=_PATH)] = Field(
        default="kubernetes", alias="authMountPath"
    )


class AwsSettings(_Model):
    """AWS Secrets Manager through IRSA: the store's ServiceAccount is annotated with the role."""

    region: Annotated[str, Field(strict=True, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
    role_arn: Annotated[str, Field(strict=True, pattern=_ROLE_ARN)] = Field(alias="roleArn")


class GcpSettings(_Model):
    """GCP Secret Manager through GKE workload identity."""

    project_id: Annotated[str, Field(strict=True, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")] = Field(alias="projectID")
    service_account: Annotated[str, Field(strict=True, pattern=_GCP_SERVICE_ACCOUNT)] = Field(alias="serviceAccount")
    cluster_location: Annotated[str, Field(strict=True, pattern=r"^[a-z]+-[a-z]+[0-9](-[a-z])?$")] = Field(
        alias="clusterLocation"
    )
    cluster_name: DnsLabel = Field(alias="clusterName")


class ModelSecret(_Model):
    """One Kubernetes Secret synced from the store and mounted as files into the model pod."""

    name: DnsLabel
    remote_key: Annotated[str, Field(strict=True, pattern=_PATH)] = Field(alias="remoteKey")
    properties: list[SecretKeyName] = Field(min_length=1)


def _duration(value: str) -> str:
    if not re.fullmatch(r"([0-9]+h)?([0-9]+m)?([0-9]+s)?", value) or not value or value in ("0s", "0m", "0h"):
        raise ValueError(f"expected a positive duration such as 1h or 15m, got {value!r}")
    return value


class SecretsSettings(_Model):
    """External Secrets Operator: one SecretStore in the model namespace, one ExternalSecret per item."""

    provider: SecretProvider | None = None
    namespace: DnsLabel = "external-secrets"
    refresh_interval: Annotated[str, Field(strict=True), AfterValidator(_duration)] = Field(
        default="1h", alias="refreshInterval"
    )
    vault: VaultSettings | None = None
    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None
    items: list[ModelSecret] = Field(default_factory=list)

    @model_validator(mode="after")
    def _provider_configured(self) -> SecretsSettings:
        if self.items and self.provider is None:
            raise _KeyedError("secrets.provider", "items need a provider: vault, aws or gcp")
        if self.provider is not None and getattr(self, self.provider.value) is None:
            key = self.provider.value
            raise _KeyedError(f"secrets.{key}", f"provider {key} needs its section secrets.{key}")
        for other in SecretProvider:
            if other is not self.provider and getattr(self, other.value) is not None:
                raise _KeyedError(f"secrets.{other.value}", "set only the section of the chosen provider")
        names = [item.name for item in self.items]
        if len(set(names)) != len(names):
            raise _KeyedError("secrets.items", "secret names must be unique")
        return self


def _hostname(value: str) -> str:
    if not (is_dns_subdomain(value) and "." in value):
        raise ValueError(f"expected a fully qualified host name such as models.example.com, got {value!r}")
    return value


Hostname = Annotated[str, Field(strict=True), AfterValidator(_hostname)]


class MeshCaller(_Model):
    """A workload allowed to call the model, named by its mesh identity (namespace + account)."""

    namespace: DnsLabel
    service_account: DnsLabel = Field(alias="serviceAccount")


class ExternalHost(_Model):
    """An outside host the model may reach: a ServiceEntry, and the addresses it resolves to."""

    host: Hostname
    port: int = Field(default=443, strict=True, ge=1, le=65535)
    cidrs: list[Cidr] = Field(min_length=1)


class Route53Dns01(_Model):
    """DNS-01 through Route 53 with the IAM role cert-manager's service account assumes (IRSA)."""

    region: Annotated[str, Field(strict=True, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]
    hosted_zone_id: Annotated[str, Field(strict=True, pattern=r"^Z[A-Z0-9]{1,31}$")] = Field(alias="hostedZoneID")
    role_arn: Annotated[str, Field(strict=True, pattern=_ROLE_ARN)] = Field(alias="roleArn")


class CloudDnsDns01(_Model):
    """DNS-01 through Cloud DNS as the Google service account bound to cert-manager (GKE workload
    identity)."""

    project: Annotated[str, Field(strict=True, pattern=rf"^{_GCP_PROJECT}$")]
    service_account: Annotated[str, Field(strict=True, pattern=_GCP_SERVICE_ACCOUNT)] = Field(alias="serviceAccount")
    hosted_zone_name: DnsLabel | None = Field(default=None, alias="hostedZoneName")


class AcmeDns01(_Model):
    """The DNS provider that answers the ACME DNS-01 challenge; exactly one section."""

    route53: Route53Dns01 | None = None
    cloud_dns: CloudDnsDns01 | None = Field(default=None, alias="cloudDNS")

    @model_validator(mode="after")
    def _one_provider(self) -> AcmeDns01:
        if (self.route53 is None) == (self.cloud_dns is None):
            raise _KeyedError("mesh.gateway.acmeDns01", "set exactly one provider: route53 or cloudDNS")
        return self


class GatewaySettings(_Model):
    """The ingress gateway: TLS at the edge, HTTP redirected to HTTPS."""

    enabled: bool = Field(default=True, strict=True)
    namespace: DnsLabel = "istio-ingress"
    service_account: DnsLabel = Field(default="istio-ingressgateway", alias="serviceAccount")
    host: Hostname | None = None
    issuer: CertificateIssuer = CertificateIssuer.SELF_SIGNED
    acme_email: Annotated[str, Field(strict=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = Field(
        default=None, alias="acmeEmail"
    )
    acme_server: Annotated[str, Field(strict=True), AfterValidator(_https_endpoint)] = Field(
        default="https://acme-v02.api.letsencrypt.org/directory", alias="acmeServer"
    )
    acme_dns01: AcmeDns01 | None = Field(default=None, alias="acmeDns01")
    model: DnsLabel | None = None
    """The model (its name) the gateway routes to: required when the stack serves several."""

    @model_validator(mode="after")
    def _complete(self) -> GatewaySettings:
        if self.enabled and self.host is None:
            raise _KeyedError("mesh.gateway.host", "is required while the gateway is enabled")
        if self.issuer is CertificateIssuer.ACME and self.acme_email is None:
            raise _KeyedError("mesh.gateway.acmeEmail", "is required with issuer acme")
        if self.issuer is CertificateIssuer.ACME and self.acme_dns01 is None:
            raise _KeyedError(
                "mesh.gateway.acmeDns01",
                "is required with issuer acme: the DNS-01 provider (route53 or cloudDNS) and the cloud identity "
                "cert-manager uses for it",
            )
        return self


class MeshWide(_Model):
    """Settings that change every workload of the mesh, other teams' included: off unless the
    platform team chooses them. Each model namespace is STRICT and registry-only either way."""

    strict_mtls: bool = Field(default=False, strict=True, alias="strictMtls")
    registry_only: bool = Field(default=False, strict=True, alias="registryOnly")


class MeshSettings(_Model):
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


class KeylessSigner(_Model):
    """A Sigstore keyless identity: the OIDC issuer and the signer's subject (e.g. a CI workflow)."""

    issuer: Annotated[str, Field(strict=True), AfterValidator(_https_endpoint)]
    subject: Annotated[str, Field(strict=True, min_length=3, max_length=512)]


class ImageSigner(_Model):
    """Who must have signed the model images: a cosign public key, or a keyless identity."""

    public_key: EcPublicKey | None = Field(default=None, alias="publicKey")
    keyless: KeylessSigner | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageSigner:
        if (self.public_key is None) == (self.keyless is None):
            raise ValueError("set exactly one of publicKey or keyless")
        return self


class SupplyChainSettings(_Model):
    """Sigstore policy-controller: only signed images from the model registries are admitted."""

    enabled: bool = Field(default=True, strict=True)
    namespace: DnsLabel = "cosign-system"
    mode: SupplyChainMode = SupplyChainMode.ENFORCE
    image_signer: ImageSigner | None = Field(default=None, alias="imageSigner")


class ClusterDns(_Model):
    """Where cluster DNS runs; the only egress every model namespace gets."""

    namespace: DnsLabel = "kube-system"
    pod_labels: Labels = Field(default={"k8s-app": "kube-dns"}, alias="podLabels", min_length=1)


class TenantSecrets(_Model):
    """A tenant's secrets: the items its namespace syncs, and optionally its own identity at the
    platform's store provider (a role or account of its own, so one tenant's store cannot read
    another's keys)."""

    items: list[ModelSecret] = Field(default_factory=list)
    vault: VaultSettings | None = None
    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None


class TenantModel(ModelSettings):
    """One entry of `models:`: a model tenant of a shared cluster, with everything that is its own.

    Every key of `model`, plus its namespace (with quota), RBAC groups, secrets, mesh callers,
    image signer and registries. The platform (add-ons, templates, cluster-wide policy) is shared.
    """

    namespace: NamespaceSettings
    rbac: Rbac = Rbac()
    secrets: TenantSecrets = TenantSecrets()
    callers: list[MeshCaller] = Field(default_factory=list)
    image_signer: ImageSigner | None = Field(default=None, alias="imageSigner")
    registries: list[RegistryPrefix] = Field(min_length=1)

    def model_settings(self) -> ModelSettings:
        """The `model` part of the entry (already validated)."""
        return ModelSettings.model_construct(**{name: getattr(self, name) for name in ModelSettings.model_fields})


_TENANT_KEYS = (
    ("model.", ""),
    ("namespace", "namespace"),
    ("rbac", "rbac"),
    ("secrets.items", "secrets.items"),
    ("mesh.callers", "callers"),
    ("supplyChain.imageSigner", "imageSigner"),
    ("registries", "registries"),
)
"""How a key of the single-model form is spelled inside a `models:` entry."""


def _tenant_key(key: str, index: int) -> str:
    """`key` (as the single-model form names it) for entry `index` of `models:`."""
    for single, entry in _TENANT_KEYS:
        if key.startswith(single):
            rest = key[len(single) :]
            joined = f"{entry}{rest}" if entry else rest
            return f"models[{index}].{joined}"
    return key


class TenantRegistration(_Model):
    """A tenant the platform stack admits: its namespace, its registry paths, and what the platform
    serves it (a secrets store, the node pool Falco must run on)."""

    namespace: DnsLabel
    registries: list[RegistryPrefix] = Field(min_length=1)
    syncs_secrets: bool = Field(default=False, strict=True, alias="syncsSecrets")
    node_pool: NodePool | None = Field(default=None, alias="nodePool")


class StackSettings(_Model):
    """Everything one stack (environment) configures."""

    environment: Environment
    # Which minors are accepted is decided by the add-ons the stack installs (_supported_by_addons).
    kubernetes_version: Annotated[str, Field(strict=True), AfterValidator(_kubernetes_version)] = Field(
        default=KUBERNETES_TARGET, alias="kubernetesVersion"
    )
    registries: list[RegistryPrefix] = Field(min_length=1)
    # One model (`model` with the top-level namespace, rbac, secrets.items, mesh.callers and
    # supplyChain.imageSigner), or many tenants of a shared cluster (`models`, each entry holding its own).
    model: ModelSettings | None = None
    models: list[TenantModel] | None = Field(default=None, min_length=1)
    namespace: NamespaceSettings = NamespaceSettings()
    rbac: Rbac = Rbac()
    cluster_dns: ClusterDns = Field(default=ClusterDns(), alias="clusterDns")
    admission: AdmissionSettings = AdmissionSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    secrets: SecretsSettings = SecretsSettings()
    mesh: MeshSettings = MeshSettings()
    # No default: image signature verification is on unless a stack says otherwise, and then
    # it needs to know the signer.
    supply_chain: SupplyChainSettings | None = Field(default=None, alias="supplyChain")
    # A credential: accepted only as a Pulumi secret (see SECRET_ONLY_KEYS), never rendered.
    alert_url: AlertUrl | None = Field(default=None, alias="alertUrl")
    # Add-ons already running on the cluster (a shared cluster's platform installed them, or the
    # real `pulumi up` tier's sandbox stands in for them): the stack installs neither their Helm
    # release nor their namespace, only its own configuration of them. By default it installs all.
    preinstalled_addons: list[Addon] = Field(default_factory=list, alias="preinstalledAddons")
    role: Role = Role.ALL
    # The platform stack's registered tenants (role platform; a tenant stack reads them from it).
    registered_tenants: list[TenantRegistration] | None = Field(default=None, alias="tenants", min_length=1)
    # The platform's stack, as a StackReference names it (role tenant).
    platform_stack: (
        Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] | None
    ) = Field(default=None, alias="platformStack")
    _in_model_list: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _cross_checks(self) -> StackSettings:
        if self.supply_chain is None:
            raise _KeyedError(
                "supplyChain.imageSigner",
                "is required (image signatures are verified unless supplyChain.enabled: false)",
            )
        self._one_form()
        self._supported_by_addons()
        if self.role is Role.PLATFORM:
            self._registrations_apart()
        elif self.models is None:
            self._tenant_checks()
            if self.role is Role.TENANT:
                self._registered_by_the_platform()
        else:
            self._tenants_apart()
        if self.environment.is_production:
            self._admission_fails_closed()
            self._runtime_detection_reports()
            self._mesh_is_strict()
        if self.environment is not Environment.DEV:
            self._only_signed_images()
        if self.role is not Role.TENANT:
            # The alert URL, a secret, stays in the platform stack (not in its platformConfig).
            self._alerts_have_one_url_source()
        self._preinstalled_addons_are_used()
        self._gateway_names_a_model()
        return self

    def _one_form(self) -> None:
        """`model` or `models` (neither for a platform stack), and in the list form nothing of a
        tenant left at the top level."""
        self._role_keys()
        if self.role is Role.PLATFORM:
            for key, present in (("model", self.model is not None), ("models", self.models is not None)):
                if present:
                    raise _KeyedError(key, "a platform stack runs no model: each tenant stack adds its own")
            return
        if self.role is Role.TENANT and self.models is not None:
            raise _KeyedError("models", "a tenant stack holds one model: set model")
        if (self.model is None) == (self.models is None):
            raise _KeyedError("models", "set exactly one of model (one model) or models (a list of tenants)")
        if self.models is None:
            return
        assert self.supply_chain is not None  # checked first in _cross_checks
        misplaced = {
            "namespace": "namespace" in self.model_fields_set,
            "rbac": "rbac" in self.model_fields_set,
            "secrets.items": bool(self.secrets.items),
            "mesh.callers": bool(self.mesh.callers),
            "supplyChain.imageSigner": self.supply_chain.image_signer is not None,
        }
        for key, present in misplaced.items():
            if present:
                raise _KeyedError(key, "belongs to each entry of models (set it there, per model)")

    def _role_keys(self) -> None:
        """The keys of a split belong to their role; the edge gateway is not split yet."""
        # A tenant stack carries its platform's registrations (read from the platform stack).
        if self.role is Role.ALL and self.registered_tenants is not None:
            raise _KeyedError("tenants", "registers tenants for role platform only (a stack of role all has models)")
        if self.role is Role.PLATFORM and self.registered_tenants is None:
            raise _KeyedError("tenants", "a platform stack registers its tenants: each namespace and registry path")
        if (self.platform_stack is None) == (self.role is Role.TENANT):
            raise _KeyedError("platformStack", "is required with role tenant, and only there")
        if self.role is not Role.ALL and self.mesh.enabled and self.mesh.gateway.enabled:
            raise _KeyedError(
                "mesh.gateway.enabled",
                "the edge gateway (cert-manager, the gateway and the model's route) is built by a stack of role all "
                "only; turn it off in a split platform",
            )

    def registrations(self) -> list[TenantRegistration]:
        """The tenants the platform serves: registered by a platform stack, or the stack's own models."""
        if self.role is Role.PLATFORM:
            assert self.registered_tenants is not None  # checked in _role_keys
            return list(self.registered_tenants)
        return [
            TenantRegistration.model_construct(
                namespace=tenant.namespace.name,
                registries=list(tenant.registries),
                syncs_secrets=bool(tenant.secrets.items),
                node_pool=tenant.tenant.node_pool,
            )
            for tenant in self.tenants()
        ]

    def _registrations_apart(self) -> None:
        """A platform stack's registrations: judged namespaces, disjoint paths within its registries."""
        seen: dict[str, int] = {}
        claimed: list[tuple[str, int]] = []
        for index, registration in enumerate(self.registrations()):
            name = registration.namespace
            if name in seen:
                raise _KeyedError(f"tenants[{index}].namespace", f"{name} is already tenants[{seen[name]}]'s")
            seen[name] = index
            self._namespace_is_judged(name, f"tenants[{index}].namespace")
            self._paths_apart(f"tenants[{index}]", index, registration.registries, claimed, "tenants")
            claimed += [(prefix, index) for prefix in registration.registries]

    def _registered_by_the_platform(self) -> None:
        """A tenant stack's namespace and registries are the ones its platform registered for it, and
        its node pool one the platform's Falco runs on."""
        found = [r for r in self.registered_tenants or () if r.namespace == self.namespace.name]
        if not found:
            raise _KeyedError(
                "namespace.name", f"{self.namespace.name} is not registered by the platform stack {self.platform_stack}"
            )
        (registration,) = found
        for position, prefix in enumerate(self.registries):
            if not any(_within(allowed, prefix) for allowed in registration.registries):
                raise _KeyedError(
                    f"registries[{position}]",
                    f"{prefix} is not within the paths the platform registered for {self.namespace.name}: "
                    f"{registration.registries}",
                )
        pool = self.tenant.node_pool
        watched = registration.node_pool.tolerations if registration.node_pool else []
        for toleration in pool.tolerations if pool else []:
            if toleration not in watched:
                raise _KeyedError(
                    "model.nodePool.tolerations",
                    "a taint the platform's Falco does not tolerate: register the node pool with the tenant",
                )

    @property
    def in_model_list(self) -> bool:
        """True for the view of one entry of `models`, and for a tenant stack: its cluster-wide objects
        carry its namespace in their names (a stack of one `model` keeps the names it always had)."""
        return self._in_model_list or self.role is Role.TENANT

    def tenants(self) -> list[StackSettings]:
        """Each model tenant as a one-model view of these settings: the tenant's own model,
        namespace, RBAC, secrets, callers, signer and registries over the shared platform settings.
        The single `model` form is its own one tenant."""
        if self.role is Role.PLATFORM:
            return []
        if self.models is None:
            return [self]
        assert self.supply_chain is not None  # checked first in _cross_checks
        views = [
            self.model_copy(
                update={
                    "model": entry.model_settings(),
                    "models": None,
                    "namespace": entry.namespace,
                    "rbac": entry.rbac,
                    "registries": entry.registries,
                    "secrets": self.secrets.model_copy(
                        update={
                            "items": entry.secrets.items,
                            **{
                                provider.value: getattr(entry.secrets, provider.value)
                                for provider in SecretProvider
                                if getattr(entry.secrets, provider.value) is not None
                            },
                        }
                    ),
                    "mesh": self.mesh.model_copy(update={"callers": entry.callers}),
                    "supply_chain": self.supply_chain.model_copy(update={"image_signer": entry.image_signer}),
                }
            )
            for entry in self.models
        ]
        for view in views:
            view._in_model_list = True
        return views

    @property
    def tenant(self) -> ModelSettings:
        """The model of a one-model view (see tenants())."""
        if self.model is None:
            raise ValueError("a stack with models: has one view per tenant; use tenants()")
        return self.model

    def _tenant_checks(self) -> None:
        """What must hold for each model: its image, replicas, quota, signer, a judged namespace."""
        assert self.supply_chain is not None and self.model is not None
        if self.supply_chain.enabled and self.supply_chain.image_signer is None:
            raise _KeyedError("supplyChain.imageSigner", "is required while supplyChain is enabled")
        self._model_namespace_is_judged()
        repository = ImageRef.parse(self.model.image).repository
        if not any(registry_allows(prefix, repository) for prefix in self.registries):
            raise _KeyedError("model.image", f"{repository} is not under any allowed registry {self.registries}")
        if self.environment.is_production:
            if self.model.replicas < 2:
                raise _KeyedError("model.replicas", "production stacks need at least 2 replicas")
            if self.model.autoscaling.enabled and self.model.autoscaling.min_replicas < 2:
                raise _KeyedError("model.autoscaling.minReplicas", "production stacks need at least 2 replicas")
        self._quota_holds_the_peak()
        if self.secrets.items and self.namespace.quota.secrets < len(self.secrets.items):
            raise _KeyedError("namespace.quota.secrets", "the quota is below the number of secrets.items")
        if self.secrets.provider is None and any(
            getattr(self.secrets, provider.value) is not None for provider in SecretProvider
        ):
            raise _KeyedError("secrets.provider", "a tenant's store section needs the platform's secrets.provider")

    def _tenants_apart(self) -> None:
        """Each tenant checked as its own model, and no two sharing a name, a namespace or a registry
        path (a signer trusted for one tenant's path would sign for another's), every tenant's
        registries within the platform's allow-list."""
        assert self.models is not None
        seen: dict[str, dict[str, int]] = {"name": {}, "namespace": {}}
        claimed: list[tuple[str, int]] = []
        for index, (entry, view) in enumerate(zip(self.models, self.tenants(), strict=True)):
            try:
                view._tenant_checks()
            except _KeyedError as error:
                raise _KeyedError(_tenant_key(error.key, index), str(error)) from None
            for what, value in (("name", entry.name), ("namespace", entry.namespace.name)):
                if value in seen[what]:
                    key = "name" if what == "name" else "namespace.name"
                    raise _KeyedError(f"models[{index}].{key}", f"{value} is already models[{seen[what][value]}]'s")
                seen[what][value] = index
            self._paths_apart(f"models[{index}]", index, entry.registries, claimed, "models")
            claimed += [(prefix, index) for prefix in entry.registries]

    def _paths_apart(
        self, key: str, index: int, registries: list[str], claimed: list[tuple[str, int]], listing: str
    ) -> None:
        """One tenant's registry paths: within the platform's allow-list, overlapping no other tenant's."""
        for position, prefix in enumerate(registries):
            if not any(_within(allowed, prefix) for allowed in self.registries):
                raise _KeyedError(
                    f"{key}.registries[{position}]",
                    f"{prefix} is not within the platform's registries {self.registries}",
                )
            for other, owner in claimed:
                if owner != index and (_within(other, prefix) or _within(prefix, other)):
                    raise _KeyedError(
                        f"{key}.registries[{position}]",
                        f"{prefix} overlaps {listing}[{owner}]'s {other}: each tenant's signer is trusted for "
                        "its own registry paths only",
                    )

    @property
    def gateway_model(self) -> str | None:
        """The model the edge gateway routes to (None without a gateway)."""
        gateway = self.mesh.gateway
        if not (self.mesh.enabled and gateway.enabled):
            return None
        if gateway.model is not None:
            return gateway.model
        names = [tenant.tenant.name for tenant in self.tenants()]
        return names[0] if len(names) == 1 else None

    def _gateway_names_a_model(self) -> None:
        gateway = self.mesh.gateway
        if not (self.mesh.enabled and gateway.enabled):
            return
        names = [tenant.tenant.name for tenant in self.tenants()]
        if gateway.model is None and len(names) > 1:
            raise _KeyedError("mesh.gateway.model", f"name the model the gateway routes to, one of {names}")
        if gateway.model is not None and gateway.model not in names:
            raise _KeyedError("mesh.gateway.model", f"{gateway.model} is not a model of this stack ({names})")

    def preinstalled(self, addon: Addon) -> bool:
        """True when `addon` already runs on the cluster and the stack does not install it."""
        return addon in self.preinstalled_addons

    def _preinstalled_addons_are_used(self) -> None:
        """Each listed add-on must be one the stack uses: a stale entry would hide a mistake."""
        assert self.supply_chain is not None  # checked first in _cross_checks
        used = {
            Addon.GATEKEEPER: True,
            Addon.FALCO: self.runtime.enabled,
            Addon.EXTERNAL_SECRETS: self.secrets.provider is not None,
            Addon.ISTIO: self.mesh.enabled,
            Addon.POLICY_CONTROLLER: self.supply_chain.enabled,
            Addon.CERT_MANAGER: self.mesh.enabled and self.mesh.gateway.enabled,
        }
        for index, addon in enumerate(self.preinstalled_addons):
            if not used[addon]:
                raise _KeyedError(f"preinstalledAddons[{index}]", f"{addon.value} is not used by this stack")
            if addon in self.preinstalled_addons[:index]:
                raise _KeyedError(f"preinstalledAddons[{index}]", f"{addon.value} is listed twice")

    def peak_pods(self) -> int:
        """Model pods at once at worst: the autoscaler's maximum (or the replicas) plus a rollout's surge."""
        autoscaling = self.tenant.autoscaling
        return (autoscaling.max_replicas if autoscaling.enabled else self.tenant.replicas) + ROLLOUT_SURGE

    def pod_resources(self, kind: str) -> dict[str, Decimal]:
        """What one model pod requests (`kind` requests) or may use (limits): the model container,
        and the injected sidecar, whose ephemeral storage the namespace's LimitRange defaults."""
        model = getattr(self.tenant.resources, kind).as_kubernetes()
        total = {name: parse_quantity(value) for name, value in model.items()}
        if self.mesh.enabled:
            defaults = self.namespace.container_defaults
            fallback = (defaults.default_request if kind == "requests" else defaults.default_limit).as_kubernetes()
            sidecar = {**fallback, **PROXY_RESOURCES[kind]}
            total = {name: total[name] + parse_quantity(sidecar[name]) for name in total}
        return total

    def _quota_holds_the_peak(self) -> None:
        """The namespace quota must fit the peak: otherwise scale-out and rollouts stall unseen."""
        quota = self.namespace.quota
        peak = self.peak_pods()
        why = (
            f"{peak} model pods at once (the autoscaler's maximum or model.replicas, plus {ROLLOUT_SURGE} "
            "rollout surge), each with its sidecar"
        )
        if quota.pods < peak:
            raise _KeyedError("namespace.quota.pods", f"{quota.pods} cannot hold {why}")
        for kind in ("requests", "limits"):
            allowed = getattr(quota, kind).as_kubernetes()
            for name, per_pod in self.pod_resources(kind).items():
                if per_pod * peak > parse_quantity(allowed[name]):
                    raise _KeyedError(
                        f"namespace.quota.{kind}",
                        f"{name} {allowed[name]} cannot hold {why}: they need {per_pod * peak:f} "
                        f"({per_pod:f} each); raise the quota or lower model.autoscaling.maxReplicas",
                    )

    def webhook_exempt_namespaces(self) -> dict[str, str]:
        """Every namespace the admission webhook skips, by the setting that names it: the DNS
        namespace, the add-ons' namespaces (an admission outage must not stop them) and the
        explicit exemptions."""
        found = {"clusterDns.namespace": self.cluster_dns.namespace, "admission.namespace": self.admission.namespace}
        found |= {f"admission.exemptNamespaces[{i}]": name for i, name in enumerate(self.admission.exempt_namespaces)}
        if self.runtime.enabled:
            found["runtime.namespace"] = self.runtime.namespace
        if self.secrets.provider is not None:
            found["secrets.namespace"] = self.secrets.namespace
        if self.mesh.enabled:
            found |= {"mesh.namespace": self.mesh.namespace, "mesh.cniNamespace": self.mesh.cni_namespace}
            if self.mesh.gateway.enabled:
                found |= {"mesh.gateway.namespace": self.mesh.gateway.namespace, "cert-manager": CERT_MANAGER_NAMESPACE}
        if self.supply_chain is not None and self.supply_chain.enabled:
            found["supplyChain.namespace"] = self.supply_chain.namespace
        return found

    def _model_namespace_is_judged(self) -> None:
        """No setting may exempt the model namespace from admission: every constraint would be moot."""
        self._namespace_is_judged(self.namespace.name, "namespace.name")

    def _namespace_is_judged(self, namespace: str, own_key: str) -> None:
        for key, name in self.webhook_exempt_namespaces().items():
            if name == namespace:
                raise _KeyedError(
                    key if key != "cert-manager" else own_key,
                    f"{name} is the model namespace; the admission webhook skips this namespace, so no "
                    "constraint would judge the model. Choose another namespace",
                )

    def installed_addons(self) -> list[Support]:
        """Support entries (components.versions) of the add-ons this stack installs."""
        assert self.supply_chain is not None  # checked first in _cross_checks
        candidates = (
            (GATEKEEPER_SUPPORT, True),
            (FALCO_SUPPORT, self.runtime.enabled),
            (EXTERNAL_SECRETS_SUPPORT, self.secrets.provider is not None),
            (ISTIO_SUPPORT, self.mesh.enabled),
            (CERT_MANAGER_SUPPORT, self.mesh.enabled and self.mesh.gateway.enabled),
            (POLICY_CONTROLLER_SUPPORT, self.supply_chain.enabled),
        )
        return [entry for entry, installed in candidates if installed]

    def _supported_by_addons(self) -> None:
        """The cluster's minor must be one that every installed add-on's upstream declares supported."""
        refusing = unsupported(self.kubernetes_version, self.installed_addons())
        if refusing:
            ranges = "; ".join(f"{entry.label} supports Kubernetes {entry.kubernetes}" for entry in refusing)
            raise _KeyedError("kubernetesVersion", f"{self.kubernetes_version} is not supported: {ranges}")

    def _alerts_have_one_url_source(self) -> None:
        """An alert output needs its URL from exactly one place; a URL without an output is a mistake."""
        alerts = self.runtime.alerts
        if alerts.output is AlertOutput.NONE:
            if self.alert_url is not None:
                raise _KeyedError("alertUrl", "is set but runtime.alerts.output is none (set slack or webhook)")
            return
        if alerts.secret_name is None and self.alert_url is None:
            raise _KeyedError(
                "runtime.alerts.secretName",
                f"output {alerts.output.value} needs its URL: the name of an existing Secret in Falco's "
                "namespace, or the alertUrl Pulumi secret",
            )
        if alerts.secret_name is not None and self.alert_url is not None:
            raise _KeyedError("alertUrl", "set either alertUrl or runtime.alerts.secretName, not both")

    def _only_signed_images(self) -> None:
        """Staging and production refuse unsigned images, not just warn about them."""
        assert self.supply_chain is not None  # checked first in _cross_checks
        if not self.supply_chain.enabled:
            raise _KeyedError("supplyChain.enabled", "staging and production stacks must verify image signatures")
        if self.supply_chain.mode is not SupplyChainMode.ENFORCE:
            raise _KeyedError("supplyChain.mode", "staging and production stacks must use enforce")

    def _mesh_is_strict(self) -> None:
        """Production keeps the mesh on and takes its edge certificate from a public CA."""
        if not self.mesh.enabled:
            raise _KeyedError("mesh.enabled", "production stacks must run the mesh (mTLS and authorization)")
        gateway = self.mesh.gateway
        if gateway.enabled and gateway.issuer is not CertificateIssuer.ACME:
            raise _KeyedError("mesh.gateway.issuer", "production stacks must use acme, not a self-signed CA")

    def _runtime_detection_reports(self) -> None:
        """Production keeps Falco on and forwards its alerts somewhere a human reads them."""
        if not self.runtime.enabled:
            raise _KeyedError("runtime.enabled", "production stacks must run Falco")
        if self.runtime.alerts.output is AlertOutput.NONE:
            raise _KeyedError("runtime.alerts.output", "production stacks must forward alerts (slack or webhook)")

    def _admission_fails_closed(self) -> None:
        """Production never loosens admission: violations are refused, an outage refuses too."""
        admission = self.admission
        if admission.enforcement_action is not EnforcementAction.DENY:
            raise _KeyedError("admission.enforcementAction", "production stacks must use deny")
        if admission.failure_policy is not FailurePolicy.FAIL:
            raise _KeyedError("admission.failurePolicy", "production stacks must fail closed (Fail)")
        if admission.replicas < 2:
            raise _KeyedError("admission.replicas", "production stacks need at least 2 webhook replicas")

    @property
    def pod_security_version(self) -> str:
        """Pinned Pod Security Standards version, matching the cluster's minor version."""
        return f"v{self.kubernetes_version}"


class _KeyedError(ValueError):
    """A cross-field error that belongs to a specific key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# --- reading and reporting -----------------------------------------------------------------

_TOP_LEVEL_KEYS = {field.alias or name for name, field in StackSettings.model_fields.items()}


def decode_config_value(value: Any) -> Any:
    """The CLI hands structured config over as JSON text; scalars stay strings ("1.36" too)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _format_location(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    location = _format_location(error["loc"])
    context_error = (error.get("ctx") or {}).get("error")
    if isinstance(context_error, _KeyedError):
        # A `models:` entry's own validators name keys as the single-model form does.
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            return _tenant_key(context_error.key, loc[1]), str(context_error)
        return context_error.key, str(context_error)
    kind = error["type"]
    if kind == "extra_forbidden":
        return location, "unknown key (check the spelling against the config reference)"
    if kind == "missing":
        return location, "is required"
    message = str(context_error) if context_error is not None else error["msg"]
    return location, message


def _is_secret_type(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret_type(arg) for arg in typing.get_args(annotation))


SECRET_ONLY_KEYS = frozenset(
    field.alias or name for name, field in StackSettings.model_fields.items() if _is_secret_type(field.annotation)
)
"""Settings that are credentials (typed SecretStr): accepted only as Pulumi secrets (`pulumi config
set --secret`). The program keeps each one a secret Output: state holds it encrypted, renders redact it."""

_SECRET_IN_CONFIG = (
    "is a secret in the stack file, but this setting ends up in plain text in Kubernetes objects "
    "(Pulumi state and the render); keep credentials in the external store (secrets.*), in a "
    "Kubernetes Secret referenced by name (runtime.alerts.secretName) or in a secret-only setting "
    f"({', '.join(sorted(SECRET_ONLY_KEYS))}), and write this setting in plain text"
)


def _plain_text_credential(full_key: str) -> str:
    return (
        f"is a credential: give it as a Pulumi secret (pulumi config set --secret {full_key} ...), never in plain text"
    )


def _secure_path(value: Any, path: str) -> str | None:
    """Path of the first `{secure: ...}` value below `value` (the CLI's view of an encrypted leaf)."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return path
        for key, item in value.items():
            found = _secure_path(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _secure_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


def parse_settings(raw: Mapping[str, Any], namespace: str, secret_keys: Collection[str] = ()) -> StackSettings:
    """Validate a stack's config (keys `namespace:key`) into StackSettings or raise SettingsError.

    `namespace` is the Pulumi project name. Keys of other namespaces (`kubernetes:context`, ...)
    belong to providers and are ignored. `secret_keys` are the full keys the engine marked
    secret (`secure:` values). The settings in SECRET_ONLY_KEYS must be secrets: the program keeps
    them secret Outputs. Every other setting is written into Kubernetes objects in plain text,
    so a secret given for one would land unencrypted in state and in the render: it is refused,
    naming the key, before anything is created. No secret's value ever appears in an error.
    """
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for full_key, value in raw.items():
        prefix, _, key = full_key.partition(":")
        if prefix != namespace:
            continue
        if key not in _TOP_LEVEL_KEYS:
            problems.append((key, f"unknown key; expected one of {', '.join(sorted(_TOP_LEVEL_KEYS))}"))
            continue
        decoded = decode_config_value(value)
        secure = _secure_path(decoded, key)
        if key in SECRET_ONLY_KEYS:
            if full_key not in secret_keys:
                problems.append((key, _plain_text_credential(full_key)))
                continue
        elif full_key in secret_keys or secure:
            problems.append((secure or key, _SECRET_IN_CONFIG))
            continue
        values[key] = decoded
    # The known keys are validated even when others were refused, so one stack file's every problem
    # is reported at once; a key refused above is not reported again as missing.
    refused = {_top_level(key) for key, _ in problems}
    try:
        settings = StackSettings.model_validate(values)
    except ValidationError as error:
        described = (_describe(item) for item in error.errors(include_url=False))
        problems += [(key, message) for key, message in described if _top_level(key) not in refused]
    else:
        if not problems:
            return settings
    lines = sorted({f"  {namespace}:{key}: {message}" for key, message in problems})
    raise SettingsError("invalid stack configuration:\n" + "\n".join(lines))


def _within(prefix: str, other: str) -> bool:
    """True when registry path `other` is `prefix` or lies below it."""
    return other == prefix or registry_allows(prefix, other)


def _top_level(key: str) -> str:
    """The stack-file key a problem's dotted path starts at (`mesh` of `mesh.gateway.host`)."""
    return re.split(r"[.\[]", key, maxsplit=1)[0]


def raw_pulumi_config() -> dict[str, Any]:
    """All config keys the engine handed this program (set in-process or via PULUMI_CONFIG)."""
    from pulumi.runtime import config as runtime_config

    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def _secret_config_keys(keys: Collection[str]) -> set[str]:
    """The config keys the engine marked secret."""
    from pulumi.runtime import config as runtime_config

    # The language host writes `null` when a stack has no secret at all.
    listed = runtime_config.get_config_secret_keys_env() or ()
    return {key for key in keys if runtime_config.is_config_secret(key)} | set(listed)


def load_settings(prepare: Callable[[Mapping[str, Any], str], Mapping[str, Any]] | None = None) -> StackSettings:
    """Read and validate the current stack's config. Call before registering any resource.

    `prepare(raw, project)` may complete the config first (a tenant stack lays its keys over its
    platform's settings: components.split)."""
    raw = raw_pulumi_config()
    secret_keys = _secret_config_keys(raw)
    project = pulumi.get_project()
    return parse_settings(prepare(raw, project) if prepare else raw, namespace=project, secret_keys=secret_keys)
