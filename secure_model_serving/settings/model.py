"""The `model` section: the model server workload (image, replicas, resources, probes, signing, shutdown)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ..formats import is_label_key
from ..policies.parameters import MIN_ID
from ..serving_contract import (
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
from .values import (
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

SHUTDOWN_MARGIN_SECONDS = 5
"""Grace left after the drain, for the process to exit and the mesh sidecar to stop."""


class Resources(SettingsModel):
    """Requests and limits of the model container."""

    requests: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="250m", memory="512Mi", ephemeralStorage="128Mi"),
        description=(
            "`cpu`, `memory`, `ephemeralStorage` requested by the model container (Kubernetes "
            "quantities; requests <= limits)"
        ),
    )
    limits: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="1", memory="1Gi", ephemeralStorage="256Mi"),
        description=(
            "`cpu`, `memory`, `ephemeralStorage` limits of the model container (Kubernetes "
            "quantities; requests <= limits)"
        ),
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Resources:
        not_above(self.requests, self.limits, "requests must not exceed limits")
        return self


class Autoscaling(SettingsModel):
    """HorizontalPodAutoscaler on cpu utilisation; off unless enabled."""

    enabled: bool = Field(
        default=False,
        strict=True,
        description="create a HorizontalPodAutoscaler (then `minReplicas` replaces `replicas`)",
    )
    min_replicas: int = Field(
        default=2, strict=True, ge=1, alias="minReplicas", description="HPA lower bound (>= 2 in `prod`)"
    )
    max_replicas: int = Field(
        default=6, strict=True, ge=1, alias="maxReplicas", description="HPA upper bound (>= `minReplicas`)"
    )
    target_cpu_utilization: int = Field(
        default=70, strict=True, ge=10, le=95, alias="targetCpuUtilization", description="HPA target, 10-95 %"
    )

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

    node_selector: Labels = Field(
        alias="nodeSelector", min_length=1, description="labels of the dedicated node pool the pods are pinned to"
    )
    tolerations: list[Toleration] = Field(
        min_length=1, description="the pool's taints the pods tolerate: each `{key, operator, value, effect}`"
    )


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
        default=LIVENESS_PATH, alias="livenessPath", description="liveness probe path"
    )
    readiness_path: Annotated[str, Field(strict=True, pattern=r"^/[A-Za-z0-9/_.-]*$")] = Field(
        default=READINESS_PATH, alias="readinessPath", description="readiness probe path"
    )
    predict_path: Annotated[str, Field(strict=True, pattern=r"^/[A-Za-z0-9/_.-]*$")] = Field(
        default=PREDICT_PATH,
        alias="predictPath",
        description="the prediction endpoint: the only path the gateway routes and callers may POST to",
    )


class SigningCertificate(SettingsModel):
    """Certificate-mode model verification: the CA chain, and the one signer it accepts."""

    chain: CaCertificates = Field(
        description=("the PEM CA certificates the signer's leaf ends in (mounted at `/etc/model-signing/chain.pem`)")
    )
    signer_identity: Annotated[str, Field(strict=True, min_length=3, max_length=512)] = Field(
        alias="signerIdentity",
        description="the one signer accepted: its certificate's RFC 4514 subject or a SAN (DNS, email, URI)",
    )


class Shutdown(SettingsModel):
    """How a model pod stops without dropping a request.

    The kubelet first runs the preStop sleep while the pod leaves the Service's endpoints and
    every caller's sidecar learns it (endpoint propagation): the server keeps serving. Then it
    sends SIGTERM: the server stops accepting, serves what it has within drainSeconds and exits.
    Both must fit in terminationGracePeriodSeconds, or the kubelet kills requests mid-answer.
    """

    pre_stop_seconds: int = Field(
        default=10,
        strict=True,
        ge=1,
        le=120,
        alias="preStopSeconds",
        description="the preStop sleep while the pod leaves the endpoints",
    )
    drain_seconds: int = Field(
        default=GRACEFUL_TIMEOUT_SECONDS,
        strict=True,
        ge=1,
        le=BOUNDS[ServerEnv.GRACEFUL_TIMEOUT][1],
        alias="drainSeconds",
        description="the server's drain after SIGTERM (`GUNICORN_GRACEFUL_TIMEOUT`)",
    )
    termination_grace_period_seconds: int = Field(
        default=40,
        strict=True,
        ge=1,
        le=900,
        alias="terminationGracePeriodSeconds",
        description=f"the pod's grace period, which must be at least preStop + drain + {SHUTDOWN_MARGIN_SECONDS}",
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

    name: DnsLabel = Field(
        default="fraud-detector", description="name of the Deployment, Service and ServiceAccount (DNS label)"
    )
    image: DigestImage = Field(
        description="`registry/path[:tag]@sha256:<64 hex>`: pinned by digest, under one of `registries`"
    )
    replicas: int = Field(default=2, strict=True, ge=1, description=">= 1, and >= 2 in `prod`")
    port: Port = Field(default=PORT, description="container and Service port (1024-65535)")
    run_as_user: int = Field(
        default=RUN_AS_USER,
        strict=True,
        ge=MIN_ID,
        alias="runAsUser",
        description="UID of the model process (>= 10001, `MIN_ID` in `secure_model_serving/policies/parameters.py`)",
    )
    run_as_group: int = Field(
        default=RUN_AS_GROUP,
        strict=True,
        ge=MIN_ID,
        alias="runAsGroup",
        description="GID of the model process (>= 10001, `MIN_ID` in `secure_model_serving/policies/parameters.py`)",
    )
    resources: Resources = Resources()
    tmp_size_limit: Quantity = Field(
        default="64Mi", alias="tmpSizeLimit", description="size limit of `/tmp`, the only writable path"
    )
    health: Health = Health()
    autoscaling: Autoscaling = Autoscaling()
    ingress_from: list[IngressSource] = Field(
        default_factory=list,
        alias="ingressFrom",
        description=("callers admitted on the model port (`[]`: nobody): each `{namespace, podLabels}` or `{cidr}`"),
    )
    node_pool: NodePool | None = Field(
        default=None, alias="nodePool", description="pin the pods to a dedicated, tainted node pool"
    )
    signing_public_key: EcPublicKey | None = Field(
        default=None,
        alias="signingPublicKey",
        description=(
            "required unless `signingCertificate` is set (exactly one of the two): PEM elliptic-curve"
            " public key the server verifies the model's signature with; a ConfigMap mounted "
            "read-only at `/etc/model-signing/public-key.pem` (its hash on the pod template rolls the"
            " pods when it changes)"
        ),
    )
    signing_certificate: SigningCertificate | None = Field(
        default=None,
        alias="signingCertificate",
        description=(
            "certificate mode instead of a key (exactly one of the two); the server also requires the"
            " code-signing extended key usage and a chain valid now "
            "(`MODEL_VERIFY_METHOD=certificate`, `MODEL_SIGNER_IDENTITY`)"
        ),
    )
    request_read_timeout_seconds: int = Field(
        default=REQUEST_READ_TIMEOUT_SECONDS,
        strict=True,
        ge=1,
        le=BOUNDS[ServerEnv.REQUEST_READ_TIMEOUT][1],
        alias="requestReadTimeoutSeconds",
        description=(
            "1-120: the time a client has to send one whole request (head and body); after it the "
            "server answers 408 and closes (`REQUEST_READ_TIMEOUT`)"
        ),
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
