"""The blast-radius audit answers what a compromised workload gives an attacker, on crafted manifests.

The CLI runs once as a real process (`--json`, the machine-read output); the Markdown run calls
the same `main(argv)` in this process, where tools.policy renders and compiles prod's policies at
most once (a real process pays seconds for that each time). The crafted corpus
(tests/tools/audit_corpus.py) pins one answer per case, each from both sides.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools.audit_corpus import CASES, NS, Case
from tools.audit import SCHEMA_KEYS, audit, audit_objects
from tools.audit.cli import main
from tools.audit.pods import API_AUDIENCES
from tools.mock_engine import REPO_ROOT


def attacker_manifests() -> list[dict[str, Any]]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug", "namespace": NS, "labels": {"app": "debug"}},
        "spec": {
            "serviceAccountName": "debugger",
            "hostPID": True,
            "hostNetwork": True,
            "containers": [
                {
                    "name": "shell",
                    "image": "busybox:latest",
                    "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}},
                    "ports": [{"containerPort": 22, "hostPort": 2222}],
                    "envFrom": [{"secretRef": {"name": "db-credentials"}}],
                    "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "api-key", "key": "k"}}}],
                }
            ],
            "volumes": [
                {"name": "root", "hostPath": {"path": "/"}},
                {"name": "tls", "secret": {"secretName": "tls-cert"}},
                {"name": "bundle", "projected": {"sources": [{"secret": {"name": "signing-key"}}]}},
            ],
        },
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "debugger", "namespace": NS}}
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "secret-reader"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "debugger-reads-secrets"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secret-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "debugger", "namespace": NS}],
    }
    return [pod, account, role, binding]


def hardened_manifests(render_dir: Path) -> list[dict[str, Any]]:
    """Our prod Deployment's pod as a bare Pod, exactly as the platform fixes it (admission pins its
    volumes and mounts), its ServiceAccount and the namespace's default-deny policy."""
    deployment = yaml.safe_load((render_dir / NS / "deployment-fraud-detector.yaml").read_text())
    spec = copy.deepcopy(deployment["spec"]["template"]["spec"])
    metadata = {"name": "model", "namespace": NS, "labels": deployment["spec"]["template"]["metadata"]["labels"]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    account = yaml.safe_load((render_dir / NS / "serviceaccount-fraud-detector.yaml").read_text())
    deny = yaml.safe_load((render_dir / NS / "networkpolicy-default-deny-all.yaml").read_text())
    return [pod, account, deny]


def write(path: Path, documents: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(documents))
    return path


def test_a_privileged_pod_with_a_secret_reading_account_is_reported_in_full(tmp_path: Path) -> None:
    (entry,) = audit([write(tmp_path / "attack.yaml", attacker_manifests())])
    assert entry["workload"] == {"kind": "Pod", "namespace": NS, "name": "debug", "serviceAccount": "debugger"}
    assert entry["host"] == {
        "privileged": ["shell"],
        "namespaces": ["hostNetwork", "hostPID"],
        "hostPaths": ["/"],
        "hostPorts": [2222],
    }
    assert entry["capabilities"] == {"shell": ["ALL"]}  # privileged: every capability, added or not
    assert entry["secrets"]["names"] == ["api-key", "db-credentials", "signing-key", "tls-cert"]
    assert entry["secrets"]["serviceAccountToken"]  # neither the pod nor the account turns it off
    (grant,) = entry["rbac"]
    assert (grant["binding"], grant["role"], grant["scope"]) == (
        "ClusterRoleBinding/debugger-reads-secrets",
        "ClusterRole/secret-reader",
        "cluster",
    )
    assert grant["danger"] == ["reads secrets"]
    assert entry["network"]["networkPolicies"] == []
    assert not entry["network"]["ingressRestricted"] and not entry["network"]["egressRestricted"]
    assert entry["network"]["openings"] == ["hostNetwork: NetworkPolicies do not apply to the pod"]
    broken = {violation["constraint"].split("/")[1] for violation in entry["policy"]}
    assert {"deny-privileged-containers", "deny-host-namespaces", "deny-host-path-volumes"} <= broken


def test_a_hardened_pod_reports_nothing(render_dirs: dict[str, Path], tmp_path: Path) -> None:
    (entry,) = audit([write(tmp_path / "model.yaml", hardened_manifests(render_dirs["prod"]))])
    assert entry["host"] == {"privileged": [], "namespaces": [], "hostPaths": [], "hostPorts": []}
    assert entry["capabilities"] and all(caps == [] for caps in entry["capabilities"].values())
    # The Secrets the platform mounts read-only, and no token at all.
    assert entry["secrets"] == {"names": ["audit-sink", "feature-store"], "serviceAccountToken": False, "tokens": []}
    assert entry["rbac"] == []
    assert entry["network"]["ingressRestricted"] and entry["network"]["egressRestricted"]
    assert [p["defaultDeny"] for p in entry["network"]["networkPolicies"]] == [True]
    assert entry["network"]["openings"] == []
    assert entry["policy"] == []


def pod_with(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": NS}, "spec": spec}


@pytest.mark.parametrize(
    ("pod_field", "account_field", "mounted"),
    [(None, None, True), (None, False, False), (True, False, True), (False, True, False), (None, True, True)],
)
def test_the_token_mount_is_resolved_pod_first_then_account_then_true(
    pod_field: bool | None, account_field: bool | None, mounted: bool
) -> None:
    spec: dict[str, Any] = {"serviceAccountName": "sa", "containers": [{"name": "c"}]}
    account: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "sa", "namespace": NS},
    }
    if pod_field is not None:
        spec["automountServiceAccountToken"] = pod_field
    if account_field is not None:
        account["automountServiceAccountToken"] = account_field
    (entry,) = audit_objects([pod_with(spec), account])
    assert entry["secrets"]["serviceAccountToken"] is mounted


