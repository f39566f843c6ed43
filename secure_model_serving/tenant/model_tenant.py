"""ModelTenant: one model on a (possibly shared) cluster, with everything that is its own.

A tenant is its isolated namespace (labels, quota, limits, default-deny network, label lock), the
model's identity and the RBAC of its deployer and auditor groups, its secrets and their store, the
hardened workload, its mesh policies and egress, and the tenant's own admission objects: the
constraint that pins its pod shape and registries, and the ClusterImagePolicy that trusts its signer
for its own registry paths. The cluster's platform (add-ons, templates, cluster-wide constraints)
is shared and built once (components.platform).

Every function here reads a one-model view of the settings (StackSettings.tenants()), so a stack
of one `model` and each entry of `models` are built by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from ..cluster.admission import model_constraints
from ..cluster.edge import CloudDnsSolver, EdgeTls, EdgeTlsArgs, Route53Solver
from ..cluster.mesh import INJECTION_LABEL, PROXY_RESOURCE_ANNOTATIONS, injected_pod_shape
from ..naming import TYPE_PREFIX
from ..options import guard
from ..serving_contract import ServerEnv
from ..settings import AcmeDns01, Addon, Quota, SecretProvider, StackSettings
from ..system import custom_resource
from .identity import ModelIdentity, ModelIdentityArgs
from .image_policy import OPT_IN_LABEL, ModelImagePolicyArgs, model_image_policy
from .mesh_policies import ExternalService, MeshPolicies, MeshPoliciesArgs
from .namespace import DnsEndpoint, IsolatedNamespace, IsolatedNamespaceArgs
from .secrets import (
    AwsSecretsManager,
    GcpSecretManager,
    ModelSecrets,
    ModelSecretsArgs,
    SecretItem,
    VaultKubernetesAuth,
)
from .workload import (
    AutoscalingPolicy,
    ContainerResources,
    HardenedModelDeployment,
    HardenedModelDeploymentArgs,
    IngressPeer,
    ModelVerifier,
    NodePlacement,
    pod_shape,
)

__all__ = [
    "ModelTenant",
    "PlatformParts",
    "caller_principals",
    "deployment_args",
    "edge_tls_args",
    "mesh_policies_args",
    "model_image_policy_args",
    "model_pod_shape",
    "model_secret_files",
    "model_secrets_args",
    "namespace_args",
]


def _quota_hard(quota: Quota) -> dict[str, str]:
    hard = {f"requests.{key}": value for key, value in quota.requests.as_kubernetes().items()}
    hard.update({f"limits.{key}": value for key, value in quota.limits.as_kubernetes().items()})
    hard.update(
        {
            "pods": str(quota.pods),
            "services": str(quota.services),
            "configmaps": str(quota.configmaps),
            "secrets": str(quota.secrets),
            "persistentvolumeclaims": str(quota.persistent_volume_claims),
            # Model namespaces never expose nodes or cloud load balancers directly.
            "services.nodeports": "0",
            "services.loadbalancers": "0",
        }
    )
    return hard


def namespace_args(settings: StackSettings) -> IsolatedNamespaceArgs:
    """IsolatedNamespace inputs for the stack's model namespace."""
    defaults = settings.namespace.container_defaults
    return IsolatedNamespaceArgs(
        name=settings.namespace.name,
        pod_security_version=settings.pod_security_version,
        quota=_quota_hard(settings.namespace.quota),
        container_default_request=defaults.default_request.as_kubernetes(),
        container_default_limit=defaults.default_limit.as_kubernetes(),
        container_max=defaults.max.as_kubernetes(),
        dns=DnsEndpoint(namespace=settings.cluster_dns.namespace, pod_labels=dict(settings.cluster_dns.pod_labels)),
        extra_labels={
            **(INJECTION_LABEL if settings.mesh.enabled else {}),
            **(OPT_IN_LABEL if model_image_policy_args(settings) is not None else {}),
        },
        platform_groups=tuple(settings.rbac.platform_groups),
        protect=settings.environment.is_production,
    )


