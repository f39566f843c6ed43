"""ModelIdentity: the model's ServiceAccount and the namespace's least-privilege RBAC.

The model itself gets an identity and no API rights (and no token mounted). People and CI get
two namespaced Roles bound to groups: a deployer that may roll the model's own workload kinds and
an auditor that may only read. Neither Role names `secrets`, exec/attach/port-forward, the
privilege verbs (`escalate`, `bind`, `impersonate`) or `*`; the namespace's isolation objects
(NetworkPolicies, quotas, RBAC) stay with whoever runs `pulumi up`, so a deployer cannot widen
them. The auditor also reads the cluster-wide admission posture that judges the namespace
(constraints and their status, templates, ExpansionTemplates, image policies) through a read-only
ClusterRole; nothing else here is cluster-wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from ..naming import TYPE_PREFIX, workload_labels
from ..options import child_options
from ..policy_set import installed_policies

__all__ = [
    "AUDITOR_RULES",
    "DEPLOYER_RULES",
    "FORBIDDEN_RESOURCES",
    "FORBIDDEN_VERBS",
    "ModelIdentity",
    "ModelIdentityArgs",
    "auditor_cluster_rules",
]

_READ = ["get", "list", "watch"]
_WRITE = ["create", "update", "patch", "delete"]

DEPLOYER_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _READ + _WRITE},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": _READ},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _READ + _WRITE},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _READ + _WRITE},
    # Read-only: ConfigMaps carry the model-signing public key, which a deployer must not swap;
    # Services route traffic, so only `pulumi up` changes them.
    # No pods/log: the model's secrets are files the process can read, so a log line (or a
    # compromised process writing one) could carry them; logs go to the platform's log pipeline,
    # where access is granted on its own. Events and pod status show a rollout's progress.
    {
        "apiGroups": [""],
        "resources": ["pods", "events", "serviceaccounts", "configmaps", "services"],
        "verbs": _READ,
    },
]
"""Roll out the model: its own workload kinds, plus read access to see the rollout."""

AUDITOR_RULES: list[dict[str, list[str]]] = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "services",
            "endpoints",
            "configmaps",
            "serviceaccounts",
            "events",
            "resourcequotas",
            "limitranges",
        ],
        "verbs": _READ,
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": _READ},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _READ},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _READ},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _READ},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": _READ},
    # The mesh's and the secret store's posture: who may call the model, mTLS, egress, which remote
    # keys are synced from where (never the values).
    {"apiGroups": ["security.istio.io"], "resources": ["authorizationpolicies", "peerauthentications"], "verbs": _READ},
    {"apiGroups": ["networking.istio.io"], "resources": ["sidecars", "serviceentries"], "verbs": _READ},
    {"apiGroups": ["external-secrets.io"], "resources": ["secretstores", "externalsecrets"], "verbs": _READ},
]
"""Read the namespace's objects and its security posture; never secrets or logs."""


def auditor_cluster_rules() -> list[dict[str, list[str]]]:
    """Read the admission posture that judges the namespace, which lives cluster-wide: every
    constraint (its parameters and its status: enforced, violations), the templates, the
    ExpansionTemplates, Gatekeeper's per-pod status and the image-signature policies."""
    constraint_resources = sorted(policy.kind.lower() for policy in installed_policies())
    return [
        {"apiGroups": ["constraints.gatekeeper.sh"], "resources": constraint_resources, "verbs": _READ},
        {"apiGroups": ["templates.gatekeeper.sh"], "resources": ["constrainttemplates"], "verbs": _READ},
        {"apiGroups": ["expansion.gatekeeper.sh"], "resources": ["expansiontemplates"], "verbs": _READ},
        {
            "apiGroups": ["status.gatekeeper.sh"],
            "resources": ["constraintpodstatuses", "constrainttemplatepodstatuses", "expansiontemplatepodstatuses"],
            "verbs": _READ,
        },
        {"apiGroups": ["policy.sigstore.dev"], "resources": ["clusterimagepolicies"], "verbs": _READ},
    ]


FORBIDDEN_RESOURCES = frozenset(
    {
        "*",
        "secrets",
        "pods/log",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/ephemeralcontainers",
        "serviceaccounts/token",
    }
)
"""Resources no namespace Role may name: each reads secrets (directly, or as the model's logs
could print them) or runs code in a pod."""

FORBIDDEN_VERBS = frozenset({"*", "escalate", "bind", "impersonate"})
"""Verbs that grant more rights than the Role itself holds."""


@dataclass(frozen=True)
class ModelIdentityArgs:
    """Inputs of ModelIdentity."""

    namespace: str
    """Namespace holding the ServiceAccount, Roles and RoleBindings."""
    service_account_name: str
    """Name of the model's ServiceAccount."""
    deployer_groups: list[str] = field(default_factory=list)
    """Groups bound to the deployer Role (none: no binding is created)."""
    auditor_groups: list[str] = field(default_factory=list)
    """Groups bound to the read-only auditor Role."""


class ModelIdentity(pulumi.ComponentResource):
    """ServiceAccount (no token automount), deployer and auditor Roles, group RoleBindings.

    Outputs:
        service_account_name: name of the model's ServiceAccount.
    """

    service_account_name: pulumi.Output[str]

    def __init__(self, name: str, args: ModelIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:identity:ModelIdentity", name, None, opts)
        child = child_options(self, opts)
        labels = workload_labels(args.service_account_name, "identity")

        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata={"name": args.service_account_name, "namespace": args.namespace, "labels": labels},
            # The model never calls the API server; a mounted token would only help an intruder.
            automount_service_account_token=False,
            opts=child,
        )
        self.service_account_name = account.metadata.name

        for role, rules, groups in (
            ("deployer", DEPLOYER_RULES, args.deployer_groups),
            ("auditor", AUDITOR_RULES, args.auditor_groups),
        ):
            role_name = f"model-{role}"
            k8s.rbac.v1.Role(
                f"{name}-{role}",
                metadata={"name": role_name, "namespace": args.namespace, "labels": labels},
                rules=rules,
                opts=child,
            )
            if groups:
                k8s.rbac.v1.RoleBinding(
                    f"{name}-{role}-binding",
                    metadata={"name": role_name, "namespace": args.namespace, "labels": labels},
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                    subjects=[
                        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group} for group in groups
                    ],
                    opts=child,
                )
        if args.auditor_groups:
            cluster_role_name = f"{args.namespace}-{args.service_account_name}-auditor-posture"
            k8s.rbac.v1.ClusterRole(
                f"{name}-auditor-posture",
                metadata={"name": cluster_role_name, "labels": labels},
                rules=auditor_cluster_rules(),
                opts=child,
            )
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-auditor-posture-binding",
                metadata={"name": cluster_role_name, "labels": labels},
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role_name},
                subjects=[
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
                    for group in args.auditor_groups
                ],
                opts=child,
            )
        self.register_outputs({"service_account_name": self.service_account_name})
