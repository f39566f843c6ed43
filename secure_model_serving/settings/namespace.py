"""The `namespace` and `clusterDns` sections: the model's namespace (quota, container defaults) and
where cluster DNS runs, the only egress a model namespace starts with.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .values import Count, DnsLabel, Labels, ResourceAmounts, SettingsModel, not_above


class Quota(SettingsModel):
    """ResourceQuota of the model namespace."""

    requests: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="4", memory="8Gi", ephemeralStorage="4Gi"),
        description="ResourceQuota total of requests (`cpu`, `memory`, `ephemeralStorage`)",
    )
    limits: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="8", memory="16Gi", ephemeralStorage="8Gi"),
        description="ResourceQuota total of limits (`cpu`, `memory`, `ephemeralStorage`)",
    )
    pods: Count = Field(default=20, description="ResourceQuota object count of pods")
    services: Count = Field(
        default=5, description="ResourceQuota object count of Services; NodePort and LoadBalancer Services are always 0"
    )
    configmaps: Count = Field(default=20, description="ResourceQuota object count of ConfigMaps")
    secrets: Count = Field(default=20, description="ResourceQuota object count of Secrets")
    persistent_volume_claims: Count = Field(
        default=0, alias="persistentVolumeClaims", description="ResourceQuota object count of PersistentVolumeClaims"
    )

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Quota:
        not_above(self.requests, self.limits, "quota requests must not exceed quota limits")
        return self


class ContainerDefaults(SettingsModel):
    """LimitRange: what a container gets when it declares nothing, and the most it may ask."""

    default_request: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="100m", memory="128Mi", ephemeralStorage="64Mi"),
        alias="defaultRequest",
        description="LimitRange per container: what a container requests when it declares nothing",
    )
    default_limit: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="500m", memory="512Mi", ephemeralStorage="256Mi"),
        alias="defaultLimit",
        description="LimitRange per container: its limit when it declares none",
    )
    max: ResourceAmounts = Field(
        default=ResourceAmounts(cpu="2", memory="4Gi", ephemeralStorage="2Gi"),
        description="LimitRange per container: the most a container may ask",
    )

    @model_validator(mode="after")
    def _ordered(self) -> ContainerDefaults:
        not_above(self.default_request, self.default_limit, "defaultRequest must not exceed defaultLimit")
        not_above(self.default_limit, self.max, "defaultLimit must not exceed max")
        return self


class NamespaceSettings(SettingsModel):
    """The model's isolated namespace."""

    name: DnsLabel = Field(default="fraud-model", description="the model namespace (DNS label)")
    quota: Quota = Quota()
    container_defaults: ContainerDefaults = Field(default=ContainerDefaults(), alias="containerDefaults")


class ClusterDns(SettingsModel):
    """Where cluster DNS runs; the only egress every model namespace gets."""

    namespace: DnsLabel = Field(
        default="kube-system",
        description=(
            "where cluster DNS runs: the only egress a model namespace starts with (also exempt from "
            "the admission webhook)"
        ),
    )
    pod_labels: Labels = Field(
        default={"k8s-app": "kube-dns"},
        alias="podLabels",
        min_length=1,
        description="labels of the cluster DNS pods the model namespace may reach",
    )