def model_secrets_args(settings: StackSettings) -> ModelSecretsArgs | None:
    """ModelSecrets inputs for the model namespace; None when the stack syncs no secrets."""
    secrets = settings.secrets
    if secrets.provider is None or not secrets.items:
        return None
    store: VaultKubernetesAuth | AwsSecretsManager | GcpSecretManager
    if secrets.provider is SecretProvider.VAULT and secrets.vault:
        vault = secrets.vault
        store = VaultKubernetesAuth(
            server=vault.server, role=vault.role, path=vault.path, auth_mount_path=vault.auth_mount_path
        )
    elif secrets.provider is SecretProvider.AWS and secrets.aws:
        store = AwsSecretsManager(region=secrets.aws.region, role_arn=secrets.aws.role_arn)
    elif secrets.provider is SecretProvider.GCP and secrets.gcp:
        gcp = secrets.gcp
        store = GcpSecretManager(
            project_id=gcp.project_id,
            service_account=gcp.service_account,
            cluster_location=gcp.cluster_location,
            cluster_name=gcp.cluster_name,
        )
    else:  # settings validation guarantees the provider's section
        raise ValueError(f"secrets.{secrets.provider.value}: section missing")
    return ModelSecretsArgs(
        namespace=settings.namespace.name,
        store=store,
        items=[SecretItem(item.name, item.remote_key, list(item.properties)) for item in secrets.items],
        refresh_interval=secrets.refresh_interval,
    )


def model_secret_files(settings: StackSettings) -> list[str]:
    """The Secrets the operator keeps in sync and the model mounts as files (none without a store)."""
    secrets_args = model_secrets_args(settings)
    return [item.name for item in secrets_args.items] if secrets_args else []


def model_pod_shape(settings: StackSettings) -> dict[str, Any]:
    """The model pod as the platform fixes it (what the Deployment sets, plus what the mesh's
    injector adds): the parameters of the constraint that stops a deployer from widening it."""
    args = deployment_args(
        settings, service_account_name=settings.model.name, secret_files=model_secret_files(settings)
    )
    # Its own registries only: the platform's allow-list is every tenant's.
    shape = {**pod_shape(args), "modelRegistries": list(settings.registries)}
    if settings.mesh.enabled:
        injected = injected_pod_shape()
        shape = {**shape, **injected, "volumes": [*shape["volumes"], *injected["volumes"]]}
    return shape


def deployment_args(
    settings: StackSettings,
    service_account_name: str,
    secret_files: list[str] | None = None,
    secrets_checksum: str | None = None,
) -> HardenedModelDeploymentArgs:
    """HardenedModelDeployment inputs for the stack's model."""
    model = settings.model
    autoscaling = model.autoscaling
    pool = model.node_pool
    verifier = (
        ModelVerifier(model.signing_certificate.chain, model.signing_certificate.signer_identity)
        if model.signing_certificate
        else ModelVerifier(model.signing_public_key or "")  # ModelSettings holds exactly one of the two
    )
    return HardenedModelDeploymentArgs(
        namespace=settings.namespace.name,
        image=model.image,
        service_account_name=service_account_name,
        resources=ContainerResources(
            requests=model.resources.requests.as_kubernetes(), limits=model.resources.limits.as_kubernetes()
        ),
        replicas=model.replicas,
        port=model.port,
        run_as_user=model.run_as_user,
        run_as_group=model.run_as_group,
        tmp_size_limit=model.tmp_size_limit,
        liveness_path=model.health.liveness_path,
        readiness_path=model.health.readiness_path,
        autoscaling=(
            AutoscalingPolicy(autoscaling.min_replicas, autoscaling.max_replicas, autoscaling.target_cpu_utilization)
            if autoscaling.enabled
            else None
        ),
        ingress_from=[
            IngressPeer(namespace=source.namespace, pod_labels=dict(source.pod_labels), cidr=source.cidr)
            for source in model.ingress_from
        ],
        node_placement=(
            NodePlacement(
                node_selector=dict(pool.node_selector),
                tolerations=[toleration.model_dump() for toleration in pool.tolerations],
            )
            if pool
            else None
        ),
        # The server's environment, by the names of the contract the image reads it by.
        env={
            ServerEnv.PORT: str(model.port),
            ServerEnv.REQUEST_READ_TIMEOUT: str(model.request_read_timeout_seconds),
            ServerEnv.GRACEFUL_TIMEOUT: str(model.shutdown.drain_seconds),
            **verifier.env(),
        },
        pre_stop_seconds=model.shutdown.pre_stop_seconds,
        termination_grace_period_seconds=model.shutdown.termination_grace_period_seconds,
        secret_files=list(secret_files or []),
        secrets_checksum=secrets_checksum,
        pod_annotations=dict(PROXY_RESOURCE_ANNOTATIONS) if settings.mesh.enabled else {},
        verifier=verifier,
    )


