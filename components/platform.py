"""SecureModelPlatform: one stack's hardened model-serving platform, composed in order.

It turns validated StackSettings into the Args of each component: the isolated namespace
first, then the model's identity and RBAC inside it, then the hardened model workload, which
waits for admission control so that the constraints judge it when it is created.
Later layers (admission control, mesh, runtime detection, secrets, supply chain, TLS) plug in
here so their ordering lives in one place.
"""

from __future__ import annotations

import pulumi

from components.admission import AdmissionControl, AdmissionControlArgs
from components.identity import ModelIdentity, ModelIdentityArgs
from components.namespace import DnsEndpoint, IsolatedNamespace, IsolatedNamespaceArgs
from components.naming import TYPE_PREFIX
from components.settings import Quota, StackSettings
from components.workload import (
    AutoscalingPolicy,
    ContainerResources,
    HardenedModelDeployment,
    HardenedModelDeploymentArgs,
    IngressPeer,
    NodePlacement,
)

__all__ = ["SecureModelPlatform"]


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
        protect=settings.environment.is_production,
    )


def admission_args(settings: StackSettings) -> AdmissionControlArgs:
    """AdmissionControl inputs: the stack's registries, strictness and exemptions."""
    admission = settings.admission
    return AdmissionControlArgs(
        registries=list(settings.registries),
        pod_security_version=settings.pod_security_version,
        enforcement_action=admission.enforcement_action.value,
        failure_policy=admission.failure_policy.value,
        replicas=admission.replicas,
        namespace=admission.namespace,
        exempt_namespaces=[settings.cluster_dns.namespace, *admission.exempt_namespaces],
        exempt_images=list(admission.exempt_images),
        audit_interval_seconds=admission.audit_interval_seconds,
        protect=settings.environment.is_production,
    )


def deployment_args(settings: StackSettings, service_account_name: str) -> HardenedModelDeploymentArgs:
    """HardenedModelDeployment inputs for the stack's model."""
    model = settings.model
    autoscaling = model.autoscaling
    pool = model.node_pool
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
        env={"PORT": str(model.port)},
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
        workload = HardenedModelDeployment(
            model_name,
            deployment_args(settings, service_account_name=model_name),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace, identity, admission]),
        )

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
