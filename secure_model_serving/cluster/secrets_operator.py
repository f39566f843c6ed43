"""SecretsOperator: the External Secrets Operator, once per cluster.

Its namespace (PSA `restricted`: its pods meet it) and its Helm release, which installs the CRDs
(`installCRDs`); only `external-secrets.io/v1` is used. Each model tenant's store and
ExternalSecrets are its own (secure_model_serving.tenant.secrets). With one tenant syncing
secrets, the controller watches that namespace only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from ..formats import is_dns_label
from ..naming import TYPE_PREFIX
from ..system import addon_install, pod_security_labels
from ..versions import EXTERNAL_SECRETS, POD_SECURITY_VERSION

__all__ = [
    "SecretsOperator",
    "SecretsOperatorArgs",
    "operator_values",
]


@dataclass(frozen=True)
class SecretsOperatorArgs:
    """Inputs of SecretsOperator."""

    served_namespace: str | None
    """The one model namespace the operator reconciles in and may write Secrets to. None when
    several model tenants sync secrets: the operator then watches every namespace (its chart's
    ClusterRole); each tenant's store still has its own identity and reads its own keys only."""
    namespace: str = "external-secrets"
    """The operator's namespace (PSA restricted)."""
    pod_security_version: str = POD_SECURITY_VERSION
    """Pinned Pod Security Standards version of the namespace labels."""
    protect: bool = False
    """Protect the namespace and release (their CRDs own every synced Secret)."""
    preinstalled: bool = False
    """The operator already runs in `namespace` (the cluster's platform installed it): create
    neither its namespace nor its Helm release."""

    def __post_init__(self) -> None:
        for label, value in (("namespace", self.namespace), ("served_namespace", self.served_namespace)):
            if value is not None and not is_dns_label(value):
                raise ValueError(f"SecretsOperatorArgs: {label} {value!r} is not a DNS label")


def operator_values(served_namespace: str | None) -> dict[str, Any]:
    """Helm values of the external-secrets chart, its controller scoped to `served_namespace` (None:
    every namespace, for several tenants; the chart's scoping takes one namespace only)."""
    requests = {"cpu": "50m", "memory": "128Mi"}
    limits = {"cpu": "500m", "memory": "256Mi"}
    return {
        "installCRDs": True,
        "replicaCount": 2,
        # Two controllers must not both reconcile the same ExternalSecret: one leads, one waits.
        # The chart defaults to false (right only for a single replica).
        "leaderElect": True,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        "resources": {"requests": requests, "limits": limits},
        "webhook": {"replicaCount": 2, "resources": {"requests": requests, "limits": limits}},
        "certController": {"resources": {"requests": requests, "limits": limits}},
        # Only namespaced SecretStores are used; nothing cluster-scoped may hand credentials or
        # generated secrets across namespaces, and nothing is pushed out of the cluster.
        "processClusterStore": False,
        "processClusterExternalSecret": False,
        "processClusterGenerator": False,
        "processPushSecret": False,
        "processClusterPushSecret": False,
        # The controller watches and writes Secrets in the model namespace only: its RBAC becomes a
        # Role there instead of a ClusterRole over every Secret of the cluster (a compromised
        # operator then reaches one namespace's secrets, not all of them).
        **({"scopedNamespace": served_namespace, "scopedRBAC": True} if served_namespace else {}),
        # Not folded into the cluster's view/edit roles: editors of any namespace would otherwise
        # gain ExternalSecrets, a way to pull from whatever store their namespace can name.
        "rbac": {"aggregateToView": False, "aggregateToEdit": False},
    }


class SecretsOperator(pulumi.ComponentResource):
    """External Secrets Operator (Helm, CRDs included) in its own restricted namespace.

    Outputs:
        namespace: the operator's namespace.
    """

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: SecretsOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:secrets:SecretsOperator", name, None, opts)
        self.namespace, _ = addon_install(
            name,
            self,
            opts,
            EXTERNAL_SECRETS,
            args.namespace,
            pod_security_labels(args.pod_security_version),
            operator_values(args.served_namespace),
            protect=args.protect,
            preinstalled=args.preinstalled,
        )
        self.register_outputs({"namespace": self.namespace})
