"""The rendered mesh: STRICT everywhere, allow-nothing plus principal rules, egress allow-list,
the CNI exception explicit, and the pod as Istio injects it admitted by our own policies."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from secure_model_serving.naming import ISOLATION_LABEL
from secure_model_serving.versions import ISTIO_PROXY_IMAGE
from tests.support import mesh as support_mesh
from tests.support.stacks import STACKS
from tools.policy import check, load_manifests
from tools.render import render_objects
from tools.scanners import trivy_statuses

PSS_CHECKS = ("KSV-0001", "KSV-0003", "KSV-0012", "KSV-0017", "KSV-0022", "KSV-0104", "KSV-0105", "KSV-0106")


@functools.cache
def manifests(render_dir: Path) -> tuple[dict[str, Any], ...]:
    """A render's objects, read once per module run (the tests below only read them)."""
    return tuple(load_manifests([render_dir]))


def objects(render_dir: Path, kind: str) -> list[dict[str, Any]]:
    return [o for o in manifests(render_dir) if o["kind"] == kind]


def model_namespaces(render_dir: Path) -> set[str]:
    return {
        o["metadata"]["name"]
        for o in objects(render_dir, "Namespace")
        if o["metadata"]["labels"].get(ISOLATION_LABEL) == "true"
    }


@pytest.mark.parametrize("stack", STACKS)
def test_mtls_is_strict_everywhere_and_never_permissive(render_dirs: dict[str, Path], stack: str) -> None:
    peers = objects(render_dirs[stack], "PeerAuthentication")
    strict_namespaces = {p["metadata"]["namespace"] for p in peers if p["spec"]["mtls"]["mode"] == "STRICT"}
    assert set(model_namespaces(render_dirs[stack])) <= strict_namespaces
    # A good neighbour on a shared cluster: nothing mesh-wide unless mesh.meshWide.strictMtls says so.
    assert "istio-system" not in strict_namespaces
    for peer in peers:
        modes = [peer["spec"]["mtls"]["mode"], *(p["mode"] for p in peer["spec"].get("portLevelMtls", {}).values())]
        assert set(modes) == {"STRICT"}, peer["metadata"]


@pytest.mark.parametrize("stack", STACKS)
def test_authorization_is_allow_nothing_plus_principal_rules(render_dirs: dict[str, Path], stack: str) -> None:
    policies = objects(render_dirs[stack], "AuthorizationPolicy")
    for namespace in model_namespaces(render_dirs[stack]):
        assert any(p["metadata"]["namespace"] == namespace and p["spec"] == {} for p in policies)
    rules = [
        rule for p in policies if p["spec"].get("action", "ALLOW") == "ALLOW" for rule in p["spec"].get("rules", [])
    ]
    assert rules, "the model admits nobody at all"
    for rule in rules:
        sources = [entry["source"] for entry in rule.get("from", [])]
        assert sources, f"an ALLOW rule without `from` matches every source: {rule}"
        for source in sources:
            assert set(source) == {"principals"} and source["principals"]
            assert not any("*" in principal for principal in source["principals"])
        for target in rule["to"]:
            assert target["operation"]["ports"] and target["operation"]["paths"] and target["operation"]["methods"]


@pytest.mark.parametrize("stack", STACKS)
def test_model_egress_is_registry_only_with_a_sidecar_list(render_dirs: dict[str, Path], stack: str) -> None:
    istiod = yaml.safe_load((render_dirs[stack] / "releases" / "release-mesh-istiod.yaml").read_text())
    # Other teams' egress is theirs: the registry-only rule lives in each model namespace's Sidecar.
    assert "outboundTrafficPolicy" not in istiod["values"]["meshConfig"]
    sidecars = {s["metadata"]["namespace"]: s for s in objects(render_dirs[stack], "Sidecar")}
    for namespace in model_namespaces(render_dirs[stack]):
        spec = sidecars[namespace]["spec"]
        assert spec["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
        hosts = spec["egress"][0]["hosts"]
        assert "*/*" not in hosts and "*" not in hosts


@pytest.mark.parametrize("stack", STACKS)
def test_privileged_namespaces_are_the_named_exceptions_only(render_dirs: dict[str, Path], stack: str) -> None:
    privileged = {
        o["metadata"]["name"]
        for o in objects(render_dirs[stack], "Namespace")
        if "privileged"
        in {v for k, v in o["metadata"]["labels"].items() if k.startswith("pod-security.kubernetes.io/")}
    }
    # The CNI node agent and Falco's eBPF probe need host access; nothing else may.
    assert privileged == {"istio-cni", "falco"}
    assert not privileged & model_namespaces(render_dirs[stack])


@functools.cache
def _prod_deployment() -> dict[str, Any]:
    return next(o for o in render_objects("prod") if o["kind"] == "Deployment")


def injected_pod() -> dict[str, Any]:
    """Prod's model pod as the pinned Istio injects it (tests/support/mesh.py)."""
    return support_mesh.injected_pod(_prod_deployment())


def test_fixture_proxy_is_the_pinned_proxy() -> None:
    images = {c["image"] for c in support_mesh.recorded_pod()["spec"]["initContainers"]}
    assert images == {ISTIO_PROXY_IMAGE}


def test_the_injected_pod_is_admitted_by_the_rendered_prod_policies(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(injected_pod()))
    report = check([tmp_path], stack="prod")
    assert report.violations == [], [v.format() for v in report.violations]


def test_a_tampered_injected_pod_is_still_denied(tmp_path: Path) -> None:
    pod = injected_pod()
    proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy")
    proxy["securityContext"]["privileged"] = True
    proxy["securityContext"]["capabilities"] = {"add": ["NET_ADMIN"], "drop": ["ALL"]}
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    report = check([tmp_path], stack="prod")
    assert report.denied
    assert {v.constraint_kind for v in report.violations} >= {"K8sDenyPrivilegedContainers", "K8sDenyExtraCapabilities"}


def test_the_injected_pod_passes_pod_security_restricted(tmp_path: Path) -> None:
    (tmp_path / "injected.yaml").write_text(yaml.safe_dump(injected_pod()))
    bad = copy.deepcopy(injected_pod())
    bad["spec"]["initContainers"][0]["securityContext"]["capabilities"] = {"add": ["NET_ADMIN", "NET_RAW"]}
    (tmp_path / "with-net-admin.yaml").write_text(yaml.safe_dump(bad))
    statuses = trivy_statuses(tmp_path)  # one trivy start for both pods
    good = statuses["injected.yaml"]
    assert {check_id: good.get(check_id) for check_id in PSS_CHECKS} == dict.fromkeys(PSS_CHECKS, "PASS")
    assert statuses["with-net-admin.yaml"]["KSV-0022"] == "FAIL"


@pytest.mark.parametrize("stack", STACKS)
def test_platform_namespaces_but_never_model_namespaces_skip_the_admission_webhook(
    render_dirs: dict[str, Path], stack: str
) -> None:
    gatekeeper = yaml.safe_load((render_dirs[stack] / "releases" / "release-admission-gatekeeper.yaml").read_text())
    skipped = set(gatekeeper["values"]["validatingWebhookExemptNamespacesLabels"]["kubernetes.io/metadata.name"])
    assert {"kube-system", "istio-system", "istio-cni", "cert-manager", "istio-ingress"} <= skipped
    assert not skipped & model_namespaces(render_dirs[stack])
