"""Resource options for a component's children.

Pulumi does not pass a component's `depends_on` down to its children, so a component created
"after the namespace" would still create its Deployment in parallel with the Namespace. Every
component builds its children's options here: parented to the component, and waiting for
whatever the component itself was told to wait for.
"""

from __future__ import annotations

from typing import Any

import pulumi

__all__ = ["child_options", "guard"]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def child_options(
    component: pulumi.ComponentResource, opts: pulumi.ResourceOptions | None, **extra: Any
) -> pulumi.ResourceOptions:
    """Options for a child of `component`: its parent, its dependencies, plus `extra` options."""
    depends_on = _as_list(opts.depends_on if opts else None) + _as_list(extra.pop("depends_on", None))
    return pulumi.ResourceOptions(parent=component, depends_on=depends_on or None, **extra)


def guard(protect: bool) -> dict[str, bool]:
    """Options of an object whose deletion removes a protection (a constraint, a deny policy):
    in production Pulumi refuses to delete it, and if it is ever dropped from the program it is
    left in the cluster rather than deleted."""
    return {"protect": protect, "retain_on_delete": protect}
