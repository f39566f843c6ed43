"""Reusable Pulumi components for a hardened, isolated ML model-serving platform on Kubernetes.

Import the components into your own Pulumi program and give each its typed Args:

    from components import HardenedModelDeployment, HardenedModelDeploymentArgs, IsolatedNamespace

or build the whole platform and its model tenants from validated stack settings with
`SecureModelPlatform` (one `ModelTenant` per model).
"""

from components.admission import AdmissionControl, AdmissionControlArgs
from components.identity import ModelIdentity, ModelIdentityArgs
from components.mesh import ExternalService, MeshPolicies, MeshPoliciesArgs, ServiceMesh, ServiceMeshArgs
from components.namespace import DnsEndpoint, IsolatedNamespace, IsolatedNamespaceArgs
from components.platform import SecureModelPlatform
from components.runtime import AlertTarget, RuntimeDetection, RuntimeDetectionArgs
from components.secrets import (
    AwsSecretsManager,
    GcpSecretManager,
    ModelSecrets,
    ModelSecretsArgs,
    SecretItem,
    SecretsOperator,
    SecretsOperatorArgs,
    VaultKubernetesAuth,
)
from components.settings import Environment, SettingsError, StackSettings, load_settings, parse_settings
from components.supply_chain import ImageSignaturePolicy, ImageSignaturePolicyArgs, ModelImagePolicyArgs
from components.tenant import ModelTenant, PlatformParts
from components.tls import EdgeTls, EdgeTlsArgs
from components.workload import (
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
    "NodePlacement",
    "PlatformParts",
    "RuntimeDetection",
    "RuntimeDetectionArgs",
    "SecretItem",
    "SecretsOperator",
    "SecretsOperatorArgs",
    "SecureModelPlatform",
    "ServiceMesh",
    "ServiceMeshArgs",
    "SettingsError",
    "StackSettings",
    "VaultKubernetesAuth",
    "load_settings",
    "parse_settings",
]