def test_group_subjects_and_namespaces_decide_who_a_binding_reaches() -> None:
    attack = attacker_manifests()
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "exec", "namespace": NS},
        "rules": [{"apiGroups": ["*"], "resources": ["pods/exec", "pods"], "verbs": ["create"]}],
    }

    def binding(namespace: str, subject: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "exec", "namespace": namespace},
            "roleRef": {"kind": "Role", "name": "exec"},
            "subjects": [subject],
        }

    group = binding(NS, {"kind": "Group", "name": f"system:serviceaccounts:{NS}"})
    (entry,) = audit_objects([attack[0], role, group])
    assert entry["rbac"][0]["danger"] == ["wildcard", "pods/exec", "creates pods"]
    elsewhere = binding("other", {"kind": "ServiceAccount", "name": "debugger", "namespace": "other"})
    other_group = binding(NS, {"kind": "Group", "name": "system:serviceaccounts:other"})
    (entry,) = audit_objects([attack[0], role, elsewhere, other_group])
    assert entry["rbac"] == []


def test_the_json_schema_is_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "attack.yaml", attacker_manifests())
    command = [sys.executable, "-m", "tools.audit", "--json", str(path)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    (entry,) = json.loads(result.stdout)
    assert tuple(entry) == SCHEMA_KEYS
    assert set(entry["workload"]) == {"kind", "namespace", "name", "serviceAccount"}
    assert set(entry["host"]) == {"privileged", "namespaces", "hostPaths", "hostPorts"}
    assert set(entry["secrets"]) == {"names", "serviceAccountToken", "tokens"}
    assert set(entry["secrets"]["tokens"][0]) == {"volume", "source", "audience", "apiToken", "containers"}
    assert set(entry["rbac"][0]) == {
        "binding",
        "subject",
        "role",
        "via",
        "scope",
        "apiGroups",
        "resources",
        "verbs",
        "danger",
    }
    assert set(entry["network"]) == {
        "networkPolicies",
        "ingressRestricted",
        "egressRestricted",
        "openings",
        "authorizationPolicies",
    }
    assert set(entry["policy"][0]) == {"action", "constraint", "message"}
    capsys.readouterr()  # drop anything printed before
    assert main([str(path)]) == 0  # `python -m tools.audit PATH`, in this process
    markdown = capsys.readouterr().out
    assert "## Pod fraud-model/debug" in markdown and "reads secrets" in markdown


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_the_corpus_gets_its_expected_answer(case: Case) -> None:
    (entry,) = [e for e in audit_objects(case.objects, api_audiences=(*API_AUDIENCES, *case.api_audiences))]
    assert case.answer(entry) == case.expected


def test_the_corpus_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def test_the_mesh_injected_pod_holds_only_the_istio_ca_token() -> None:
    """Istio's injected token is for istio-ca: reported, and not as a Kubernetes API token."""
    injected = yaml.safe_load((REPO_ROOT / "tests" / "fixtures" / "mesh" / "istio-cni-injected-pod.yaml").read_text())
    (entry,) = audit_objects([injected])
    assert [(t["volume"], t["audience"], t["apiToken"]) for t in entry["secrets"]["tokens"]] == [
        ("istio-token", "istio-ca", False)
    ]
    assert entry["secrets"]["serviceAccountToken"] is False
    assert entry["secrets"]["tokens"][0]["containers"] == ["istio-proxy"]


def test_a_cluster_audience_given_on_the_command_line_makes_a_token_an_api_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "automountServiceAccountToken": False,
        "containers": [{"name": "c"}],
        "volumes": [
            {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"audience": "https://api.corp"}}]}}
        ],
    }
    path = write(tmp_path / "pod.yaml", [pod_with(spec)])
    capsys.readouterr()
    assert main(["--json", "--stack", "prod", str(path)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["secrets"]["serviceAccountToken"] is False
    assert main(["--json", "--stack", "prod", "--api-audience", "https://api.corp", str(path)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["secrets"]["serviceAccountToken"] is True
