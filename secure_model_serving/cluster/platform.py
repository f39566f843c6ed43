"""SecureModelPlatform: one stack's hardened model-serving platform and its model tenants, in order.

The shared platform comes first: admission control (Gatekeeper, every ConstraintTemplate and the
cluster-wide constraints), Falco runtime detection, the External Secrets Operator, the mesh and
the image-signature controller. Their namespaces are system namespaces, exempt from the admission
webhook. Then each model tenant (secure_model_serving.tenant.model_tenant.ModelTenant: namespace,
identity and RBAC, secrets, workload, mesh policies, its own constraint and image policy), waiting
for the platform so that its pods are judged, injected and verified when they are created.

It takes its parts' Args: a stack's settings become SecureModelPlatformArgs in the program
(secure_model_serving.program.platform).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from ..inputs import Problems
from ..naming import TYPE_PREFIX
from ..tenant.model_tenant import ModelTenant, ModelTenantArgs, PlatformParts
from .admission import AdmissionControl, AdmissionControlArgs
from .mesh import ServiceMesh, ServiceMeshArgs
from .runtime import RuntimeDetection, RuntimeDetectionArgs
from .secrets_operator import SecretsOperator, SecretsOperatorArgs
from .signatures import ImageSignaturePolicy, ImageSignaturePolicyArgs

__all__ = ["SecureModelPlatform", "SecureModelPlatformArgs"]


@dataclass(frozen=True)
class SecureModelPlatformArgs:
    """Inputs of SecureModelPlatform: each shared part's Args (None: not built by this stack) and
    the tenants it builds on the platform, by name."""

    admission: AdmissionControlArgs
    """Gatekeeper and the cluster-wide policies: always, every tenant is judged by them."""
    runtime: RuntimeDetectionArgs | None = None
    """Falco (None: runtime detection off)."""
    secrets_operator: SecretsOperatorArgs | None = None
    """The External Secrets Operator (None: no store)."""
    mesh: ServiceMeshArgs | None = None
    """Istio (None: no mesh)."""
    signatures: ImageSignaturePolicyArgs | None = None
    """The signature controller (None where a dev stack turned verification off)."""
    tenants: Mapping[str, ModelTenantArgs] = field(default_factory=dict)
    """The model tenants built with the platform, by model name (none for a platform stack whose
    tenants are other stacks)."""
    single_model: bool = False
    """A stack of one `model`, created before tenants existed: its tenant's resources carry aliases
    to their old URNs, so upgrading replaces and deletes nothing."""

    def __post_init__(self) -> None:
        problems = Problems("SecureModelPlatformArgs")
        if self.single_model and len(self.tenants) != 1:
            problems.add(f"single_model needs exactly one tenant, got {len(self.tenants)}")
        namespaces = [tenant.namespace.name for tenant in self.tenants.values()]
        if len(set(namespaces)) != len(namespaces):
            problems.add(f"tenants must not share a namespace: {sorted(namespaces)}")
        if sum(tenant.edge is not None for tenant in self.tenants.values()) > 1:
            problems.add("the edge routes to one tenant only")
        problems.raise_if_any()


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

    def __init__(self, name: str, args: SecureModelPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:platform:SecureModelPlatform", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # Admission first: every model workload is judged by the constraints when it is created.
        admission = AdmissionControl("admission", args.admission, child)
        if args.runtime is not None:
            RuntimeDetection("runtime", args.runtime, child)
        operator = SecretsOperator("secrets", args.secrets_operator, child) if args.secrets_operator else None
        mesh = ServiceMesh("mesh", args.mesh, child) if args.mesh else None
        image_policy = ImageSignaturePolicy("supply-chain", args.signatures, child) if args.signatures else None

        parts = PlatformParts(
            admission=admission,
            mesh=mesh,
            image_policy=image_policy,
            secrets_operator=operator,
            previous_parent=self if args.single_model else None,
        )
        self.tenants = [ModelTenant(tenant, tenant_args, parts, child) for tenant, tenant_args in args.tenants.items()]
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
