"""Building blocks shared by the add-on components: their namespace and their pinned Helm release.

Every add-on (Gatekeeper, Istio, Falco, External Secrets, policy-controller, the gateway) lives
in a namespace of its own with version-pinned Pod Security labels, and is installed from a chart
pinned in `components.versions` with the same safety settings: atomic installs that roll back,
no namespace created behind Pulumi's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .naming import MANAGED_BY, PART_OF
from .options import child_options
from .serving_vocabulary import PodSecurityMode
from .versions import POD_SECURITY_LEVEL, HelmChart

__all__ = [
    "addon_install",
    "custom_resource",
    "pinned_release",
    "pod_security_labels",
    "pod_security_labels_enforcing",
    "system_namespace",
]


def pod_security_labels(version: str) -> dict[str, str]:
    """PSA labels: enforce, audit and warn at the restricted level, each version-pinned."""
    labels: dict[str, str] = {}
    for mode in PodSecurityMode:
        labels[f"pod-security.kubernetes.io/{mode}"] = POD_SECURITY_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


def pod_security_labels_enforcing(version: str, level: str) -> dict[str, str]:
    """PSA labels that enforce `level` but still audit and warn at `restricted`, so any gap shows."""
    labels = pod_security_labels(version)
    labels["pod-security.kubernetes.io/enforce"] = level
    return labels


def system_namespace(
    logical_name: str, name: str, labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    """An add-on's namespace, labelled as part of the platform."""
    return k8s.core.v1.Namespace(
        logical_name,
        metadata={
            "name": name,
            "labels": {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY, **labels},
        },
        opts=opts,
    )


def pinned_release(
    logical_name: str,
    chart: HelmChart,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    release_name: str | None = None,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart: atomic (a failed install or upgrade rolls back)."""
    return k8s.helm.v3.Release(
        logical_name,
        name=release_name or chart.name,
        chart=chart.name,
        version=chart.version,
        repository_opts={"repo": chart.repository},
        namespace=namespace,
        create_namespace=False,
        atomic=True,
        cleanup_on_fail=True,
        values=values,
        opts=opts,
    )


def addon_install(
    name: str,
    component: pulumi.ComponentResource,
    opts: pulumi.ResourceOptions | None,
    chart: HelmChart,
    namespace: str,
    labels: Mapping[str, str],
    values: dict[str, Any],
    *,
    protect: bool,
    preinstalled: bool,
) -> tuple[pulumi.Output[str], list[pulumi.Resource]]:
    """An add-on's namespace and its pinned release, children of `component` (named after its
    logical `name`); nothing where the cluster already runs the add-on (`preinstalled`). Returns
    the namespace's name (resolved once it exists) and what to wait for before the add-on's own
    objects."""
    if preinstalled:
        return pulumi.Output.from_input(namespace), []
    created = system_namespace(f"{name}-namespace", namespace, labels, child_options(component, opts, protect=protect))
    release = pinned_release(
        f"{name}-{chart.name}",
        chart,
        namespace,
        values,
        child_options(component, opts, depends_on=[created], protect=protect),
    )
    return created.metadata.name, [release]


def custom_resource(
    logical_name: str, document: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """A custom resource from a manifest-shaped dict (apiVersion, kind, metadata, spec)."""
    return k8s.apiextensions.CustomResource(
        logical_name,
        api_version=document["apiVersion"],
        kind=document["kind"],
        metadata=document["metadata"],
        spec=document["spec"],
        opts=opts,
    )
