"""ImageSignaturePolicy and the model-signing key: only signed images, the key mounted read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest

from app.config import Settings
from secure_model_serving.cluster.signatures import (
    ImageSignaturePolicy,
    ImageSignaturePolicyArgs,
    digest_glob,
    image_globs,
    policy_controller_values,
)
from secure_model_serving.serving_contract import PUBLIC_KEY_FILE, VERIFIER_MOUNT_DIR
from secure_model_serving.settings import parse_settings
from secure_model_serving.tenant.image_policy import OPT_IN_LABEL, ModelImagePolicyArgs, model_image_policy
from secure_model_serving.tenant.workload import SIGNING_KEY_ANNOTATION, SIGNING_KEY_DATA_KEY
from secure_model_serving.versions import POD_SECURITY_VERSION, POLICY_CONTROLLER, POLICY_CONTROLLER_IMAGE
from tests.support.stacks import EC_PUBLIC_KEY, STACKS, stack_config
from tools.mock_engine import PROJECT, Registration, cli_config
from tools.policy import load_manifests

KEY = EC_PUBLIC_KEY


def args(**changes: Any) -> ImageSignaturePolicyArgs:
    return ImageSignaturePolicyArgs(**({"pod_security_version": POD_SECURITY_VERSION} | changes))


def model_args(**changes: Any) -> ModelImagePolicyArgs:
    return ModelImagePolicyArgs(**({"registries": ["registry.example.com/models"], "public_key": KEY} | changes))


def controller_and_model(controller: ImageSignaturePolicyArgs, model: ModelImagePolicyArgs) -> None:
    """The controller, and one tenant's policy waiting for it (as a ModelTenant adds it)."""
    installed = ImageSignaturePolicy("supply-chain", controller)
    model_image_policy(
        "model-image-policy",
        model,
        pulumi.ResourceOptions(depends_on=[installed], protect=model.protect, retain_on_delete=model.protect),
    )


def cluster_image_policies(registrations: list[Registration]) -> list[dict[str, Any]]:
    return [item.inputs for item in registrations if item.inputs.get("kind") == "ClusterImagePolicy"]


def policy_of(registrations: list[Registration]) -> dict[str, Any]:
    (found,) = [
        item.inputs
        for item in registrations
        if item.inputs.get("kind") == "ClusterImagePolicy" and item.inputs["metadata"]["name"] != "pinned-by-digest"
    ]
    return found


def test_key_based_policy_covers_every_registry_image(run_program) -> None:
    registrations = run_program(lambda: controller_and_model(args(), model_args()))
    spec = policy_of(registrations)["spec"]
    assert spec["images"] == [{"glob": "registry.example.com/models/**"}]
    assert spec["authorities"] == [{"name": "cosign-key", "key": {"data": KEY, "hashAlgorithm": "sha256"}}]
    assert spec["mode"] == "enforce"
    release = next(item for item in registrations if item.type == "kubernetes:helm.sh/v3:Release")
    assert (release.inputs["chart"], release.inputs["version"]) == (POLICY_CONTROLLER.name, POLICY_CONTROLLER.version)
    # Waiting for the controller component is waiting for its release (the SDK expands it).
    policy = next(i for i in registrations if i.inputs.get("kind") == "ClusterImagePolicy")
    assert release.urn in policy.options.depends_on


def test_controller_runs_the_pinned_image_by_digest_and_fails_closed(run_program) -> None:
    registrations = run_program(lambda: ImageSignaturePolicy("supply-chain", args()))
    release = next(item for item in registrations if item.type == "kubernetes:helm.sh/v3:Release")
    webhook = release.inputs["values"]["webhook"]
    assert webhook["failurePolicy"] == "Fail" and webhook["replicaCount"] >= 2
    # The chart renders `repository@version` for a digest version: exactly the pinned reference.
    image = webhook["image"]
    assert image["version"].startswith("sha256:")
    assert POLICY_CONTROLLER_IMAGE.endswith(f"@{image['version']}")
    assert POLICY_CONTROLLER_IMAGE.startswith(f"{image['repository']}:")


def test_keyless_policy_names_issuer_and_subject(run_program) -> None:
    issuer, subject = (
        "https://token.actions.githubusercontent.com",
        "https://github.com/o/r/.github/workflows/r.yml@refs/heads/main",
    )
    registrations = run_program(
        lambda: controller_and_model(
            args(mode="warn"), model_args(public_key=None, keyless_issuer=issuer, keyless_subject=subject, mode="warn")
        )
    )
    spec = policy_of(registrations)["spec"]
    (authority,) = spec["authorities"]
    assert authority["keyless"]["identities"] == [{"issuer": issuer, "subject": subject}]
    assert spec["mode"] == "warn"


@pytest.mark.parametrize(
    "changes",
    [
        {"public_key": None},
        {"keyless_issuer": "https://issuer.example.com", "keyless_subject": "ci"},
        {"public_key": None, "keyless_issuer": "https://issuer.example.com"},
        {"mode": "audit"},
        {"registries": []},
    ],
)
def test_ambiguous_or_missing_signers_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ModelImagePolicyArgs"):
        model_args(**changes)


def test_an_unknown_controller_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="ImageSignaturePolicyArgs: mode"):
        args(mode="audit")


