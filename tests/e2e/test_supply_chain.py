"""The supply chain end to end: the real policy-controller and Gatekeeper judge images that were
really built, pushed to a loopback registry and signed with cosign (tests/e2e/supply_chain.py).

Each image case is judged twice: created in the stack's model namespace (every layer: Pod
Security, Gatekeeper, policy-controller's mutation and validation), and sent as an AdmissionReview
straight to policy-controller's validating path, where its verdict stands alone. The signed image
by digest is admitted in both; every other variant of the same image is refused in both. The model
inside the image verifies against the key the stack mounts, and a model signed by another key never
serves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.model_loader import ModelLoadError
from app.server import create_app
from app.sign import sign_model
from app.verify import TrustAnchor, verify_model
from secure_model_serving.tenant.workload import SIGNING_KEY_DATA_KEY
from secure_model_serving.versions import ISTIO_PROXY_IMAGE
from tests.e2e.cases import Verdict, judge
from tests.e2e.envs import SupplyEnv
from tests.support.mesh import injected_pod
from tools.render import render_objects
from tools.sandbox.policy_controller import review_pod
from tools.sandbox.registry import ImageError, cosign_verify, export_files

REFUSED = {
    "unsigned": "unsigned",
    "other-key": "other-key",
    "tag": "tag",
    "tag-unsigned": "tag",
    "outside": "outside",
    "bare-prefix": "bare-prefix",
}
"""Variants of the signed model image that must never be admitted (supply_chain.prepare), with the
summary group each counts in. A tag is the subtle one: policy-controller's mutating webhook resolves
it to `repo:tag@sha256:...` (the signed digest) before the validating webhooks run, so it is
Gatekeeper's model-pod rule (a model image by digest alone, no tag) that refuses it."""


def _cases() -> list[Any]:
    params = []
    for case, group in REFUSED.items():
        params.append(pytest.param(case, marks=pytest.mark.e2e_group(f"supply:{group}")))
    return params


def _model_pod(env: SupplyEnv, image: str, name: str) -> dict[str, Any]:
    """The stack's own model pod (its Deployment's template) with `image`."""
    template = copy.deepcopy(env.deployment["spec"]["template"])
    for container in template["spec"]["containers"]:
        container["image"] = image
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": env.namespace, **template["metadata"]},
        "spec": template["spec"],
    }


def _alone(env: SupplyEnv, pod: dict[str, Any]) -> tuple[bool, str]:
    """policy-controller's own verdict on `pod`."""
    return review_pod(pod, env.sandbox.state.pki / "ca.crt")


def _record(
    record_property: Callable[[str, Any], None], image: str, in_model: Verdict, alone: tuple[bool, str]
) -> None:
    record_property("image", image)
    record_property("model_namespace", in_model.summary())
    record_property("policy_controller_alone", {"allowed": alone[0], "message": alone[1]})


@pytest.mark.e2e_group("supply:signed")
def test_signed_model_deployment_is_installed(
    supply_env: SupplyEnv, record_property: Callable[[str, Any], None]
) -> None:
    signed = supply_env.chain.images["signed"]
    errors = [f"{item.ref}: {item.error}" for item in supply_env.sandbox.applied if item.error]
    record_property("errors", errors)
    assert not errors
    _, path = supply_env.client.paths(supply_env.deployment)
    stored = supply_env.client.get(path)
    assert [c["image"] for c in stored["spec"]["template"]["spec"]["containers"]] == [signed]


@pytest.mark.e2e_group("supply:signed")
def test_cosign_verifies_the_signed_image_and_no_other(supply_env: SupplyEnv) -> None:
    # The README's CI step, `cosign verify --key`, on the image and on its unsigned and foreign-key copies.
    images, key = supply_env.chain.images, supply_env.chain.image_key
    assert images["signed"].split("@")[1] in cosign_verify(key, images["signed"])
    for case in ("unsigned", "other-key"):
        with pytest.raises(ImageError, match=r"no (matching )?signatures"):
            cosign_verify(key, images[case])


@pytest.mark.e2e_group("supply:signed")
def test_signed_image_by_digest_is_admitted(supply_env: SupplyEnv, record_property: Callable[[str, Any], None]) -> None:
    signed = supply_env.chain.images["signed"]
    pod = _model_pod(supply_env, signed, "signed-model")
    in_model, alone = judge(supply_env.client, pod), _alone(supply_env, pod)
    _record(record_property, signed, in_model, alone)
    assert in_model.admitted, in_model.summary()
    assert alone[0], alone


