"""ModelTenant: one model on a (possibly shared) cluster, with everything that is its own.

A tenant is its isolated namespace (labels, quota, limits, default-deny network, label lock), the
model's identity and the RBAC of its deployer and auditor groups, its secrets and their store, the
hardened workload, its mesh policies and egress, and the tenant's own admission objects: the
constraint that pins its pod shape and registries, and the ClusterImagePolicy that trusts its signer
for its own registry paths. The cluster's platform (add-ons, templates, cluster-wide constraints)
is shared and built once (secure_model_serving.cluster.platform).

ModelTenant takes its parts' Args, nothing else: a stack's settings become ModelTenantArgs in the
program (secure_model_serving.program.tenant), and a program of one's own may build them by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from ..cluster.admission import model_constraints
from ..cluster.edge import EdgeTls, EdgeTlsArgs
from ..cluster.mesh import injected_pod_shape
from ..formats import ImageRef, registry_allows, validate_registry_prefix
from ..inputs import Problems, is_plain
from ..naming import TYPE_PREFIX
from ..options import guard
from ..system import custom_resource
from .identity import ModelIdentity, ModelIdentityArgs
from .image_policy import ModelImagePolicyArgs, model_image_policy
from .mesh_policies import MeshPolicies, MeshPoliciesArgs
from .namespace import IsolatedNamespace, IsolatedNamespaceArgs
from .secrets import ModelSecrets, ModelSecretsArgs
from .workload import HardenedModelDeployment, HardenedModelDeploymentArgs, pod_shape

__all__ = ["ModelTenant", "ModelTenantArgs", "PlatformParts", "tenant_pod_shape"]


@dataclass(frozen=True)
class ModelTenantArgs:
    """Inputs of ModelTenant: the Args of each of its parts, which must agree with each other."""

    namespace: IsolatedNamespaceArgs
    """The tenant's namespace."""
    identity: ModelIdentityArgs
    """The model's ServiceAccount and its groups' RBAC."""
    deployment: HardenedModelDeploymentArgs
    """The model server (ModelTenant sets `secrets_checksum` from its ModelSecrets)."""
    registries: Sequence[str]
    """The tenant's own registry paths: its model image must lie below one of them (its constraint's
    `modelRegistries`; the platform's allow-list is every tenant's)."""
    enforcement_action: str
    """What the tenant's constraint does with a widened pod: the platform's enforcement action."""
    secrets: ModelSecretsArgs | None = None
    """Its store and synced secrets (None: it syncs none)."""
    image_policy: ModelImagePolicyArgs | None = None
    """Its ClusterImagePolicy (None where a dev stack turned verification off)."""
    mesh: MeshPoliciesArgs | None = None
    """Its mesh policies (None without the mesh)."""
    edge: EdgeTlsArgs | None = None
    """The public edge, for the one tenant the gateway routes to."""
    protect: bool = False
    """Guard its cluster-scoped objects (production)."""

    def __post_init__(self) -> None:
        problems = Problems("ModelTenantArgs")
        namespace = self.namespace.name
        parts: list[tuple[str, Any]] = [("identity", self.identity), ("deployment", self.deployment)]
        parts += [("secrets", self.secrets), ("mesh", self.mesh)]
        for label, part in parts:
            if part is not None:
                problems.same(f"{label}.namespace", part.namespace, "namespace.name", namespace)
        problems.same(
            "deployment.service_account_name",
            self.deployment.service_account_name,
            "identity.service_account_name",
            self.identity.service_account_name,
        )
        synced = {item.name for item in self.secrets.items} if self.secrets else set()
        unsynced = sorted(set(self.deployment.secret_files) - synced)
        if unsynced:
            problems.add(f"deployment.secret_files {unsynced} are not synced by secrets.items")
        if not self.registries:
            problems.add("registries must name the tenant's registry paths")
        for prefix in self.registries:
            problems.check("registries", prefix, validate_registry_prefix)
        image = self.deployment.image
        if is_plain(image) and self.registries:
            repository = ImageRef.parse(str(image)).repository
            if not any(registry_allows(prefix, repository) for prefix in self.registries):
                # Its own constraint would refuse every pod of it.
                problems.add(f"deployment.image {image!r} lies below none of registries {sorted(self.registries)}")
        if self.image_policy is not None and sorted(self.image_policy.registries) != sorted(self.registries):
            problems.add(
                f"image_policy.registries {sorted(self.image_policy.registries)} differ from"
                f" registries {sorted(self.registries)}: the signer is trusted for the tenant's own paths"
            )
        problems.raise_if_any()


def tenant_pod_shape(args: ModelTenantArgs) -> dict[str, Any]:
    """The model pod as the platform fixes it (what the Deployment sets, plus what the mesh's
    injector adds, and the tenant's registries): the parameters of the constraint that stops a
    deployer from widening it. Derived from the Args, so the pod and its constraint cannot disagree."""
    shape = {**pod_shape(args.deployment), "modelRegistries": list(args.registries)}
    if args.mesh is not None:
        injected = injected_pod_shape()
        shape = {**shape, **injected, "volumes": [*shape["volumes"], *injected["volumes"]]}
    return shape


