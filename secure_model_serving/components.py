"""The library's public API: every component and its typed Args, the settings, the platform.

Import the components into your own Pulumi program and give each its typed Args:

    from secure_model_serving.components import HardenedModelDeployment, HardenedModelDeploymentArgs

or build the whole platform and its model tenants from validated stack settings:
`SecureModelPlatform("platform", platform_args(load_settings()))` (one `ModelTenant` per model;
`tenant_args` maps one model's settings to its ModelTenantArgs). What `__all__` lists is the supported API;
the modules behind it (cluster/, tenant/, program/) may move between releases.
"""

from .cluster.admission import AdmissionControl, AdmissionControlArgs
from .cluster.edge import EdgeTls, EdgeTlsArgs
from .cluster.mesh import ServiceMesh, ServiceMeshArgs
from .cluster.platform import SecureModelPlatform, SecureModelPlatformArgs
from .cluster.runtime import AlertTarget, RuntimeDetection, RuntimeDetectionArgs
from .cluster.secrets_operator import SecretsOperator, SecretsOperatorArgs
from .cluster.signatures import ImageSignaturePolicy, ImageSignaturePolicyArgs
from .program.platform import platform_args
from .program.tenant import tenant_args
from .settings import Environment, SettingsError, StackSettings, load_settings, parse_settings
from .tenant.identity import ModelIdentity, ModelIdentityArgs
from .tenant.image_policy import ModelImagePolicyArgs
from .tenant.mesh_policies import ExternalService, MeshPolicies, MeshPoliciesArgs
from .tenant.model_tenant import ModelTenant, ModelTenantArgs, PlatformParts
from .tenant.namespace import DnsEndpoint, IsolatedNamespace, IsolatedNamespaceArgs
from .tenant.secrets import (
    AwsSecretsManager,
    GcpSecretManager,
    ModelSecrets,
    ModelSecretsArgs,
    SecretItem,
    VaultKubernetesAuth,
)
from .tenant.workload import (
    AutoscalingPolicy,
    ContainerResources,
    HardenedModelDeployment,
    HardenedModelDeploymentArgs,
    IngressPeer,
    NodePlacement,
)

__all__ = [
    "AdmissionControl",
    "AdmissionControlArgs",
    "AlertTarget",
    "AutoscalingPolicy",
    "AwsSecretsManager",
    "ContainerResources",
    "DnsEndpoint",
    "EdgeTls",
    "EdgeTlsArgs",
    "Environment",
    "ExternalService",
    "GcpSecretManager",
    "HardenedModelDeployment",
    "HardenedModelDeploymentArgs",
    "ImageSignaturePolicy",
    "ImageSignaturePolicyArgs",
    "IngressPeer",
    "IsolatedNamespace",
    "IsolatedNamespaceArgs",
    "MeshPolicies",
    "MeshPoliciesArgs",
    "ModelIdentity",
    "ModelIdentityArgs",
    "ModelImagePolicyArgs",
    "ModelSecrets",
    "ModelSecretsArgs",
    "ModelTenant",
    "ModelTenantArgs",
    "NodePlacement",
    "PlatformParts",
    "RuntimeDetection",
    "RuntimeDetectionArgs",
    "SecretItem",
    "SecretsOperator",
    "SecretsOperatorArgs",
    "SecureModelPlatform",
    "SecureModelPlatformArgs",
    "ServiceMesh",
    "ServiceMeshArgs",
    "SettingsError",
    "StackSettings",
    "VaultKubernetesAuth",
    "load_settings",
    "parse_settings",
    "platform_args",
    "tenant_args",
]
