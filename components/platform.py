"""SecureModelPlatform: one stack's hardened model-serving platform, composed in order.

It turns validated StackSettings into the Args of each component: admission control and the
system add-ons (Falco runtime detection, External Secrets Operator) first, then the isolated
namespace, the model's identity and RBAC inside it, the model's SecretStore and ExternalSecrets,
and last the hardened model workload, which waits for admission control (so the constraints
judge it) and for its secrets (so its pods start with their files). The add-ons' namespaces are
system namespaces: they are exempt from the admission webhook. Later layers (mesh, supply
chain, TLS) plug in here so their ordering lives in one place.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.admission import AdmissionControl, AdmissionControlArgs
from components.identity import ModelIdentity, ModelIdentityArgs
from components.mesh import (
    INJECTION_LABEL,
    PROXY_RESOURCE_ANNOTATIONS,
    ExternalService,
    MeshPolicies,
    MeshPoliciesArgs,
    ServiceMesh,
    ServiceMeshArgs,
    injected_pod_shape,
)
from components.namespace import DnsEndpoint, IsolatedNamespace, IsolatedNamespaceArgs
from components.naming import TYPE_PREFIX
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
from components.settings import AcmeDns01, Addon, AlertOutput, Quota, SecretProvider, StackSettings
from components.supply_chain import OPT_IN_LABEL, ImageSignaturePolicy, ImageSignaturePolicyArgs
from components.tls import CloudDnsSolver, EdgeTls, EdgeTlsArgs, Route53Solver
from components.versions import ISTIO_PROXY_IMAGE
from components.workload import (
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
    "SecureModelPlatform",
    "admission_args",
    "alert_target",
    "deployment_args",
    "model_pod_shape",
    "model_secret_files",
    "model_secrets_args",
    "runtime_args",
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
            **(OPT_IN_LABEL if signature_policy_args(settings) is not None else {}),
        },
        platform_groups=tuple(settings.rbac.platform_groups),
        protect=settings.environment.is_production,
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
    """RuntimeDetection inputs: watch the model namespaces, run on the model node pool too."""
    runtime = settings.runtime
    alerts = runtime.alerts
    pool = settings.model.node_pool
    return RuntimeDetectionArgs(
        model_namespaces=[settings.namespace.name],
        model_image_repositories=list(settings.registries),
        namespace=runtime.namespace,
        requests=runtime.requests.as_kubernetes(),
        limits=runtime.limits.as_kubernetes(),
        tolerations=[toleration.model_dump() for toleration in pool.tolerations] if pool else [],
        allowed_processes=list(runtime.allowed_processes),
        allowed_egress=list(runtime.allowed_egress),
        alerts=None if alerts.output is AlertOutput.NONE else alert_target(settings),
        pod_security_version=settings.pod_security_version,
        protect=settings.environment.is_production,
        preinstalled=settings.preinstalled(Addon.FALCO),
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


def admission_args(settings: StackSettings) -> AdmissionControlArgs:
    """AdmissionControl inputs: the stack's registries, strictness and exemptions, and the model
    pod's shape."""
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
        model_pod_shapes={settings.namespace.name: model_pod_shape(settings)},
    )


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
        # The server's environment contract (app/config.py; the library does not ship app/, and a
        # test holds these names equal to it).
        env={
            "PORT": str(model.port),
            "REQUEST_READ_TIMEOUT": str(model.request_read_timeout_seconds),
            "GUNICORN_GRACEFUL_TIMEOUT": str(model.shutdown.drain_seconds),
            **verifier.env(),
        },
        pre_stop_seconds=model.shutdown.pre_stop_seconds,
        termination_grace_period_seconds=model.shutdown.termination_grace_period_seconds,
        secret_files=list(secret_files or []),
        secrets_checksum=secrets_checksum,
        pod_annotations=dict(PROXY_RESOURCE_ANNOTATIONS) if settings.mesh.enabled else {},
        verifier=verifier,
    )


def signature_policy_args(settings: StackSettings) -> ImageSignaturePolicyArgs | None:
    """ImageSignaturePolicy inputs, or None where a dev stack turned verification off."""
    supply_chain = settings.supply_chain
    if supply_chain is None or not supply_chain.enabled or supply_chain.image_signer is None:
        return None
    signer = supply_chain.image_signer
    return ImageSignaturePolicyArgs(
        registries=list(settings.registries),
        pod_security_version=settings.pod_security_version,
        public_key=signer.public_key,
        keyless_issuer=signer.keyless.issuer if signer.keyless else None,
        keyless_subject=signer.keyless.subject if signer.keyless else None,
        mode=supply_chain.mode.value,
        namespace=supply_chain.namespace,
        protect=settings.environment.is_production,
        preinstalled=settings.preinstalled(Addon.POLICY_CONTROLLER),
        # The injected sidecar is in every model pod; with no policy covering it, none would start.
        pinned_images=[ISTIO_PROXY_IMAGE] if settings.mesh.enabled else [],
    )


