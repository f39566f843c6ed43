"""Conformance: the rendered stacks, checked by independent engines.

Kubernetes schemas (strict), upstream CRD schemas, Pod Security Standards `restricted` (trivy's
PSS checks), checkov. Each check also runs on a known-bad object, so it is shown able to fail.
"""

from __future__ import annotations

import copy
import filecmp
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.naming import ISOLATION_LABEL
from tests.conftest import STACKS
from tools.crd_schema import CrdCatalog, CrdValidationError
from tools.mock_engine import REPO_ROOT
from tools.render import render_stack, stack_file, write_render
from tools.scanners import checkov_findings, trivy_statuses

WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}

# trivy's checks for every control of the Pod Security Standards (baseline + restricted).
PSS_RESTRICTED_CHECKS = {
    "KSV-0001": "allowPrivilegeEscalation",
    "KSV-0002": "AppArmor",
    "KSV-0003": "drop ALL capabilities",
    "KSV-0008": "host IPC",
    "KSV-0009": "host network",
    "KSV-0010": "host PID",
    "KSV-0012": "runAsNonRoot",
    "KSV-0017": "privileged",
    "KSV-0022": "added capabilities",
    "KSV-0023": "hostPath volumes",
    "KSV-0024": "host ports",
    "KSV-0025": "SELinux options",
    "KSV-0026": "sysctls",
    "KSV-0027": "procMount",
    "KSV-0028": "volume types",
    "KSV-0103": "Windows hostProcess",
    "KSV-0104": "seccomp",
    "KSV-0105": "runAsUser 0",
    "KSV-0106": "capabilities only NET_BIND_SERVICE",
}

PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "attacker", "namespace": "fraud-model"},
    "spec": {
        "hostPID": True,
        "containers": [
            {
                "name": "shell",
                "image": "registry.example.com/models/x@sha256:" + "1" * 64,
                "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
            }
        ],
    },
}


