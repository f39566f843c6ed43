"""Tenants and roles: a `models:` entry (one tenant of a shared cluster, with everything that is its own)
and a platform's `tenants:` registration, and how a single-model key is spelled inside an entry.
"""

from __future__ import annotations

from pydantic import Field

from .mesh import MeshCaller
from .model import ModelSettings, NodePool
from .namespace import NamespaceSettings
from .rbac import Rbac
from .secrets import AwsSettings, GcpSettings, ModelSecret, VaultSettings
from .supply_chain import ImageSigner
from .values import DnsLabel, RegistryPrefix, SettingsModel


class TenantSecrets(SettingsModel):
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


TENANT_KEYS = (
    ("model.", ""),
    ("namespace", "namespace"),
    ("rbac", "rbac"),
    ("secrets.items", "secrets.items"),
    # A tenant's own identity at the platform's store provider.
    ("secrets.vault", "secrets.vault"),
    ("secrets.aws", "secrets.aws"),
    ("secrets.gcp", "secrets.gcp"),
    ("mesh.callers", "callers"),
    ("supplyChain.imageSigner", "imageSigner"),
    ("registries", "registries"),
)
"""What is a tenant's own, as the single-model form spells each key and as a `models:` entry does.
A tenant stack (components.split) may set exactly these."""


def tenant_key(key: str, index: int) -> str:
    """`key` (as the single-model form names it) for entry `index` of `models:`."""
    for single, entry in TENANT_KEYS:
        if key.startswith(single):
            rest = key[len(single) :]
            joined = f"{entry}{rest}" if entry else rest
            return f"models[{index}].{joined}"
    return key


class TenantRegistration(SettingsModel):
    """A tenant the platform stack admits: its namespace, its registry paths, and what the platform
    serves it (a secrets store, the node pool Falco must run on)."""

    namespace: DnsLabel
    registries: list[RegistryPrefix] = Field(min_length=1)
    syncs_secrets: bool = Field(default=False, strict=True, alias="syncsSecrets")
    node_pool: NodePool | None = Field(default=None, alias="nodePool")