@dataclass(frozen=True)
class PlatformParts:
    """The shared platform a tenant is added to: what its objects wait for (None where another
    stack runs that part, or the stack has none), and, for a stack that predates tenants, the
    components its resources used to be children of."""

    admission: pulumi.Resource | None = None
    """The templates a tenant's constraints instantiate; a model pod created before it is unjudged."""
    mesh: pulumi.Resource | None = None
    """The injector and the mesh CRDs: a pod created before it starts without its sidecar."""
    image_policy: pulumi.Resource | None = None
    """The signature controller: a pod admitted before it exists was never verified."""
    secrets_operator: pulumi.Resource | None = None
    """The External Secrets CRDs the tenant's store and ExternalSecrets are."""
    previous_parent: pulumi.Resource | None = None
    """Where a one-`model` stack's tenant components were created before tenants existed (its
    constraint under `admission`, its image policy under `image_policy`): given, they carry aliases
    to their old URNs, so upgrading replaces and deletes nothing."""

    @property
    def before_any_pod(self) -> list[pulumi.Resource]:
        """Everything that must exist before the model's first pod."""
        parts = (self.admission, self.mesh, self.image_policy, self.secrets_operator)
        return [part for part in parts if part is not None]


def _moved(parent: pulumi.Resource | None, name: str | None = None) -> list[pulumi.Alias]:
    """The alias of a resource created under `parent` (and named `name`) before tenants existed."""
    if parent is None:
        return []
    # Alias's name defaults to `...` (the same name), which None is not.
    return [pulumi.Alias(parent=parent, name=name)] if name else [pulumi.Alias(parent=parent)]


class ModelTenant(pulumi.ComponentResource):
    """One model tenant, named after its model, built from its parts' Args.

    Outputs:
        namespace: the tenant's namespace.
        service_account: the model's ServiceAccount.
        service_address: in-cluster address of the model API.
    """

    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]
    service_address: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: ModelTenantArgs,
        platform: PlatformParts = PlatformParts(),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{TYPE_PREFIX}:tenant:ModelTenant", name, None, opts)
        old = platform.previous_parent
        # Before tenants, the constraint and the image policy were children of the platform's parts.
        old_admission, old_image_policy = (platform.admission, platform.image_policy) if old else (None, None)

        def here(*depends: Any, aliases: list[pulumi.Alias] | None = None, **extra: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, depends_on=[d for d in depends if d is not None] or None, aliases=aliases, **extra
            )

        namespace = IsolatedNamespace(args.namespace.name, args.namespace, here(aliases=_moved(old)))
        # The tenant's own admission objects: cluster-scoped, so they are guarded like the platform's.
        constraints = [
            custom_resource(
                f"admission-constraint-{resource_name}",
                document,
                here(platform.admission, aliases=_moved(old_admission), **guard(args.protect)),
            )
            for _policy, resource_name, document in model_constraints(
                args.namespace.name, tenant_pod_shape(args), args.enforcement_action
            )
        ]
        image_policy = (
            model_image_policy(
                f"{name}-image-policy",
                args.image_policy,
                here(
                    platform.image_policy,
                    aliases=_moved(old_image_policy, "supply-chain-cluster-image-policy"),
                    **guard(args.protect),
                ),
            )
            if args.image_policy is not None
            else None
        )
        identity = ModelIdentity(f"{name}-identity", args.identity, here(namespace, aliases=_moved(old)))
        model_secrets = (
            ModelSecrets(
                f"{name}-secrets", args.secrets, here(namespace, platform.secrets_operator, aliases=_moved(old))
            )
            if args.secrets is not None
            else None
        )
        deployment = args.deployment
        if model_secrets is not None:
            # A change of the synced secrets' definitions rolls the pods.
            deployment = dataclasses.replace(deployment, secrets_checksum=model_secrets.checksum)
        workload = HardenedModelDeployment(
            name,
            deployment,
            # Judged, injected and verified: admission, the mesh and the signature policies exist first.
            here(
                namespace,
                identity,
                model_secrets,
                image_policy,
                *constraints,
                *platform.before_any_pod,
                aliases=_moved(old),
            ),
        )
        if args.mesh is not None:
            MeshPolicies(f"{name}-mesh", args.mesh, here(namespace, platform.mesh, aliases=_moved(old)))
        if args.edge is not None:
            EdgeTls("edge", args.edge, here(platform.mesh, aliases=_moved(old)))

        self.namespace = namespace.namespace_name
        self.service_account = identity.service_account_name
        self.service_address = workload.service_address
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_account": self.service_account,
                "service_address": self.service_address,
            }
        )
