"""Typed, validated stack settings: the one place where Pulumi config is read and checked.

Every key of the stack file under this project's namespace is parsed into frozen pydantic models
before any resource is registered. Unknown keys are refused (a typo must not silently fall back
to a default), and every problem is reported in one `SettingsError` whose lines name the config
key and say what is expected. pydantic does the structural work (types, unknown keys, required
fields); the Kubernetes-specific formats live in `components.formats`.

Defaults are the hardened posture: a stack that sets only the environment, the allowed
registries and the model image gets it. Loosening takes an explicit, named setting.

One module per job: `values` (value types and formats), one module per section (`model`,
`namespace`, `rbac`, `admission`, `runtime`, `secrets`, `mesh`, `supply_chain`, `tenants`),
`environments` (what staging and production require, one table), `stack` (StackSettings and its
cross-checks) and `loading` (parse_settings, load_settings, secrets). This package re-exports
the names its readers import.
"""

from ..serving_vocabulary import (
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
from .admission import AdmissionSettings
from .environments import ENVIRONMENT_RULES, EnvironmentRule
from .loading import (
    SECRET_ONLY_KEYS,
    SettingsError,
    decode_config_value,
    load_settings,
    parse_settings,
    raw_pulumi_config,
)
from .mesh import AcmeDns01, GatewaySettings, MeshSettings
from .model import SHUTDOWN_MARGIN_SECONDS, ModelSettings, Shutdown
from .namespace import ClusterDns, NamespaceSettings, Quota
from .rbac import Rbac
from .runtime import AlertSettings, RuntimeSettings
from .secrets import SecretsSettings
from .stack import StackSettings
from .supply_chain import ImageSigner, SupplyChainSettings
from .tenants import TenantModel, TenantRegistration
from .values import UNDECRYPTED_SECRET

__all__ = [
    "ENVIRONMENT_RULES",
    "SECRET_ONLY_KEYS",
    "SHUTDOWN_MARGIN_SECONDS",
    "UNDECRYPTED_SECRET",
    "AcmeDns01",
    "Addon",
    "AdmissionSettings",
    "AlertOutput",
    "AlertSettings",
    "CertificateIssuer",
    "ClusterDns",
    "EnforcementAction",
    "Environment",
    "EnvironmentRule",
    "FailurePolicy",
    "FalcoPriority",
    "GatewaySettings",
    "ImageSigner",
    "MeshSettings",
    "ModelSettings",
    "NamespaceSettings",
    "Quota",
    "Rbac",
    "Role",
    "RuntimeSettings",
    "SecretProvider",
    "SecretsSettings",
    "SettingsError",
    "Shutdown",
    "StackSettings",
    "SupplyChainMode",
    "SupplyChainSettings",
    "TenantModel",
    "TenantRegistration",
    "decode_config_value",
    "load_settings",
    "parse_settings",
    "raw_pulumi_config",
]
