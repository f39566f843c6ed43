"""The policy pack's validators judge Pulumi resources with the library's Rego, as Gatekeeper would.

Runs in the development venv, where pulumi_policy is not installed: the validation module must
not need it. The adapter runs in the pack's own venv, under the real analyzer (test_analyzer.py).
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_pack.validation import (
    RESTRICTED_POLICIES,
    UNJUDGED,
    PackConfig,
    config_from,
    kubernetes_object,
    policy_names,
    validate,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture(scope="module")
def config() -> PackConfig:
    return config_from({})


@pytest.fixture
def deployment(render_dirs: dict[str, Path]) -> dict[str, Any]:
    """Our own hardened prod Deployment, as the provider would receive its inputs."""
    return yaml.safe_load((render_dirs["prod"] / "fraud-model" / "deployment-fraud-detector.yaml").read_text())


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def policies_of(findings: list[Any]) -> set[str]:
    return {finding.policy for finding in findings}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_only_the_entry_module_builds_the_pack_and_only_the_adapter_needs_pulumi_policy() -> None:
    import policy_pack.validation as module

    pack = Path(module.__file__).parent
    assert not any(name.startswith("pulumi_policy") for name in imported_modules(pack / "validation.py"))
    assert "pulumi_policy" in imported_modules(pack / "adapter.py")
    assert "\nserve()" not in (pack / "adapter.py").read_text()
    assert "\nserve()" in (pack / "__main__.py").read_text()


def test_a_hardened_deployment_passes(deployment: dict[str, Any], config: PackConfig) -> None:
    assert validate(DEPLOYMENT, deployment, config) == []


def test_a_privileged_deployment_is_refused_as_the_pod_it_creates(
    deployment: dict[str, Any], config: PackConfig
) -> None:
    container(deployment)["securityContext"]["privileged"] = True
    findings = validate(DEPLOYMENT, deployment, config)
    assert policies_of(findings) == {"deny-privileged-containers"}
    assert "privileged" in findings[0].message and '"model"' in findings[0].message


def test_a_host_path_pod_is_refused(deployment: dict[str, Any], config: PackConfig) -> None:
    pod = {
        "metadata": {"name": "debug", "namespace": "fraud-model"},
        "spec": copy.deepcopy(deployment["spec"]["template"]["spec"]),
    }
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}})
    findings = validate("kubernetes:core/v1:Pod", pod, config)
    assert "deny-host-path-volumes" in policies_of(findings)
    assert any("/var/run" in f.message or "hostPath" in f.message for f in findings)


def test_a_tag_pinned_image_is_refused(deployment: dict[str, Any], config: PackConfig) -> None:
    container(deployment)["image"] = "registry.example.com/models/fraud-detector:1.2.3"
    findings = validate(DEPLOYMENT, deployment, config)
    assert policies_of(findings) == {"deny-unpinned-images"}
    assert "fraud-detector:1.2.3" in findings[0].message


def test_a_node_port_service_is_refused(config: PackConfig) -> None:
    service = {
        "metadata": {"name": "model", "namespace": "fraud-model"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "model"}},
    }
    findings = validate("kubernetes:core/v1:Service", service, config)
    assert policies_of(findings) == {"deny-exposed-services"}
    assert "NodePort" in findings[0].message
    service["spec"]["type"] = "ClusterIP"
    assert validate("kubernetes:core/v1:Service", service, config) == []


def test_an_untrusted_registry_follows_the_pack_config(deployment: dict[str, Any]) -> None:
    image = "ghcr.io/someone/model@sha256:" + "a" * 64
    container(deployment)["image"] = image
    assert policies_of(validate(DEPLOYMENT, deployment, config_from({}))) == {"deny-untrusted-registries"}
    assert validate(DEPLOYMENT, deployment, config_from({"registries": ["ghcr.io/someone"]})) == []


def test_exempt_namespaces_and_non_kubernetes_resources_are_not_judged(
    deployment: dict[str, Any], config: PackConfig
) -> None:
    container(deployment)["securityContext"]["privileged"] = True
    assert validate("secure-model-serving:workload:HardenedModelDeployment", deployment, config) == []
    assert [f.policy for f in validate("kubernetes:helm.sh/v3:Release", deployment, config)] == [UNJUDGED]
    deployment["metadata"]["namespace"] = "kube-system"
    assert validate(DEPLOYMENT, deployment, config) == []
    deployment["metadata"]["namespace"] = "someone-elses"  # unknown namespaces fail closed
    assert validate(DEPLOYMENT, deployment, config) != []


def test_kubernetes_objects_are_rebuilt_from_the_type_token() -> None:
    obj = kubernetes_object("kubernetes:core/v1:Pod", {"metadata": {"name": "p"}})
    assert obj is not None and (obj["apiVersion"], obj["kind"]) == ("v1", "Pod")
    obj = kubernetes_object("kubernetes:apps/v1:Deployment", {"metadata": {"name": "d"}})
    assert obj is not None and obj["apiVersion"] == "apps/v1"
    assert kubernetes_object("aws:s3/bucket:Bucket", {"metadata": {}}) is None


def test_the_restricted_rules_name_existing_policies() -> None:
    assert set(RESTRICTED_POLICIES) <= set(policy_names())
