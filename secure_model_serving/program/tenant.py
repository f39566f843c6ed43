"""The tenant's program: a one-model view of the stack settings mapped to ModelTenantArgs.

Every function reads a one-model view of the settings (StackSettings.tenants()), so a stack of one
`model`, each entry of `models` and a tenant stack of a split are built by the same code. Each
decision is made once, in `tenant_args`: whether the tenant verifies signatures (its image policy,
hence the namespace's opt-in label), which secrets it syncs (its store, hence the files the model
mounts and the pod shape its constraint pins), whether the edge routes to it.
"""

from __future__ import annotations

from ..cluster.edge import CloudDnsSolver, EdgeTlsArgs, Route53Solver
from ..cluster.mesh import INJECTION_LABEL, PROXY_RESOURCE_ANNOTATIONS
from ..serving_contract import ServerEnv
from ..settings import AcmeDns01, Addon, Quota, SecretProvider, StackSettings
from ..tenant.identity import ModelIdentityArgs
from ..tenant.image_policy import OPT_IN_LABEL, ModelImagePolicyArgs
from ..tenant.mesh_policies import ExternalService, MeshPoliciesArgs
from ..tenant.model_tenant import ModelTenantArgs
from ..tenant.namespace import DnsEndpoint, IsolatedNamespaceArgs
from ..tenant.secrets import AwsSecretsManager, GcpSecretManager, ModelSecretsArgs, SecretItem, VaultKubernetesAuth
from ..tenant.workload import (
    AutoscalingPolicy,
    ContainerResources,
    HardenedModelDeploymentArgs,
    IngressPeer,
    ModelVerifier,
    NodePlacement,
    model_selector,
)

__all__ = [
    "caller_principals",
    "deployment_args",
    "edge_tls_args",
    "mesh_policies_args",
    "model_image_policy_args",
    "model_secrets_args",
    "namespace_args",
    "tenant_args",
]


def tenant_args(settings: StackSettings) -> ModelTenantArgs:
    """ModelTenant inputs for the one model of `settings` (a one-model view)."""
    image_policy = model_image_policy_args(settings)
    secrets = model_secrets_args(settings)
    deployment = deployment_args(settings, secret_files=[item.name for item in secrets.items] if secrets else [])
    mesh = settings.mesh
    return ModelTenantArgs(
        namespace=namespace_args(settings, verifies_signatures=image_policy is not None),
        identity=ModelIdentityArgs(
            namespace=settings.namespace.name,
            service_account_name=settings.model.name,
            deployer_groups=list(settings.rbac.deployer_groups),
            auditor_groups=list(settings.rbac.auditor_groups),
        ),
        deployment=deployment,
        registries=list(settings.registries),
        enforcement_action=settings.admission.enforcement_action.value,
        secrets=secrets,
        image_policy=image_policy,
        mesh=mesh_policies_args(settings) if mesh.enabled else None,
        # The gateway routes to one model: its tenant builds the edge.
        edge=edge_tls_args(settings) if mesh.enabled and settings.gateway_model == settings.tenant.name else None,
        protect=settings.environment.is_production,
    )


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


def namespace_args(settings: StackSettings, *, verifies_signatures: bool) -> IsolatedNamespaceArgs:
    """IsolatedNamespace inputs for the tenant's namespace (opted in to the signature controller
    when the tenant has an image policy)."""
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
            **(OPT_IN_LABEL if verifies_signatures else {}),
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


def deployment_args(settings: StackSettings, secret_files: list[str]) -> HardenedModelDeploymentArgs:
    """HardenedModelDeployment inputs for the tenant's model, run as its own ServiceAccount (named
    after the model) and mounting `secret_files`."""
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
        service_account_name=model.name,
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
        secret_files=list(secret_files),
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


def mesh_policies_args(settings: StackSettings) -> MeshPoliciesArgs:
    """MeshPolicies inputs: who may call the model, and where it may go."""
    mesh, health = settings.mesh, settings.model.health
    return MeshPoliciesArgs(
        namespace=settings.namespace.name,
        workload_labels=model_selector(settings.model.name),
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