def model_image_policy_args(settings: StackSettings) -> ModelImagePolicyArgs | None:
    """The tenant's ClusterImagePolicy inputs, or None where a dev stack turned verification off."""
    supply_chain = settings.supply_chain
    if supply_chain is None or not supply_chain.enabled or supply_chain.image_signer is None:
        return None
    signer = supply_chain.image_signer
    return ModelImagePolicyArgs(
        registries=list(settings.registries),
        public_key=signer.public_key,
        keyless_issuer=signer.keyless.issuer if signer.keyless else None,
        keyless_subject=signer.keyless.subject if signer.keyless else None,
        mode=supply_chain.mode.value,
        # A stack of one `model` keeps the name it always had; each tenant of `models` has its own.
        policy_name=f"model-images-signed-{settings.namespace.name}"
        if settings.in_model_list
        else "model-images-signed",
        protect=settings.environment.is_production,
    )


def caller_principals(settings: StackSettings) -> list[str]:
    """SPIFFE principals allowed to call the model: the named callers and the gateway."""
    mesh = settings.mesh
    callers = [(caller.namespace, caller.service_account) for caller in mesh.callers]
    # The gateway calls the one model it routes to, no other tenant.
    if settings.gateway_model == settings.tenant.name:
        callers.append((mesh.gateway.namespace, mesh.gateway.service_account))
    return sorted({f"{mesh.trust_domain}/ns/{namespace}/sa/{account}" for namespace, account in callers})


def mesh_policies_args(settings: StackSettings, workload_labels: dict[str, str]) -> MeshPoliciesArgs:
    """MeshPolicies inputs: who may call the model, and where it may go."""
    mesh, health = settings.mesh, settings.model.health
    return MeshPoliciesArgs(
        namespace=settings.namespace.name,
        workload_labels=workload_labels,
        port=settings.model.port,
        caller_principals=caller_principals(settings),
        predict_path=health.predict_path,
        health_paths=(health.liveness_path, health.readiness_path),
        mesh_namespace=mesh.namespace,
        monitoring_namespace=mesh.monitoring_namespace,
        external_services=[ExternalService(host.host, host.port, list(host.cidrs)) for host in mesh.external_hosts],
        request_read_timeout_seconds=settings.model.request_read_timeout_seconds,
        protect=settings.environment.is_production,
    )


def edge_tls_args(settings: StackSettings) -> EdgeTlsArgs:
    """EdgeTls inputs: the public host, its issuer, and the model Service behind it."""
    gateway, model = settings.mesh.gateway, settings.model
    assert gateway.host is not None  # settings require it while the gateway is enabled
    return EdgeTlsArgs(
        host=gateway.host,
        pod_security_version=settings.pod_security_version,
        service_host=f"{model.name}.{settings.namespace.name}.svc.cluster.local",
        service_port=model.port,
        paths=[model.health.predict_path],
        request_read_timeout_seconds=model.request_read_timeout_seconds,
        gateway_namespace=gateway.namespace,
        gateway_service_account=gateway.service_account,
        issuer=gateway.issuer.value,
        acme_email=gateway.acme_email,
        acme_server=gateway.acme_server,
        acme_solver=_acme_solver(gateway.acme_dns01),
        cert_manager_preinstalled=settings.preinstalled(Addon.CERT_MANAGER),
    )


