"""ImageSignaturePolicy: only signed images run in the model namespaces.

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

from ..formats import ImageRef
from ..naming import TYPE_PREFIX
from ..options import child_options, guard
from ..serving_vocabulary import SupplyChainMode, choices
from ..system import addon_install, pod_security_labels_enforcing
from ..versions import POLICY_CONTROLLER, POLICY_CONTROLLER_IMAGE

__all__ = [
    "ImageSignaturePolicy",
    "ImageSignaturePolicyArgs",
    "digest_glob",
    "image_globs",
    "policy_controller_values",
]


@dataclass(frozen=True)
class ImageSignaturePolicyArgs:
    """Inputs of ImageSignaturePolicy: the controller, and the images the platform pins by digest."""

    pod_security_version: str
    """Pinned Pod Security Standards version of the controller's namespace."""
    mode: str = "enforce"
    """enforce (refuse unsigned images) or warn."""
    pinned_images: Sequence[str] = ()
    """Images outside the registries admitted by their exact digest (the mesh proxy the injector
    adds to every model pod): the pin in secure_model_serving/versions.py is the trust decision."""
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