@pytest.mark.parametrize("case", _cases())
def test_variant_is_refused(supply_env: SupplyEnv, case: str, record_property: Callable[[str, Any], None]) -> None:
    image = supply_env.chain.images[case]
    pod = _model_pod(supply_env, image, f"{case}-model")
    in_model, alone = judge(supply_env.client, pod), _alone(supply_env, pod)
    _record(record_property, image, in_model, alone)
    if in_model.admitted:
        record_property("admitted_images", [c["image"] for c in in_model.body["spec"]["containers"]])
    assert not in_model.admitted, in_model.summary()
    assert in_model.refused_by in ("gatekeeper", "policy-controller"), in_model.summary()
    assert not alone[0] and alone[1], alone
    if case == "tag":
        # Signed, and resolved to its digest by policy-controller: only the digest-alone rule is left.
        assert in_model.refused_by == "gatekeeper" and "without a tag" in in_model.message, in_model.summary()


@pytest.mark.e2e_group("supply:mesh-injected")
def test_mesh_injected_model_pod_is_admitted(
    supply_env: SupplyEnv, record_property: Callable[[str, Any], None]
) -> None:
    pod = injected_pod(supply_env.deployment, name="model-injected")
    verdict = judge(supply_env.client, pod)
    record_property("verdict", verdict.summary())
    assert verdict.admitted, verdict.summary()
    admitted = verdict.body["spec"]
    images = {c["name"]: c["image"] for c in [*admitted.get("initContainers", []), *admitted["containers"]]}
    record_property("images", images)
    assert images.pop("istio-proxy") == ISTIO_PROXY_IMAGE
    assert set(images.values()) <= {ISTIO_PROXY_IMAGE, supply_env.chain.images["signed"]}
    assert supply_env.chain.images["signed"] in images.values()


def _mounted_key(env: SupplyEnv, directory: Path) -> Path:
    """The model-signing public key as the stack mounts it (its rendered ConfigMap)."""
    (config_map,) = [
        obj
        for obj in env.sandbox.plan.of_kind("ConfigMap")
        if SIGNING_KEY_DATA_KEY in (obj.get("data") or {}) and obj["metadata"].get("namespace") == env.namespace
    ]
    path = directory / "mounted-public-key.pem"
    path.write_text(config_map["data"][SIGNING_KEY_DATA_KEY], encoding="utf-8")
    return path


@pytest.mark.e2e_group("supply:model")
def test_image_model_verifies_against_the_mounted_key(
    supply_env: SupplyEnv, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    model_root = export_files(supply_env.chain.images["signed"], tmp_path / "image", "/opt/model")
    key = _mounted_key(supply_env, tmp_path)
    manifest = verify_model(model_root / "current", model_root / "model.sig", TrustAnchor(public_key=key))
    record_property("signed_files", sorted(manifest.digests))
    app = create_app(
        Settings(model_dir=model_root / "current", model_signature=model_root / "model.sig", model_public_key=key),
        fail_fast=True,
    )
    assert app.test_client().get("/readyz").status_code == 200


@pytest.mark.e2e_group("supply:model")
def test_model_signed_by_another_key_never_serves(
    supply_env: SupplyEnv, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    model_root = export_files(supply_env.chain.images["signed"], tmp_path / "image", "/opt/model")
    forged = tmp_path / "forged.sig"
    sign_model(model_root / "current", forged, supply_env.chain.model.other_private_key)
    settings = Settings(
        model_dir=model_root / "current", model_signature=forged, model_public_key=_mounted_key(supply_env, tmp_path)
    )
    with pytest.raises(ModelLoadError) as refused:
        create_app(settings, fail_fast=True)
    record_property("refusal", str(refused.value))
    client = create_app(settings).test_client()
    assert client.get("/readyz").status_code == 503
    assert client.post("/v1/predict", json={"transactions": []}).status_code == 503


@pytest.mark.e2e_group("supply:keyless")
def test_the_stacks_keyless_policy_passes_the_real_controllers_validation(
    supply_env: SupplyEnv, record_property: Callable[[str, Any], None]
) -> None:
    # Keyless signatures need Fulcio and Rekor; the policy the real stack renders is still judged
    # by policy-controller's own ClusterImagePolicy webhook, and a broken copy of it is refused.
    (policy,) = [
        obj
        for obj in render_objects(supply_env.stack)
        if obj["kind"] == "ClusterImagePolicy" and "keyless" in obj["spec"]["authorities"][0]
    ]
    policy = {**policy, "metadata": {"name": "keyless-as-rendered"}}
    accepted = judge(supply_env.client, policy)
    broken = copy.deepcopy(policy)
    broken["metadata"]["name"] = "keyless-and-key"
    # Valid against the CRD's schema; only the controller knows an authority is one kind of signer.
    broken["spec"]["authorities"][0]["key"] = {"data": supply_env.chain.image_key.public_pem}
    refused = judge(supply_env.client, broken)
    record_property("accepted", accepted.summary())
    record_property("refused", refused.summary())
    assert accepted.admitted, accepted.summary()
    assert not refused.admitted and "validating.clusterimagepolicy.sigstore.dev" in refused.message, refused.summary()