def _acme_solver(dns01: AcmeDns01 | None) -> Route53Solver | CloudDnsSolver | None:
    """The settings' DNS-01 provider as the solver EdgeTls renders."""
    if dns01 is None:
        return None
    if dns01.route53 is not None:
        aws = dns01.route53
        return Route53Solver(region=aws.region, hosted_zone_id=aws.hosted_zone_id, role_arn=aws.role_arn)
    assert dns01.cloud_dns is not None  # AcmeDns01 holds exactly one provider
    gcp = dns01.cloud_dns
    return CloudDnsSolver(
        project=gcp.project, google_service_account=gcp.service_account, hosted_zone_name=gcp.hosted_zone_name
    )


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
    """One model tenant, built from a one-model view of the stack settings.

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
        settings: StackSettings,
        platform: PlatformParts = PlatformParts(),
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{TYPE_PREFIX}:tenant:ModelTenant", name, None, opts)
        model = settings.tenant
        model_name, namespace_name = model.name, settings.namespace.name
        production = settings.environment.is_production
        old = platform.previous_parent
        # Before tenants, the constraint and the image policy were children of the platform's parts.
        old_admission, old_image_policy = (platform.admission, platform.image_policy) if old else (None, None)

        def here(*depends: Any, aliases: list[pulumi.Alias] | None = None, **extra: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, depends_on=[d for d in depends if d is not None] or None, aliases=aliases, **extra
            )

        namespace = IsolatedNamespace(namespace_name, namespace_args(settings), here(aliases=_moved(old)))
        # The tenant's own admission objects: cluster-scoped, so they are guarded like the platform's.
        constraints = [
            custom_resource(
                f"admission-constraint-{resource_name}",
                document,
                here(platform.admission, aliases=_moved(old_admission), **guard(production)),
            )
            for _policy, resource_name, document in model_constraints(
                namespace_name, model_pod_shape(settings), settings.admission.enforcement_action.value
            )
        ]
        signatures = model_image_policy_args(settings)
        image_policy = (
            model_image_policy(
                f"{model_name}-image-policy",
                signatures,
                here(
                    platform.image_policy,
                    aliases=_moved(old_image_policy, "supply-chain-cluster-image-policy"),
                    **guard(production),
                ),
            )
            if signatures is not None
            else None
        )
        identity = ModelIdentity(
            f"{model_name}-identity",
            ModelIdentityArgs(
                namespace=namespace_name,
                service_account_name=model_name,
                deployer_groups=list(settings.rbac.deployer_groups),
                auditor_groups=list(settings.rbac.auditor_groups),
            ),
            here(namespace, aliases=_moved(old)),
        )
        secrets_args = model_secrets_args(settings)
        model_secrets = (
            ModelSecrets(
                f"{model_name}-secrets", secrets_args, here(namespace, platform.secrets_operator, aliases=_moved(old))
            )
            if secrets_args is not None
            else None
        )
        workload = HardenedModelDeployment(
            model_name,
            deployment_args(
                settings,
                service_account_name=model_name,
                secret_files=model_secret_files(settings),
                secrets_checksum=model_secrets.checksum if model_secrets else None,
            ),
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
        if settings.mesh.enabled:
            MeshPolicies(
                f"{model_name}-mesh",
                mesh_policies_args(settings, workload.selector),
                here(namespace, platform.mesh, aliases=_moved(old)),
            )
            if settings.gateway_model == model_name:
                EdgeTls("edge", edge_tls_args(settings), here(platform.mesh, aliases=_moved(old)))

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
