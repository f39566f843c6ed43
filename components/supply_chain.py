"""ImageSignaturePolicy: only images signed by the stack's signer run in the model namespaces.

Sigstore policy-controller (Helm, pinned) checks every image of a pod in a namespace that opts
in with the `policy.sigstore.dev/include` label (set by the platform on model namespaces). A
`ClusterImagePolicy` covers every image below the stack's registries and requires a cosign
signature: by a public key, or keyless (a Fulcio certificate for a named OIDC issuer and
subject, checked against the Rekor transparency log). A second one admits the images the
platform pins by digest outside those registries (the mesh proxy the injector adds to every model
pod), and an image no policy covers is refused (`no-match-policy: deny`, set explicitly).
Together with the admission policies (digest pinning, allowed registries: both mean strictly
below a registry path) this closes the path for an unsigned or swapped image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.formats import ImageRef
from components.naming import TYPE_PREFIX
from components.options import child_options, guard
from components.system import addon_install, pod_security_labels_enforcing
from components.versions import POLICY_CONTROLLER, POLICY_CONTROLLER_IMAGE
from serving_vocabulary import SupplyChainMode, choices

__all__ = [
    "OPT_IN_LABEL",
    "ImageSignaturePolicy",
    "ImageSignaturePolicyArgs",
    "ModelImagePolicyArgs",
    "digest_glob",
    "image_globs",
    "model_image_policy",
    "policy_controller_values",
]

OPT_IN_LABEL = {"policy.sigstore.dev/include": "true"}
"""Namespace label that makes policy-controller check the namespace's pods."""


@dataclass(frozen=True)
class ModelImagePolicyArgs:
    """One model tenant's ClusterImagePolicy: the images below its registries, signed by its signer."""

    registries: Sequence[str]
    """Registry prefixes whose images must be signed by this signer (the tenant's own paths)."""
    public_key: str | None = None
    """PEM cosign public key (key-based signing)."""
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
        problems = []
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


@dataclass(frozen=True)
class ImageSignaturePolicyArgs:
    """Inputs of ImageSignaturePolicy: the controller, and the images the platform pins by digest."""

    pod_security_version: str
    """Pinned Pod Security Standards version of the controller's namespace."""
    mode: str = "enforce"
    """enforce (refuse unsigned images) or warn."""
    pinned_images: Sequence[str] = ()
    """Images outside the registries admitted by their exact digest (the mesh proxy the injector
    adds to every model pod): the pin in components/versions.py is the trust decision."""
    namespace: str = "cosign-system"
    """The controller's namespace."""
    protect: bool = False
    """Protect the release from deletion (production)."""
    preinstalled: bool = False
    """policy-controller already runs in `namespace` (the cluster's platform installed it): create
    neither its namespace nor its Helm release, only the ClusterImagePolicies."""

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in set(SupplyChainMode):
            problems.append(f"mode must be one of {choices(SupplyChainMode)}")
        for image in self.pinned_images:
            try:
                ImageRef.parse(image)
            except ValueError as error:
                problems.append(f"pinned_images: {error}")
        if problems:
            raise ValueError("ImageSignaturePolicyArgs: " + "; ".join(problems))


def policy_controller_values() -> dict[str, Any]:
    """Helm values of the policy-controller chart: two webhook replicas, fail closed, pinned image,
    and an image that no ClusterImagePolicy covers refused, said explicitly rather than left to the
    controller's default."""
    image = ImageRef.parse(POLICY_CONTROLLER_IMAGE)
    return {
        "webhook": {
            "replicaCount": 2,
            "failurePolicy": "Fail",
            # Rendered into the config-policy-controller ConfigMap.
            "configData": {"no-match-policy": "deny"},
            # The chart writes `repository@version` when the version is a digest.
            "image": {"repository": image.repository, "version": f"sha256:{image.digest}"},
        }
    }


def digest_glob(image: str) -> str:
    """A glob matching exactly one image by digest, in the fully qualified form policy-controller
    compares against (`index.docker.io/...` for Docker Hub; the tag is not part of the name)."""
    ref = ImageRef.parse(image)
    repository = ref.repository
    host, _, path = repository.partition("/")
    if host in {"docker.io", "index.docker.io"}:
        repository = f"index.docker.io/{path}"
    elif "." not in host and ":" not in host and host != "localhost":
        repository = f"index.docker.io/{repository if '/' in repository else 'library/' + repository}"
    return f"{repository}@sha256:{ref.digest}"


def image_globs(registries: Sequence[str]) -> list[str]:
    """Globs covering every image below each registry prefix (`**` crosses path segments)."""
    return [f"{prefix}/**" for prefix in sorted(registries)]


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


class ImageSignaturePolicy(pulumi.ComponentResource):
    """policy-controller, and a ClusterImagePolicy for the images the platform pins by digest.

    Each model tenant adds its own ClusterImagePolicy (model_image_policy).

    Outputs:
        installed: what a tenant's policies wait for (the controller's release).
    """

    installed: list[pulumi.Resource]

    def __init__(self, name: str, args: ImageSignaturePolicyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:supplychain:ImageSignaturePolicy", name, None, opts)
        _, installed = addon_install(
            name,
            self,
            opts,
            POLICY_CONTROLLER,
            args.namespace,
            pod_security_labels_enforcing(args.pod_security_version, "baseline"),
            policy_controller_values(),
            protect=args.protect,
            preinstalled=args.preinstalled,
        )
        self.installed = list(installed)
        if args.pinned_images:
            k8s.apiextensions.CustomResource(
                f"{name}-pinned-images",
                api_version="policy.sigstore.dev/v1beta1",
                kind="ClusterImagePolicy",
                metadata={"name": "pinned-by-digest"},
                spec={
                    "images": [{"glob": digest_glob(image)} for image in sorted(args.pinned_images)],
                    # No signature to check: the digest names the exact content we pinned.
                    "authorities": [{"name": "pinned-digest", "static": {"action": "pass"}}],
                    "mode": args.mode,
                },
                opts=child_options(self, opts, depends_on=installed, **guard(args.protect)),
            )
        self.register_outputs({})