def documents(render_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    return [
        (str(path.relative_to(render_dir)), yaml.safe_load(path.read_text()))
        for path in sorted(render_dir.rglob("*.yaml"))
        if path.parent.name != "releases"
    ]


def kubernetes_version(stack: str) -> str:
    return yaml.safe_load(stack_file(stack).read_text())["config"].get("secure-model-serving:kubernetesVersion", "1.33")


def test_render_is_byte_identical_across_runs(render_dirs: dict[str, Path], tmp_path: Path) -> None:
    write_render(render_stack("prod"), tmp_path / "again")
    comparison = filecmp.dircmp(render_dirs["prod"], tmp_path / "again")
    assert comparison.diff_files == comparison.left_only == comparison.right_only == []
    for sub in comparison.subdirs.values():
        assert sub.diff_files == sub.left_only == sub.right_only == []


def test_index_lists_every_registered_resource(rendered, render_dirs: dict[str, Path]) -> None:
    for stack in STACKS:
        index = json.loads((render_dirs[stack] / "index.json").read_text())
        assert len(index) == len(rendered[stack])
        for entry in index:
            assert entry["type"] and entry["name"]
            if entry["file"]:
                assert (render_dirs[stack] / entry["file"]).is_file()
        written = {str(p.relative_to(render_dirs[stack])) for p in render_dirs[stack].rglob("*.yaml")}
        assert written == {entry["file"] for entry in index if entry["file"]}


def test_numbers_are_integers_and_one_object_per_file(render_dirs: dict[str, Path]) -> None:
    text = (render_dirs["prod"] / "fraud-model" / "deployment-fraud-detector.yaml").read_text()
    assert "replicas: 3\n" in text and ".0\n" not in text
    for path in render_dirs["prod"].rglob("*.yaml"):
        assert len(list(yaml.safe_load_all(path.read_text()))) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_core_objects_pass_strict_kubernetes_schemas(render_dirs: dict[str, Path], stack: str) -> None:
    catalog_kinds = 0
    for file, document in documents(render_dirs[stack]):
        try:
            kubernetes_validate.validate(document, kubernetes_version(stack), strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            catalog_kinds += 1  # a custom resource: checked against its CRD below
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{stack}/{file}: {error.message}")
    assert catalog_kinds < len(documents(render_dirs[stack]))


def test_strict_kubernetes_schema_refuses_an_unknown_field(render_dirs: dict[str, Path]) -> None:
    _, deployment = next(d for d in documents(render_dirs["prod"]) if d[1]["kind"] == "Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.33", strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_pass_their_upstream_crd_schemas(render_dirs, crd_catalog: CrdCatalog, stack: str) -> None:
    rendered = documents(render_dirs[stack])
    templates = [document for _, document in rendered if document["kind"] == "ConstraintTemplate"]
    catalog = crd_catalog.with_constraint_kinds(templates)
    for file, document in rendered:
        try:
            kubernetes_validate.validate(document, kubernetes_version(stack), strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            try:
                catalog.validate(document)
            except CrdValidationError as error:
                pytest.fail(f"{stack}/{file}: {error}")


def test_crd_validation_refuses_bad_custom_resources(crd_catalog: CrdCatalog) -> None:
    catalog = crd_catalog
    template = {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sexample"},
        "spec": {
            "crd": {"spec": {"names": {"kind": "K8sExample"}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": "package k8sexample"}],
        },
    }
    catalog.validate(template)
    for mutate in (
        lambda t: t["spec"].update(targetz=[]),  # unknown field
        lambda t: t["spec"]["targets"][0].update(rego=42),  # wrong type
        lambda t: t.update(apiVersion="templates.gatekeeper.sh/v9"),  # not served
        lambda t: t["metadata"].update(namespace="default"),  # cluster-scoped kind
    ):
        bad = copy.deepcopy(template)
        mutate(bad)
        with pytest.raises(CrdValidationError):
            catalog.validate(bad)


def test_every_model_namespace_has_quota_limits_and_default_deny(render_dirs: dict[str, Path]) -> None:
    for stack in STACKS:
        docs = [document for _, document in documents(render_dirs[stack])]
        namespaces = {
            d["metadata"]["name"]
            for d in docs
            if d["kind"] == "Namespace" and d["metadata"]["labels"].get(ISOLATION_LABEL) == "true"
        }
        assert namespaces
        for namespace in namespaces:
            kinds = {d["kind"] for d in docs if d["metadata"].get("namespace") == namespace}
            assert {"ResourceQuota", "LimitRange", "NetworkPolicy"} <= kinds
            deny = [
                d
                for d in docs
                if d["kind"] == "NetworkPolicy"
                and d["metadata"]["namespace"] == namespace
                and d["spec"]["podSelector"] == {}
                and sorted(d["spec"]["policyTypes"]) == ["Egress", "Ingress"]
            ]
            assert deny, f"{stack}: no default-deny in {namespace}"


def split_by_stack(render_dirs: dict[str, Path], by_file: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Results of one scan over all renders, per stack, keyed by the file's path in its render."""
    split: dict[str, dict[str, Any]] = {stack: {} for stack in render_dirs}
    for file, result in by_file.items():
        folder, _, rest = file.lstrip("/").partition("/")
        (stack,) = [stack for stack, directory in render_dirs.items() if directory.name == folder]
        split[stack][rest] = result
    return split


@pytest.fixture(scope="module")
def trivy_by_stack(render_dirs: dict[str, Path]) -> dict[str, dict[str, dict[str, str]]]:
    """trivy once over every stack's render (each scanner start costs seconds)."""
    return split_by_stack(render_dirs, trivy_statuses(next(iter(render_dirs.values())).parent))


@pytest.fixture(scope="module")
def checkov_by_stack(render_dirs: dict[str, Path]) -> dict[str, list]:
    """checkov once over every stack's render; every finding is attributed to its stack."""
    findings: dict[str, list] = {}
    for finding in checkov_findings(next(iter(render_dirs.values())).parent):
        findings.setdefault(finding.file, []).append(finding)
    return {
        stack: [finding for file_findings in by_file.values() for finding in file_findings]
        for stack, by_file in split_by_stack(render_dirs, findings).items()
    }


@pytest.mark.parametrize("stack", STACKS)
def test_workloads_pass_pod_security_restricted(render_dirs: dict[str, Path], trivy_by_stack, stack: str) -> None:
    statuses = trivy_by_stack[stack]
    workloads = [file for file, document in documents(render_dirs[stack]) if document["kind"] in WORKLOAD_KINDS]
    assert workloads
    for file in workloads:
        results = {check: statuses[file].get(check) for check in PSS_RESTRICTED_CHECKS}
        assert all(status == "PASS" for status in results.values()), f"{stack}/{file}: {results}"
    failed = {file: [c for c, s in checks.items() if s == "FAIL"] for file, checks in statuses.items()}
    assert not any(failed.values()), failed


def test_pod_security_check_catches_a_privileged_pod(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(PRIVILEGED_POD))
    statuses = trivy_statuses(tmp_path)["pod.yaml"]
    for check in ("KSV-0001", "KSV-0010", "KSV-0012", "KSV-0017", "KSV-0022", "KSV-0105"):
        assert statuses[check] == "FAIL", check


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_nothing(checkov_by_stack: dict[str, list], stack: str) -> None:
    assert checkov_by_stack[stack] == []


def test_checkov_flags_a_privileged_pod(tmp_path: Path) -> None:
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(PRIVILEGED_POD))
    checks = {finding.check for finding in checkov_findings(tmp_path)}
    assert {"CKV_K8S_16", "CKV_K8S_17"} <= checks  # privileged container, host PID


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.render", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


def test_cli_renders_a_stack_and_prints_counts(tmp_path: Path) -> None:
    result = run_cli("--stack", "dev", "--out", str(tmp_path / "dev"))
    assert result.returncode == 0, result.stderr
    assert "Deployment" in result.stdout and (tmp_path / "dev" / "index.json").is_file()


@pytest.mark.parametrize(
    ("key", "old", "new"),
    [
        ("model.image", "fraud-detector@sha256:9a8b", "fraud-detector:v1.2.3-and-not-a-digest-9a8b"),
        ("model.replicsa", "    replicas: 3", "    replicsa: 3"),
        ("model.replicas", "    replicas: 3", "    replicas: -3"),
        ("model.resources.limits.memory", "memory: 2Gi", "memory: 2GiB"),
    ],
)
def test_cli_refuses_bad_config_naming_the_key_and_writing_nothing(
    tmp_path: Path, key: str, old: str, new: str
) -> None:
    source = stack_file("prod").read_text()
    assert old in source
    bad_file = tmp_path / "Pulumi.bad.yaml"
    bad_file.write_text(source.replace(old, new, 1))
    result = run_cli("--config-file", str(bad_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"secure-model-serving:{key}:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.bad.yaml"]
