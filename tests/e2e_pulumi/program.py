"""The program of the real `pulumi up` tier: the project's own program, plus two stack transforms.

1. The sandbox has no controller-manager and no kubelet, so a Deployment never becomes available,
   a Service never gets endpoints and a ResourceQuota never gets its status: the provider would
   wait for them until its timeout. Those three kinds carry `pulumi.com/skipAwait`; everything
   else (the templates' `waitFor` on Gatekeeper's status among them) is awaited as in production.
2. With `SMS_E2E_PRIVILEGED=1` the model container asks for `privileged: true`, the change the
   policy pack must refuse at `pulumi preview`.

The transforms touch nothing else, so what the engine creates is what `pulumi up` creates.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi

from secure_model_serving.program.run import run

__all__ = ["PRIVILEGED_ENV", "SKIP_AWAIT_TYPES", "main", "privileged", "skip_await"]

SKIP_AWAIT_TYPES = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service", "kubernetes:core/v1:ResourceQuota"}
)
PRIVILEGED_ENV = "SMS_E2E_PRIVILEGED"
_MODEL_DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def skip_await(props: dict[str, Any]) -> dict[str, Any]:
    """`props` with the provider's skipAwait annotation added to its metadata."""
    metadata = dict(props.get("metadata") or {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), "pulumi.com/skipAwait": "true"}
    return {**props, "metadata": metadata}


def privileged(props: dict[str, Any]) -> dict[str, Any]:
    """A Deployment's `props` whose every container asks for `privileged: true`."""
    spec = dict(props["spec"])
    template = dict(spec["template"])
    pod = dict(template["spec"])
    pod["containers"] = [
        {**container, "securityContext": {**(container.get("securityContext") or {}), "privileged": True}}
        for container in pod["containers"]
    ]
    return {**props, "spec": {**spec, "template": {**template, "spec": pod}}}


def _transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    if args.type_ not in SKIP_AWAIT_TYPES:
        return None
    props = skip_await(dict(args.props))
    if args.type_ == _MODEL_DEPLOYMENT and os.environ.get(PRIVILEGED_ENV) == "1":
        props = privileged(props)
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


def main() -> None:
    """Register the transforms, then run the project's program."""
    pulumi.runtime.register_resource_transform(_transform)
    run()