def test_globs_stop_at_the_registry_boundary() -> None:
    assert image_globs(["reg.example.com/models", "reg.example.com/tools"]) == [
        "reg.example.com/models/**",
        "reg.example.com/tools/**",
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_stacks_verify_images_and_mount_the_model_key(render_dirs: dict[str, Path], stack: str) -> None:
    objects = load_manifests([render_dirs[stack]])
    tenants = parse_settings(cli_config(stack_config(stack))[0], namespace=PROJECT).tenants()
    policies = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterImagePolicy"}
    # Every stack runs the mesh (the pinned proxy's policy); one policy per tenant, named for it
    # when the stack lists its models.
    expected = {"pinned-by-digest"} | {
        f"model-images-signed-{tenant.namespace.name}" if tenant.in_model_list else "model-images-signed"
        for tenant in tenants
    }
    assert set(policies) == expected
    for policy in policies.values():
        assert policy["spec"]["mode"] == ("warn" if stack == "dev" else "enforce")
    for tenant in tenants:
        namespace = tenant.namespace.name
        model_namespace = next(o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == namespace)
        assert OPT_IN_LABEL.items() <= model_namespace["metadata"]["labels"].items()
        deployment = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["namespace"] == namespace)
        template = deployment["spec"]["template"]
        mounts = template["spec"]["containers"][0]["volumeMounts"]
        (mount,) = [m for m in mounts if m["mountPath"] == VERIFIER_MOUNT_DIR]
        assert mount["readOnly"] is True
        (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == mount["name"]]
        config_map = next(
            o
            for o in objects
            if o["kind"] == "ConfigMap"
            and o["metadata"]["namespace"] == namespace
            and o["metadata"]["name"] == volume["configMap"]["name"]
        )
        assert volume["configMap"]["items"] == [{"key": SIGNING_KEY_DATA_KEY, "path": PUBLIC_KEY_FILE}]
        # The server, run with the environment the pod gives it, reads the key where the pod mounts it.
        env = {item["name"]: item["value"] for item in template["spec"]["containers"][0].get("env", [])}
        assert Settings.from_env(env).model_public_key == Path(mount["mountPath"]) / PUBLIC_KEY_FILE
        assert tenant.tenant.signing_public_key
        assert config_map["data"][SIGNING_KEY_DATA_KEY].strip() == tenant.tenant.signing_public_key.strip()
        assert len(template["metadata"]["annotations"][SIGNING_KEY_ANNOTATION]) == 64


def test_the_pinned_proxy_has_a_policy_of_its_own_by_digest(run_program) -> None:
    proxy = "docker.io/istio/proxyv2:1.31.1@sha256:" + "d8" * 32
    registered = run_program(lambda: controller_and_model(args(pinned_images=[proxy]), model_args()))
    policies = {item["metadata"]["name"]: item["spec"] for item in cluster_image_policies(registered)}
    pinned = policies["pinned-by-digest"]
    # policy-controller compares globs with the fully qualified name, without the tag.
    assert pinned["images"] == [{"glob": "index.docker.io/istio/proxyv2@sha256:" + "d8" * 32}]
    assert pinned["authorities"] == [{"name": "pinned-digest", "static": {"action": "pass"}}]
    # The model images still need a signature.
    assert all("static" not in authority for authority in policies["model-images-signed"]["authorities"])


def test_no_pinned_images_no_static_policy(run_program) -> None:
    registered = run_program(lambda: controller_and_model(args(), model_args()))
    assert [item["metadata"]["name"] for item in cluster_image_policies(registered)] == ["model-images-signed"]


def test_an_image_no_policy_covers_is_refused_explicitly() -> None:
    assert policy_controller_values()["webhook"]["configData"] == {"no-match-policy": "deny"}


@pytest.mark.parametrize(
    ("image", "glob"),
    [
        ("docker.io/istio/proxyv2:1.31.1@sha256:" + "a" * 64, "index.docker.io/istio/proxyv2@sha256:" + "a" * 64),
        ("registry.example.com/x/y:1@sha256:" + "b" * 64, "registry.example.com/x/y@sha256:" + "b" * 64),
        ("localhost:5000/proxy@sha256:" + "c" * 64, "localhost:5000/proxy@sha256:" + "c" * 64),
    ],
)
def test_digest_globs_are_fully_qualified(image: str, glob: str) -> None:
    assert digest_glob(image) == glob


def test_a_tag_pinned_image_cannot_be_pinned() -> None:
    with pytest.raises(ValueError, match="pinned_images"):
        args(pinned_images=["docker.io/istio/proxyv2:1.31.1"])


def test_the_image_policies_are_protected_and_retained_in_production(run_program) -> None:
    proxy = "docker.io/istio/proxyv2:1.31.1@sha256:" + "d8" * 32
    for protect in (True, False):
        registered = run_program(
            lambda protect=protect: controller_and_model(
                args(pinned_images=[proxy], protect=protect), model_args(protect=protect)
            )
        )
        policies = [item for item in registered if item.inputs.get("kind") == "ClusterImagePolicy"]
        assert len(policies) == 2
        assert all(item.options.protect is protect and item.options.retain_on_delete is protect for item in policies)
