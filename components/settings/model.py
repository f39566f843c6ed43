"""The `model` section: the model server workload (image, replicas, resources, probes, signing, shutdown)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from components.formats import is_label_key
from components.settings.values import (
    CaCertificates,
    Cidr,
    DigestImage,
    DnsLabel,
    EcPublicKey,
    KeyedError,
    Labels,
    Port,
    Quantity,
    ResourceAmounts,
    SettingsModel,
    not_above,
)
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

SHUTDOWN_MARGIN_SECONDS = 5
"""Grace left after the drain, for the process to exit and the mesh sidecar to stop."""


class Resources(SettingsModel):
    """Requests and limits of the model container."""

    requests: ResourceAmounts = ResourceAmounts(cpu="250m", memory="512Mi", ephemeralStorage="128Mi")
    limits: ResourceAmounts = ResourceAmounts(cpu="1", memory="1Gi", ephemeralStorage="256Mi")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        not_above(self.requests, self.limits, "requests must not exceed limits")
        return self


class Autoscaling(SettingsModel):
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


class Toleration(SettingsModel):
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


class NodePool(SettingsModel):
    """A dedicated node pool: the model pods select it and tolerate its taint."""

    node_selector: Labels = Field(alias="nodeSelector", min_length=1)
    tolerations: list[Toleration] = Field(min_length=1)


class IngressSource(SettingsModel):
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


class Health(SettingsModel):
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


class SigningCertificate(SettingsModel):
    """Certificate-mode model verification: the CA chain, and the one signer it accepts."""

    chain: CaCertificates
    signer_identity: Annotated[str, Field(strict=True, min_length=3, max_length=512)] = Field(alias="signerIdentity")
    """The signing certificate's subject (RFC 4514) or one of its SANs (DNS, email, URI)."""


class Shutdown(SettingsModel):
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


class ModelSettings(SettingsModel):
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
            raise KeyedError(
                "model.signingPublicKey",
                "set exactly one of signingPublicKey (key mode) or signingCertificate (chain and signerIdentity)",
            )
        return self
