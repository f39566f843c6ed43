"""A model tenant's ClusterImagePolicy: every image below its registry paths carries its signer's
signature.

The signature controller and the policy for the images the platform pins are the platform's
(secure_model_serving.cluster.signatures); the namespace opts in with OPT_IN_LABEL. Tenants'
registry paths never overlap (the settings refuse it), so a tenant's signer is trusted for its
own paths only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..cluster.signatures import image_globs
from ..formats import parse_ec_public_key
from ..inputs import Problems
from ..serving_vocabulary import SupplyChainMode, choices

__all__ = [
    "OPT_IN_LABEL",
    "ModelImagePolicyArgs",
    "model_image_policy",
]


OPT_IN_LABEL = {"policy.sigstore.dev/include": "true"}
"""Namespace label that makes policy-controller check the namespace's pods."""


@dataclass(frozen=True)
class ModelImagePolicyArgs:
    """One model tenant's ClusterImagePolicy: the images below its registries, signed by its signer."""

    registries: Sequence[str]
    """Registry prefixes whose images must be signed by this signer (the tenant's own paths)."""
    public_key: pulumi.Input[str] | None = None
    """PEM cosign public key (key-based signing; may be another stack's output, checked when it
    resolves)."""
    keyless_issuer: str | None = None
    """OIDC issuer of a keyless signer, e.g. https://token.actions.githubusercontent.com."""
    keyless_subject: str | None = None
    """Subject of the keyless signer, e.g. the CI workflow that builds the image."""
    mode: SupplyChainMode = SupplyChainMode.ENFORCE
    """enforce (refuse unsigned images) or warn."""
    policy_name: str = "model-images-signed"
    """Name of the ClusterImagePolicy (one per tenant on a shared cluster)."""
    protect: bool = False
    """Protect the policy from deletion and retain it if dropped (production)."""

    def __post_init__(self) -> None:
        checks = Problems("ModelImagePolicyArgs")
        if self.public_key is not None:
            object.__setattr__(self, "public_key", checks.check("public_key", self.public_key, parse_ec_public_key))
        problems = checks.found
        keyless = self.keyless_issuer is not None or self.keyless_subject is not None
        if (self.public_key is None) == (not keyless):
            problems.append("set exactly one of public_key or keyless_issuer + keyless_subject")
        if keyless and not (self.keyless_issuer and self.keyless_subject):
            problems.append("keyless signing needs both keyless_issuer and keyless_subject")
        if self.mode not in set(SupplyChainMode):
            problems.append(f"mode must be one of {choices(SupplyChainMode)}")
        if not self.registries:
            problems.append("registries must name at least one registry")
        if problems:
            raise ValueError("ModelImagePolicyArgs: " + "; ".join(problems))


def _authority(args: ModelImagePolicyArgs) -> dict[str, Any]:
    if args.public_key is not None:
        return {"name": "cosign-key", "key": {"data": args.public_key, "hashAlgorithm": "sha256"}}
    return {
        "name": "keyless",
        "keyless": {"identities": [{"issuer": args.keyless_issuer, "subject": args.keyless_subject}]},
        "ctlog": {"url": "https://rekor.sigstore.dev"},
    }


def model_image_policy(
    name: str, args: ModelImagePolicyArgs, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """The ClusterImagePolicy of one model tenant: every image below its registries must carry its
    signer's signature. Tenants' registries never overlap (the settings refuse it), so a tenant's
    signer is trusted for its own paths only."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version="policy.sigstore.dev/v1beta1",
        kind="ClusterImagePolicy",
        metadata={"name": args.policy_name},
        spec={
            "images": [{"glob": glob} for glob in image_globs(args.registries)],
            "authorities": [_authority(args)],
            "mode": args.mode,
        },
        opts=opts,
    )
