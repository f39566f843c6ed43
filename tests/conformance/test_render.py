"""Conformance: the rendered stacks, checked by independent engines.

Kubernetes schemas (strict), upstream CRD schemas, Pod Security Standards `restricted` (trivy's
PSS checks), checkov. Each check also runs on a known-bad object, so it is shown able to fail.
"""

from __future__ import annotations

import copy
import filecmp
import functools
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from secure_model_serving.naming import ISOLATION_LABEL
from secure_model_serving.versions import KUBERNETES_TARGET
from tests.support.cli import CallMain
from tests.support.stacks import STACKS
from tools.crd_schema import CrdCatalog, CrdValidationError
from tools.manifests import WORKLOAD_KINDS
from tools.mock_engine import REPO_ROOT
from tools.render import main as render_main
from tools.render import render_stack, stack_file, write_render
from tools.scanners import Finding, checkov_findings, trivy_statuses

# The C loader where PyYAML has it: the renders are parsed many times over.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

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


@functools.cache
def documents(render_dir: Path) -> tuple[tuple[str, dict[str, Any]], ...]:
    """A render's Kubernetes objects, parsed once per module (tests copy before they change one)."""
    return tuple(
        (str(path.relative_to(render_dir)), yaml.load(path.read_text(), Loader=LOADER))
        for path in sorted(render_dir.rglob("*.yaml"))
        if path.parent.name != "releases"
    )


@functools.cache
def kubernetes_version(stack: str) -> str:
    config = yaml.safe_load(stack_file(stack).read_text())["config"]
    return config.get("secure-model-serving:kubernetesVersion", KUBERNETES_TARGET)


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
        kubernetes_validate.validate(bad, KUBERNETES_TARGET, strict=True)


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


@dataclass(frozen=True)
class ScanTree:
    """One folder for one run of each scanner: every distinct rendered document, and a known-bad pod.

    Most documents are equal across the three stacks, and a scanner's cost grows with the files it
    reads; each distinct content is written once and its findings are credited to every stack and
    file it came from. The privileged pod in the same run shows the scanner able to fail.
    """

    root: Path
    sources: dict[str, list[tuple[str, str]]]  # file in the tree -> (stack, file in the render)

    CONTROL = "control/privileged-pod.yaml"

    def by_stack(self, by_file: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Results keyed by file in the tree, regrouped per stack and keyed by file in its render."""
        split: dict[str, dict[str, Any]] = {}
        for file, result in by_file.items():
            for stack, rendered_file in self.sources.get(file, []):
                split.setdefault(stack, {})[rendered_file] = result
        return split


@pytest.fixture(scope="module")
def scan_tree(render_dirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> ScanTree:
    root = tmp_path_factory.mktemp("scan")
    sources: dict[str, list[tuple[str, str]]] = {}
    for stack, render_dir in render_dirs.items():
        for path in sorted(render_dir.rglob("*.yaml")):
            text = path.read_text()
            file = f"distinct/{hashlib.sha256(text.encode()).hexdigest()[:20]}.yaml"
            if file not in sources:
                (root / "distinct").mkdir(exist_ok=True)
                (root / file).write_text(text)
            sources.setdefault(file, []).append((stack, str(path.relative_to(render_dir))))
    (root / "control").mkdir()
    (root / ScanTree.CONTROL).write_text(yaml.safe_dump(PRIVILEGED_POD))
    return ScanTree(root, sources)


@pytest.fixture(scope="module")
def trivy_results(scan_tree: ScanTree) -> dict[str, dict[str, str]]:
    """trivy once over the scan tree (each scanner start costs seconds)."""
    return {file.lstrip("/"): statuses for file, statuses in trivy_statuses(scan_tree.root).items()}


@pytest.fixture(scope="module")
def checkov_results(scan_tree: ScanTree) -> dict[str, list[Finding]]:
    """checkov once over the scan tree, findings per file."""
    findings: dict[str, list[Finding]] = {}
    for finding in checkov_findings(scan_tree.root):
        findings.setdefault(finding.file.lstrip("/"), []).append(finding)
    return findings


@pytest.mark.parametrize("stack", STACKS)
def test_workloads_pass_pod_security_restricted(
    render_dirs: dict[str, Path], scan_tree: ScanTree, trivy_results, stack: str
) -> None:
    statuses = scan_tree.by_stack(trivy_results)[stack]
    workloads = [file for file, document in documents(render_dirs[stack]) if document["kind"] in WORKLOAD_KINDS]
    assert workloads
    for file in workloads:
        results = {check: statuses[file].get(check) for check in PSS_RESTRICTED_CHECKS}
        assert all(status == "PASS" for status in results.values()), f"{stack}/{file}: {results}"
    failed = {file: [c for c, s in checks.items() if s == "FAIL"] for file, checks in statuses.items()}
    assert not any(failed.values()), failed


def test_pod_security_check_catches_a_privileged_pod(trivy_results) -> None:
    statuses = trivy_results[ScanTree.CONTROL]
    for check in ("KSV-0001", "KSV-0010", "KSV-0012", "KSV-0017", "KSV-0022", "KSV-0105"):
        assert statuses[check] == "FAIL", check


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_nothing(scan_tree: ScanTree, checkov_results, stack: str) -> None:
    scanned = {rendered for sources in scan_tree.sources.values() for s, rendered in sources if s == stack}
    assert scanned
    assert scan_tree.by_stack(checkov_results).get(stack, {}) == {}
    assert set(checkov_results) <= {ScanTree.CONTROL}


def test_checkov_flags_a_privileged_pod(checkov_results) -> None:
    checks = {finding.check for finding in checkov_results[ScanTree.CONTROL]}
    assert {"CKV_K8S_16", "CKV_K8S_17"} <= checks  # privileged container, host PID


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.render", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


def test_cli_renders_a_stack_and_prints_counts(tmp_path: Path) -> None:
    result = run_cli("--stack", "dev", "--out", str(tmp_path / "dev"))
    assert result.returncode == 0, result.stderr
    assert "Deployment" in result.stdout and (tmp_path / "dev" / "index.json").is_file()


# The first case runs the real `python -m tools.render` process; the others call its `main` in
# this process (each new interpreter costs seconds of imports), checking the same outcome.
@pytest.mark.parametrize(
    ("key", "old", "new", "in_subprocess"),
    [
        ("model.image", "fraud-detector@sha256:9a8b", "fraud-detector:v1.2.3-and-not-a-digest-9a8b", True),
        ("model.replicsa", "    replicas: 3", "    replicsa: 3", False),
        ("model.replicas", "    replicas: 3", "    replicas: -3", False),
        ("model.resources.limits.memory", "memory: 2Gi", "memory: 2GiB", False),
    ],
)
def test_cli_refuses_bad_config_naming_the_key_and_writing_nothing(
    tmp_path: Path, call_main: CallMain, key: str, old: str, new: str, in_subprocess: bool
) -> None:
    source = stack_file("prod").read_text()
    assert old in source
    bad_file = tmp_path / "Pulumi.bad.yaml"
    bad_file.write_text(source.replace(old, new, 1))
    arguments = ("--config-file", str(bad_file), "--out", str(tmp_path / "out"))
    result = run_cli(*arguments) if in_subprocess else call_main(render_main, *arguments)
    assert result.returncode == 2
    assert f"secure-model-serving:{key}:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["Pulumi.bad.yaml"]
