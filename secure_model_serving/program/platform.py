"""The platform's program: a stack's settings mapped to SecureModelPlatformArgs.

The shared platform's Args (admission control, runtime detection, the secrets operator, the mesh,
the signature controller) read the whole stack, every tenant registered on it included: Falco
watches each tenant's namespace with its own registries and runs on its node pools; the secrets
operator is scoped to the one tenant that syncs secrets. Each tenant of a stack of role `all` is
mapped by the tenant's program (secure_model_serving.program.tenant).
"""

from __future__ import annotations

from typing import Any

import pulumi

from ..cluster.admission import AdmissionControlArgs
from ..cluster.mesh import ServiceMeshArgs
from ..cluster.platform import SecureModelPlatformArgs
from ..cluster.runtime import AlertTarget, RuntimeDetectionArgs
from ..cluster.secrets_operator import SecretsOperatorArgs
from ..cluster.signatures import ImageSignaturePolicyArgs
from ..serving_vocabulary import Role
from ..settings import Addon, AlertOutput, StackSettings
from ..versions import ISTIO_PROXY_IMAGE
from .tenant import tenant_args

__all__ = [
    "admission_args",
    "alert_target",
    "injected_images",
    "mesh_args",
    "platform_args",
    "runtime_args",
    "secrets_operator_args",
    "signature_controller_args",
]


def platform_args(settings: StackSettings) -> SecureModelPlatformArgs:
    """SecureModelPlatform inputs: the shared platform and, for a stack of role all, its tenants."""
    return SecureModelPlatformArgs(
        admission=admission_args(settings),
        runtime=runtime_args(settings) if settings.runtime.enabled else None,
        secrets_operator=secrets_operator_args(settings),
        mesh=mesh_args(settings),
        signatures=signature_controller_args(settings),
        tenants={tenant.tenant.name: tenant_args(tenant) for tenant in settings.tenants()},
        # A stack of one `model` predates tenants: its resources keep their URNs through aliases.
        single_model=settings.models is None and settings.role is Role.ALL,
    )


def alert_target(settings: StackSettings) -> AlertTarget:
    """Falcosidekick's output: an existing Secret by name, or one written from the alertUrl secret."""
    alerts = settings.runtime.alerts
    common = {
        "output": alerts.output.value,
        "secret_key": alerts.secret_key,
        "minimum_priority": alerts.minimum_priority.value,
    }
    if alerts.secret_name is not None:
        return AlertTarget(secret_name=alerts.secret_name, **common)
    assert settings.alert_url is not None  # the settings require one of the two
    # The value leaves the settings only as a secret Output.
    return AlertTarget(url=pulumi.Output.secret(settings.alert_url.get_secret_value()), **common)


def runtime_args(settings: StackSettings) -> RuntimeDetectionArgs:
    """RuntimeDetection inputs: watch every tenant's namespace, each with its own registries, and
    run on the tenants' node pools too."""
    runtime = settings.runtime
    alerts = runtime.alerts
    tenants = settings.registrations()
    tolerations: list[dict[str, Any]] = []
    for tenant in tenants:
        for toleration in tenant.node_pool.tolerations if tenant.node_pool else []:
            if toleration.model_dump() not in tolerations:
                tolerations.append(toleration.model_dump())
    return RuntimeDetectionArgs(
        model_namespaces=[tenant.namespace for tenant in tenants],
        model_image_repositories=list(settings.registries),
        tenant_repositories={tenant.namespace: list(tenant.registries) for tenant in tenants},
        namespace=runtime.namespace,
        requests=runtime.requests.as_kubernetes(),
        limits=runtime.limits.as_kubernetes(),
        tolerations=tolerations,
        allowed_processes=list(runtime.allowed_processes),
        allowed_egress=list(runtime.allowed_egress),
        alerts=None if alerts.output is AlertOutput.NONE else alert_target(settings),
        pod_security_version=settings.pod_security_version,
        protect=settings.environment.is_production,
        preinstalled=settings.preinstalled(Addon.FALCO),
    )


def injected_images(settings: StackSettings) -> list[str]:
    """What the platform adds to every model pod, exactly as pinned: the mesh's proxy (none without
    the mesh). Admission excuses it from the few rules it cannot meet; the signature controller
    admits it by its digest."""
    return [ISTIO_PROXY_IMAGE] if settings.mesh.enabled else []


def admission_args(settings: StackSettings) -> AdmissionControlArgs:
    """AdmissionControl inputs: the platform's registries (every tenant's), strictness and exemptions.
    Each tenant adds the constraints of its own namespace (components.tenant)."""
    admission = settings.admission
    return AdmissionControlArgs(
        registries=list(settings.registries),
        pod_security_version=settings.pod_security_version,
        enforcement_action=admission.enforcement_action.value,
        failure_policy=admission.failure_policy.value,
        replicas=admission.replicas,
        namespace=admission.namespace,
        exempt_namespaces=list(settings.webhook_exempt_namespaces().values()),
        # The injected sidecar, exactly as pinned, is excused from the few rules it cannot meet.
        exempt_images=[*admission.exempt_images, *injected_images(settings)],
        audit_interval_seconds=admission.audit_interval_seconds,
        protect=settings.environment.is_production,
        preinstalled=settings.preinstalled(Addon.GATEKEEPER),
    )


def secrets_operator_args(settings: StackSettings) -> SecretsOperatorArgs | None:
    """SecretsOperator inputs, scoped to the one tenant that syncs secrets (None: no store at all)."""
    if settings.secrets.provider is None:
        return None
    served = [tenant.namespace for tenant in settings.registrations() if tenant.syncs_secrets]
    return SecretsOperatorArgs(
        served_namespace=served[0] if len(served) == 1 else None,
        namespace=settings.secrets.namespace,
        pod_security_version=settings.pod_security_version,
        protect=settings.environment.is_production,
        preinstalled=settings.preinstalled(Addon.EXTERNAL_SECRETS),
    )


def mesh_args(settings: StackSettings) -> ServiceMeshArgs | None:
    """ServiceMesh inputs (None with the mesh off)."""
    mesh = settings.mesh
    if not mesh.enabled:
        return None
    return ServiceMeshArgs(
        pod_security_version=settings.pod_security_version,
        namespace=mesh.namespace,
        cni_namespace=mesh.cni_namespace,
        trust_domain=mesh.trust_domain,
        protect=settings.environment.is_production,
        mesh_wide_strict_mtls=mesh.mesh_wide.strict_mtls,
        mesh_wide_registry_only=mesh.mesh_wide.registry_only,
        preinstalled=settings.preinstalled(Addon.ISTIO),
    )


def signature_controller_args(settings: StackSettings) -> ImageSignaturePolicyArgs | None:
    """ImageSignaturePolicy inputs (the controller), or None where a dev stack turned verification off."""
    supply_chain = settings.supply_chain
    if supply_chain is None or not supply_chain.enabled:
        return None
    return ImageSignaturePolicyArgs(
        pod_security_version=settings.pod_security_version,
        mode=supply_chain.mode.value,
        namespace=supply_chain.namespace,
        protect=settings.environment.is_production,
        preinstalled=settings.preinstalled(Addon.POLICY_CONTROLLER),
        # The injected sidecar is in every model pod; with no policy covering it, none would start.
        pinned_images=injected_images(settings),
    )
