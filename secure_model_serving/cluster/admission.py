"""AdmissionControl: OPA Gatekeeper installed fail-closed, with the project's policies enforced.

Order matters and is expressed with real dependencies, never sleeps:

1. Gatekeeper's namespace (PSA `restricted`: Gatekeeper's own pods meet it) and its Helm
   release, which installs the CRDs and a webhook that waits until it answers.
2. One ConstraintTemplate per folder under `secure_model_serving/policies/` (the Rego is read from there, never
   written in Python). Each carries the provider's `pulumi.com/waitFor` annotation on
   `.status.created`, so Pulumi waits until Gatekeeper has generated the constraint's CRD.
3. ExpansionTemplates, so that Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and
   CronJobs are judged as the Pods they would create: a bad Deployment is refused at apply
   time instead of leaving a rollout waiting for Pods that never come.
4. One Constraint per template, scoped to the model namespaces by the isolation label that
   IsolatedNamespace sets, with the stack's enforcement action and parameters.

In production the release, the templates, the ExpansionTemplates and the constraints are
protected: deleting any would silently remove protection. The constraints and ExpansionTemplates
are also retained if they are ever dropped from the program.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from ..naming import ISOLATION_LABEL, TYPE_PREFIX
from ..options import child_options, guard
from ..policies import NamespaceScope, Policy, constraint, constraint_template, expansion_templates
from ..policies.parameters import constraint_parameters, model_namespace_match
from ..policy_set import installed_policies
from ..serving_vocabulary import EnforcementAction, FailurePolicy, choices
from ..system import addon_install, custom_resource, pod_security_labels
from ..versions import GATEKEEPER

__all__ = [
    "ALWAYS_EXEMPT_NAMESPACES",
    "AdmissionControl",
    "AdmissionControlArgs",
    "constraint_parameters",
    "gatekeeper_values",
    "model_constraints",
]

ALWAYS_EXEMPT_NAMESPACES = ("kube-system",)
"""Namespaces the webhook never judges (besides Gatekeeper's own): a fail-closed webhook that
is down must not stop the control plane's own add-ons from restarting."""

_WAIT_FOR_CRD = "jsonpath={.status.created}=true"


@dataclass(frozen=True)
class AdmissionControlArgs:
    """Inputs of AdmissionControl. Defaults are the fail-closed posture."""

    registries: Sequence[str]
    """Allowed image registry prefixes (matched on whole path segments)."""
    pod_security_version: str
    """Pinned Pod Security Standards version of Gatekeeper's namespace, e.g. "v1.36"."""
    enforcement_action: EnforcementAction = EnforcementAction.DENY
    """What every constraint does with a violation: deny, warn or dryrun."""
    failure_policy: FailurePolicy = FailurePolicy.FAIL
    """The webhook's failurePolicy: Fail (closed) or Ignore (open)."""
    replicas: int = 3
    """Webhook replicas; a PodDisruptionBudget keeps all but one through a drain (none with one)."""
    namespace: str = "gatekeeper-system"
    """Gatekeeper's namespace."""
    exempt_namespaces: Sequence[str] = ()
    """More namespaces the webhook skips (mesh and runtime system namespaces)."""
    exempt_images: Sequence[str] = ()
    """Exact, digest-pinned images excused only from the policies whose policy.yaml says
    `image_exemptible: true`."""
    audit_interval_seconds: int = 60
    """How often Gatekeeper audits existing objects against the constraints."""
    model_namespace_labels: Mapping[str, str] = field(default_factory=lambda: {ISOLATION_LABEL: "true"})
    """Labels selecting the namespaces the constraints apply to."""
    protect: bool = False
    """Protect the release and the templates from deletion (production)."""
    preinstalled: bool = False
    """Gatekeeper already runs in `namespace` (the cluster's platform installed it): create neither
    its namespace nor its Helm release, only the templates, ExpansionTemplates and constraints."""

    def __post_init__(self) -> None:
        problems = []
        if not self.registries:
            problems.append("registries must name at least one registry")
        if self.enforcement_action not in set(EnforcementAction):
            problems.append(f"enforcement_action must be one of {choices(EnforcementAction)}")
        if self.failure_policy not in set(FailurePolicy):
            problems.append(f"failure_policy must be one of {choices(FailurePolicy)}")
        if self.replicas < 1:
            problems.append("replicas must be >= 1")
        if not self.model_namespace_labels:
            problems.append("model_namespace_labels must not be empty (it would match every namespace)")
        if problems:
            raise ValueError("AdmissionControlArgs: " + "; ".join(problems))


def exempt_namespaces(args: AdmissionControlArgs) -> list[str]:
    """Namespaces the webhook skips, besides Gatekeeper's own (the chart excludes that one)."""
    return sorted({*ALWAYS_EXEMPT_NAMESPACES, *args.exempt_namespaces} - {args.namespace})


def gatekeeper_values(args: AdmissionControlArgs) -> dict[str, Any]:
    """Helm values of the Gatekeeper chart: fail-closed, highly available, audited."""
    skipped = exempt_namespaces(args)
    requests = {"cpu": "100m", "memory": "512Mi"}
    return {
        "replicas": args.replicas,
        "validatingWebhookFailurePolicy": args.failure_policy,
        "validatingWebhookTimeoutSeconds": 3,
        # The webhook's namespaceSelector leaves these out entirely, so an outage cannot block them.
        "validatingWebhookExemptNamespacesLabels": {"kubernetes.io/metadata.name": skipped},
        "enableGeneratorResourceExpansion": True,
        "auditInterval": args.audit_interval_seconds,
        "disableAudit": False,
        "logDenies": True,
        # No mutation is used: fewer webhooks, less that can rewrite a workload.
        "disableMutation": True,
        "enableRuntimeDefaultSeccompProfile": True,
        # All but one replica stay through a drain; a single replica must not block one.
        "pdb": {"controllerManager": {"minAvailable": args.replicas - 1}},
        "controllerManager": {
            "exemptNamespaces": skipped,
            "resources": {"requests": requests, "limits": {"cpu": "1", "memory": "512Mi"}},
        },
        "audit": {"resources": {"requests": requests, "limits": {"cpu": "1", "memory": "512Mi"}}},
        # We create and label the namespace ourselves; the label job would need cluster-wide rights.
        "postInstall": {"labelNamespace": {"enabled": False}},
        # Remove the webhooks before the pods on uninstall, so a fail-closed webhook with no
        # server behind it cannot lock the cluster.
        "preUninstall": {"deleteWebhookConfigurations": {"enabled": True}},
    }


class AdmissionControl(pulumi.ComponentResource):
    """Gatekeeper (Helm), ConstraintTemplates, ExpansionTemplates and Constraints, in order.

    Outputs:
        namespace: Gatekeeper's namespace.
        constraint_names: `Kind/name` of every constraint, for review.
    """

    namespace: pulumi.Output[str]
    constraint_names: list[str]

    def __init__(self, name: str, args: AdmissionControlArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:admission:AdmissionControl", name, None, opts)
        # Fixtures are a test concern (tests/policies requires them); installs need only the Rego.
        policies = installed_policies()

        self.namespace, installed = addon_install(
            name,
            self,
            opts,
            GATEKEEPER,
            args.namespace,
            pod_security_labels(args.pod_security_version),
            gatekeeper_values(args),
            protect=args.protect,
            preinstalled=args.preinstalled,
        )
        templates = {
            policy.kind: custom_resource(
                f"{name}-template-{policy.name}",
                _with_wait_annotation(constraint_template(policy)),
                child_options(self, opts, depends_on=installed, protect=args.protect),
            )
            for policy in policies
        }
        # Constraints and ExpansionTemplates are protections: in production Pulumi refuses to delete
        # them, and one dropped from the program stays in the cluster.
        guarded = guard(args.protect)
        expansions = [
            custom_resource(
                f"{name}-{document['metadata']['name']}",
                document,
                child_options(self, opts, depends_on=installed, **guarded),
            )
            for document in expansion_templates()
        ]
        self.constraint_names = []
        for policy, resource_name, document in _constraints(policies, args):
            custom_resource(
                f"{name}-constraint-{resource_name}",
                document,
                child_options(self, opts, depends_on=[templates[policy.kind], *expansions], **guarded),
            )
            self.constraint_names.append(f"{policy.kind}/{document['metadata']['name']}")

        self.register_outputs({"namespace": self.namespace, "constraint_names": self.constraint_names})


def _constraints(policies: Sequence[Policy], args: AdmissionControlArgs) -> list[tuple[Policy, str, dict[str, Any]]]:
    """(policy, resource name, Constraint) of every cluster-wide constraint: one per policy but the
    `each-model` ones, which each model tenant adds for its own namespace (model_constraints)."""
    found = []
    for policy in policies:
        if policy.namespaces is NamespaceScope.EACH_MODEL:
            continue
        parameters = constraint_parameters(policy, args.registries, args.exempt_images)
        match = model_namespace_match(policy, args.model_namespace_labels)
        document = constraint(policy, parameters=parameters, enforcement_action=args.enforcement_action, match=match)
        found.append((policy, policy.name, document))
    return found


def model_constraints(
    namespace: str,
    pod_shape: Mapping[str, Any],
    enforcement_action: str = "deny",
    namespace_labels: Mapping[str, str] | None = None,
) -> list[tuple[Policy, str, dict[str, Any]]]:
    """(policy, resource name, Constraint) of each `each-model` policy for one model namespace: its
    parameters that model's pod shape (workload.pod_shape, the mesh's injected parts, its
    registries), matching that namespace only. The ConstraintTemplates are the platform's."""
    found = []
    for policy in installed_policies():
        if policy.namespaces is not NamespaceScope.EACH_MODEL:
            continue
        match = model_namespace_match(policy, namespace_labels)
        name = f"{policy.name}-{namespace}"
        document = constraint(
            policy,
            name,
            parameters=dict(pod_shape),
            enforcement_action=enforcement_action,
            match={**match, "namespaces": [namespace]},
        )
        found.append((policy, name, document))
    return found


def _with_wait_annotation(document: dict[str, Any]) -> dict[str, Any]:
    """Make the provider wait until Gatekeeper has created the constraint CRD of a template."""
    metadata = dict(document["metadata"])
    metadata["annotations"] = {**metadata.get("annotations", {}), "pulumi.com/waitFor": _WAIT_FOR_CRD}
    return {**document, "metadata": metadata}