def caller_principals(settings: StackSettings) -> list[str]:
    """SPIFFE principals allowed to call the model: the named callers and the gateway."""
    mesh = settings.mesh
    callers = [(caller.namespace, caller.service_account) for caller in mesh.callers]
    if mesh.gateway.enabled:
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


class SecureModelPlatform(pulumi.ComponentResource):
    """The whole platform for one stack.

    Outputs:
        admission_namespace: Gatekeeper's namespace.
        namespace: the model namespace.
        service_account: the model's ServiceAccount.
        service_address: in-cluster address of the model API.
    """

    admission_namespace: pulumi.Output[str]
    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]
    service_address: pulumi.Output[str]

    def __init__(self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:platform:SecureModelPlatform", name, None, opts)
        model_name = settings.model.name

        # Admission first: the model's workload is judged by the constraints when it is created.
        admission = AdmissionControl("admission", admission_args(settings), pulumi.ResourceOptions(parent=self))
        if settings.runtime.enabled:
            RuntimeDetection("runtime", runtime_args(settings), pulumi.ResourceOptions(parent=self))
        operator = (
            SecretsOperator(
                "secrets",
                SecretsOperatorArgs(
                    served_namespace=settings.namespace.name,
                    namespace=settings.secrets.namespace,
                    pod_security_version=settings.pod_security_version,
                    protect=settings.environment.is_production,
                    preinstalled=settings.preinstalled(Addon.EXTERNAL_SECRETS),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            if settings.secrets.provider is not None
            else None
        )
        mesh = (
            ServiceMesh(
                "mesh",
                ServiceMeshArgs(
                    pod_security_version=settings.pod_security_version,
                    namespace=settings.mesh.namespace,
                    cni_namespace=settings.mesh.cni_namespace,
                    trust_domain=settings.mesh.trust_domain,
                    protect=settings.environment.is_production,
                    mesh_wide_strict_mtls=settings.mesh.mesh_wide.strict_mtls,
                    mesh_wide_registry_only=settings.mesh.mesh_wide.registry_only,
                    preinstalled=settings.preinstalled(Addon.ISTIO),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            if settings.mesh.enabled
            else None
        )
        signatures = signature_policy_args(settings)
        image_policy = (
            ImageSignaturePolicy("supply-chain", signatures, pulumi.ResourceOptions(parent=self))
            if signatures is not None
            else None
        )
        namespace = IsolatedNamespace(
            settings.namespace.name, namespace_args(settings), pulumi.ResourceOptions(parent=self)
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        identity = ModelIdentity(
            f"{model_name}-identity",
            ModelIdentityArgs(
                namespace=settings.namespace.name,
                service_account_name=model_name,
                deployer_groups=list(settings.rbac.deployer_groups),
                auditor_groups=list(settings.rbac.auditor_groups),
            ),
            in_namespace,
        )
        secrets_args = model_secrets_args(settings)
        model_secrets = (
            ModelSecrets(
                f"{model_name}-secrets",
                secrets_args,
                pulumi.ResourceOptions(parent=self, depends_on=[namespace, operator]),
            )
            if secrets_args is not None and operator is not None
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
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    namespace,
                    identity,
                    admission,
                    *([model_secrets] if model_secrets else []),
                    # The injector must be up before the first pod, or it starts without a sidecar.
                    *([mesh] if mesh else []),
                    # Likewise the signature check: a pod admitted before it exists was never verified.
                    *([image_policy] if image_policy else []),
                ],
            ),
        )
        if mesh is not None:
            MeshPolicies(
                f"{model_name}-mesh",
                mesh_policies_args(settings, workload.selector),
                pulumi.ResourceOptions(parent=self, depends_on=[namespace, mesh]),
            )
            if settings.mesh.gateway.enabled:
                EdgeTls("edge", edge_tls_args(settings), pulumi.ResourceOptions(parent=self, depends_on=[mesh]))

        self.admission_namespace = admission.namespace
        self.namespace = namespace.namespace_name
        self.service_account = identity.service_account_name
        self.service_address = workload.service_address
        self.register_outputs(
            {
                "admission_namespace": self.admission_namespace,
                "namespace": self.namespace,
                "service_account": self.service_account,
                "service_address": self.service_address,
            }
        )
