"""SecureModelPlatform: one stack's hardened model-serving platform and its model tenants, in order.

The shared platform comes first: admission control (Gatekeeper, every ConstraintTemplate and the
cluster-wide constraints), Falco runtime detection, the External Secrets Operator, the mesh and
the image-signature controller. Their namespaces are system namespaces, exempt from the admission
webhook. Then each model tenant (components.tenant.ModelTenant: namespace, identity and RBAC,
secrets, workload, mesh policies, its own constraint and image policy), waiting for the platform so
that its pods are judged, injected and verified when they are created.
"""

from __future__ import annotations

from typing import Any

import pulumi

from ..naming import TYPE_PREFIX
from ..settings import Addon, AlertOutput, StackSettings
from ..tenant.model_tenant import ModelTenant, PlatformParts
from ..versions import ISTIO_PROXY_IMAGE
from .admission import AdmissionControl, AdmissionControlArgs
from .mesh import ServiceMesh, ServiceMeshArgs
from .runtime import AlertTarget, RuntimeDetection, RuntimeDetectionArgs
from .secrets_operator import SecretsOperator, SecretsOperatorArgs
from .signatures import ImageSignaturePolicy, ImageSignaturePolicyArgs

__all__ = [
    "SecureModelPlatform",
    "admission_args",
    "alert_target",
    "mesh_args",
    "runtime_args",
    "secrets_operator_args",
    "signature_controller_args",
]


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
        exempt_images=[*admission.exempt_images, *([ISTIO_PROXY_IMAGE] if settings.mesh.enabled else [])],
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
        pinned_images=[ISTIO_PROXY_IMAGE] if settings.mesh.enabled else [],
    )


class SecureModelPlatform(pulumi.ComponentResource):
    """The shared platform of one stack and its model tenants.

    Outputs:
        admission_namespace: Gatekeeper's namespace.
        tenants: each model tenant (ModelTenant), in the order of the settings (none for a
            platform stack, whose tenants are other stacks).
        namespace, service_account, service_address: the first tenant's (a stack of one `model`),
            None for a platform stack.
    """

    admission_namespace: pulumi.Output[str]
    tenants: list[ModelTenant]
    namespace: pulumi.Output[str] | None
    service_account: pulumi.Output[str] | None
    service_address: pulumi.Output[str] | None

    def __init__(self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:platform:SecureModelPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Admission first: every model workload is judged by the constraints when it is created.
        admission = AdmissionControl("admission", admission_args(settings), child)
        if settings.runtime.enabled:
            RuntimeDetection("runtime", runtime_args(settings), child)
        operator_args = secrets_operator_args(settings)
        operator = SecretsOperator("secrets", operator_args, child) if operator_args else None
        service_mesh_args = mesh_args(settings)
        mesh = ServiceMesh("mesh", service_mesh_args, child) if service_mesh_args else None
        controller_args = signature_controller_args(settings)
        image_policy = ImageSignaturePolicy("supply-chain", controller_args, child) if controller_args else None

        single = settings.models is None
        parts = PlatformParts(
            admission=admission,
            mesh=mesh,
            image_policy=image_policy,
            secrets_operator=operator,
            # A stack of one `model` predates tenants: its resources keep their URNs through aliases.
            previous_parent=self if single else None,
        )
        self.tenants = [ModelTenant(tenant.tenant.name, tenant, parts, child) for tenant in settings.tenants()]
        first = self.tenants[0] if self.tenants else None
        self.admission_namespace = admission.namespace
        self.namespace = first.namespace if first else None
        self.service_account = first.service_account if first else None
        self.service_address = first.service_address if first else None
        self.register_outputs(
            {
                "admission_namespace": self.admission_namespace,
                "namespace": self.namespace,
                "service_account": self.service_account,
                "service_address": self.service_address,
            }
        )
