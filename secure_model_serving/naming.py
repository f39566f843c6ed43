"""Names and labels shared by the components, so a selector and its target never drift apart."""

from __future__ import annotations

# Set to "true" on every model namespace; the admission constraints select namespaces by it.
# Defined with the constraint parameters, which the policy pack shares without the components.
from .policies.parameters import ISOLATION_LABEL

__all__ = [
    "CERT_MANAGER_NAMESPACE",
    "ISOLATION_LABEL",
    "MANAGED_BY",
    "MODEL_CONTAINER",
    "PART_OF",
    "QUARANTINE_LABEL",
    "TYPE_PREFIX",
    "allow_policy_selector",
    "workload_labels",
]

TYPE_PREFIX = "secureml"
"""Package part of every component's Pulumi type token (`secureml:<module>:<Type>`)."""

CERT_MANAGER_NAMESPACE = "cert-manager"
"""cert-manager's namespace (fixed: the SDK's chart and its RBAC expect it)."""

PART_OF = "secure-model-serving"
MANAGED_BY = "pulumi"

QUARANTINE_LABEL = "secure-model-serving/quarantine"
"""Set on a pod in an incident (docs/runbook-privileged-pod.md): no allowing NetworkPolicy of the
platform selects a pod that carries it, so the namespace's default deny is all that applies to it
(NetworkPolicies add up: a deny-all policy cannot take back what another policy allows)."""


def allow_policy_selector(match_labels: dict[str, str] | None = None) -> dict[str, object]:
    """The podSelector of an allowing NetworkPolicy: `match_labels` (all pods when none), never a
    quarantined pod."""
    selector: dict[str, object] = {"matchExpressions": [{"key": QUARANTINE_LABEL, "operator": "DoesNotExist"}]}
    if match_labels:
        selector = {"matchLabels": dict(match_labels), **selector}
    return selector


def workload_labels(name: str, component: str) -> dict[str, str]:
    """The recommended `app.kubernetes.io/*` labels of one workload."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


MODEL_CONTAINER = "model"
"""The model server's container name (the pod-shape constraint and the runtime rules use it)."""
