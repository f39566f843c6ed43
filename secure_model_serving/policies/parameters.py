"""Constraint parameters from a stack's choices: one place for the components and the policy pack.

The Pulumi components (secure_model_serving/cluster/admission.py) and the Pulumi policy pack (policy_pack/) both
turn the same stack choices into constraint parameters. The pack runs in its own virtualenv
without pulumi_kubernetes, so it cannot import the components; this module needs nothing but
the standard library, and both import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import NamespaceScope, Policy

__all__ = [
    "ISOLATION_LABEL",
    "MESH_TOKEN_AUDIENCE",
    "MIN_ID",
    "constraint_parameters",
    "model_namespace_match",
]

MIN_ID = 10001
"""Lowest UID/GID a model container may run as: above any host system account."""

MESH_TOKEN_AUDIENCE = "istio-ca"
"""The audience of the token Istio's injector projects into a pod (volume `istio-token`): Istio's
CA takes it, the Kubernetes API server does not. The only projected service-account token a pod in
a model namespace may hold (deny-service-account-token-automount)."""

ISOLATION_LABEL = "secure-model-serving/isolated"
"""Set to "true" on every model namespace; the constraints select namespaces by it."""


def constraint_parameters(
    policy: Policy, registries: Sequence[str], exempt_images: Sequence[str] = ()
) -> dict[str, Any] | None:
    """spec.parameters of a policy's constraint from the stack's choices (None when the policy takes
    none of them, and for an `each-model` policy, whose parameters are one model's pod shape).

    `exempt_images` reach only the policies whose policy.yaml says `image_exemptible: true`:
    exactly what the mesh proxy, as the injector writes it, cannot meet (UID/GID 1337, the mesh's
    own registry, the injector's default pull policy; tests/policies/test_attack_pods.py shows it
    is denied by these and no other). An exemption names an exact digest, so the pull policy
    cannot swap the image. Privilege, escalation, capability, host and filesystem rules apply to
    every image without exception.
    """
    if policy.namespaces is NamespaceScope.EACH_MODEL:
        return None
    accepted = set(policy.parameters_schema.get("properties", {}))
    offered: dict[str, Any] = {
        "registries": list(registries),
        "minUid": MIN_ID,
        "minGid": MIN_ID,
        "tokenAudiences": [MESH_TOKEN_AUDIENCE],
    }
    if exempt_images and policy.image_exemptible:
        offered["exemptImages"] = list(exempt_images)
    chosen = {key: value for key, value in offered.items() if key in accepted}
    return chosen or None


def model_namespace_match(policy: Policy, namespace_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """spec.match of a policy's constraint: its kinds, in the model namespaces only (by default
    those carrying the isolation label), or for an `outside-model` policy in every namespace
    without them."""
    labels = dict(namespace_labels) if namespace_labels is not None else {ISOLATION_LABEL: "true"}
    kinds = [dict(kind) for kind in policy.match_kinds]
    if policy.namespaces is NamespaceScope.OUTSIDE_MODEL:
        outside = [{"key": key, "operator": "NotIn", "values": [value]} for key, value in sorted(labels.items())]
        return {"kinds": kinds, "namespaceSelector": {"matchExpressions": outside}}
    return {"kinds": kinds, "namespaceSelector": {"matchLabels": labels}}
