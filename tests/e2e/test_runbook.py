"""(e) The privileged-pod runbook, walked as written against the real API server: every fenced
`sh` block of docs/runbook-privileged-pod.md, in order, in one bash shell at the repository's root,
with the pinned kubectl on PATH and the sandbox's admin kubeconfig.

The incident is staged first. The sandbox has no kubelet or scheduler, so the pod is an API
object bound to a Node object by `spec.nodeName`; and its admin (`system:masters`) is judged by
Pod Security Admission and Gatekeeper like anyone, so a privileged pod cannot simply be created
in the model namespace. The test stages one of the causes the runbook names: a cluster admin
lowers the namespace's Pod Security label and removes Gatekeeper's webhook, creates a privileged
pod carrying the model's labels (so the model's allowing NetworkPolicies select it), then puts
both back. The test then shows what the runbook must overcome (Gatekeeper refuses even a label
change on that pod; the platform's allowing policies select it) and, after the walk, that it is
contained: out of every allowing NetworkPolicy, node cordoned, evidence kept from before its
deletion, live RBAC exported and audited.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from secure_model_serving.naming import QUARANTINE_LABEL
from tests.e2e.envs import StackEnv
from tools.audit import audit_objects
from tools.audit.selectors import selects
from tools.mock_engine import REPO_ROOT
from tools.sandbox.client import ApiError, Identity
from tools.sandbox.cluster import PROBE_USER, WEBHOOK_CONFIGURATION
from tools.toolchain import ensure

RUNBOOK = REPO_ROOT / "docs" / "runbook-privileged-pod.md"
STACK = "prod"
POD = "debug-shell"
NODE = "worker-1"
_WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


def runbook_blocks() -> list[str]:
    """The runbook's fenced `sh` blocks, in order."""
    return re.findall(r"^```sh\n(.*?)^```$", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


def test_the_runbook_reads_only_what_it_wrote() -> None:
    """No block reads a folder it did not create: the only paths are the repository's own, the
    evidence folder made by the runbook, and what `make setup` creates."""
    script = "\n".join(runbook_blocks())
    assert "../" not in script
    assert QUARANTINE_LABEL in script
    assert len(runbook_blocks()) >= 8


def _namespace_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}"


def _patch_labels(env: StackEnv, namespace: str, labels: dict[str, str]) -> None:
    """As the platform: the namespace's security labels are locked for everyone else."""
    assert env.platform_groups, f"stack {env.stack} names no rbac.platformGroups to stage the incident as"
    env.client.request(
        "PATCH",
        _namespace_path(namespace),
        {"metadata": {"labels": labels}},
        content_type="application/merge-patch+json",
        identity=Identity("e2e-platform-admin", (env.platform_groups[0], "system:masters")),
    )


def privileged_pod(env: StackEnv) -> dict[str, Any]:
    """A root shell with the host's PID namespace and every capability, labelled as the model."""
    labels = dict(env.deployment["spec"]["selector"]["matchLabels"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": env.namespace, "labels": labels},
        "spec": {
            "nodeName": NODE,
            "hostPID": True,
            "containers": [
                {
                    "name": "shell",
                    "image": "busybox:1.36",
                    "command": ["sleep", "infinity"],
                    "securityContext": {"privileged": True},
                }
            ],
        },
    }


def stage_incident(env: StackEnv) -> None:
    """As the sandbox's admin (in the platform's group): bypass admission for a moment, create the
    pod, restore admission."""
    client, namespace = env.client, env.namespace
    client.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}})
    with pytest.raises(ApiError):  # admission holds while it is in place
        client.create(privileged_pod(env))
    webhook = client.request("GET", f"{_WEBHOOKS}/{WEBHOOK_CONFIGURATION}").body
    enforce = "pod-security.kubernetes.io/enforce"
    level = client.request("GET", _namespace_path(namespace)).body["metadata"]["labels"][enforce]
    _patch_labels(env, namespace, {enforce: "privileged"})
    client.request("DELETE", f"{_WEBHOOKS}/{WEBHOOK_CONFIGURATION}")
    try:
        client.create(privileged_pod(env))
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            webhook["metadata"].pop(key, None)
        client.create(webhook)
        _patch_labels(env, namespace, {enforce: level})


def _wait_for_gatekeeper(env: StackEnv) -> None:
    """Until the restored webhook judges again: a dry-run privileged pod is refused by it (sent as
    the probe user, whom Pod Security Admission exempts, so Gatekeeper's is the verdict)."""
    deadline = time.monotonic() + 60
    while True:
        probe = privileged_pod(env)
        probe["metadata"]["name"] = "probe"
        try:
            env.client.create(probe, identity=Identity(PROBE_USER, ("system:masters",)), dry_run=True)
        except ApiError as error:
            if "gatekeeper" in error.message:
                return
        if time.monotonic() > deadline:
            pytest.fail("the restored Gatekeeper webhook does not judge the model namespace")
        time.sleep(1)


def allowing_policies_selecting(env: StackEnv, labels: dict[str, str]) -> list[str]:
    policies = env.client.request("GET", f"/apis/networking.k8s.io/v1/namespaces/{env.namespace}/networkpolicies").body
    return sorted(
        p["metadata"]["name"]
        for p in policies["items"]
        if (p["spec"].get("ingress") or p["spec"].get("egress")) and selects(p["spec"].get("podSelector"), labels)
    )


@pytest.mark.e2e_group("runbook")
def test_the_runbook_contains_a_privileged_pod(stack_env: StackEnv, tmp_path: Path) -> None:
    if stack_env.stack != STACK:
        pytest.skip(f"the runbook is for {STACK}; walked once, in its sandbox")
    incident = stack_env
    stage_incident(incident)
    _wait_for_gatekeeper(incident)
    client, namespace = incident.client, incident.namespace
    pod_path = f"{_namespace_path(namespace)}/pods/{POD}"
    live = client.request("GET", pod_path).body
    # What the runbook must overcome: the platform's allowing policies select the pod...
    assert allowing_policies_selecting(incident, live["metadata"]["labels"])
    # ...and Gatekeeper refuses any update of it, a label change included.
    with pytest.raises(ApiError, match="deny-privileged-containers"):
        client.request(
            "PATCH", pod_path, {"metadata": {"labels": {"x": "y"}}}, content_type="application/merge-patch+json"
        )

    kubectl = ensure("kubectl")
    before = set(REPO_ROOT.glob("incident-*"))
    environment = {
        **os.environ,
        "PATH": f"{kubectl.parent}{os.pathsep}{os.environ['PATH']}",
        "KUBECONFIG": str(incident.sandbox.state.kubeconfig),
        "NS": namespace,
        "POD": POD,
        "DEPLOYED": "HEAD",
        "LAST_GOOD": "HEAD",
    }
    script = "set -eo pipefail\n" + "\n".join(
        f"echo '>>> runbook block {number}'\n{block}" for number, block in enumerate(runbook_blocks(), 1)
    )
    try:
        walk = subprocess.run(
            ["bash", "-c", script], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=900
        )
        (evidence,) = set(REPO_ROOT.glob("incident-*")) - before
        shutil.copytree(evidence, tmp_path / "evidence")
    finally:
        for folder in set(REPO_ROOT.glob("incident-*")) - before:
            for tree in folder.glob("tree-*"):  # a walk stopped between a worktree's add and remove
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO_ROOT, check=False)
            shutil.rmtree(folder, ignore_errors=True)
    assert walk.returncode == 0, f"{walk.stdout[-4000:]}\n{walk.stderr[-4000:]}"
    evidence = tmp_path / "evidence"

    # Evidence kept before the pod was deleted: the privileged spec, as it was, and the events.
    kept = yaml.safe_load((evidence / "pod.yaml").read_text())
    assert kept["spec"]["containers"][0]["securityContext"]["privileged"] is True
    assert "deletionTimestamp" not in kept["metadata"] and QUARANTINE_LABEL not in kept["metadata"]["labels"]
    assert yaml.safe_load((evidence / "events.yaml").read_text())["kind"] == "List"
    assert (evidence / "SHA256SUMS").read_text().count("pod.yaml") == 1

    # Live RBAC exported, and audited with it: the account's bindings are resolved from the live
    # objects (the default account is reached through system:authenticated's ClusterRoleBindings).
    rbac = yaml.safe_load((evidence / "rbac-cluster.yaml").read_text())
    assert {"ClusterRole", "ClusterRoleBinding"} <= {item["kind"] for item in rbac["items"]}
    (entry,) = json.loads((evidence / "blast-radius.json").read_text())
    assert entry["capabilities"] == {"shell": ["ALL"]}
    assert entry["host"]["namespaces"] == ["hostPID"]
    assert any(grant["subject"] == "Group/system:authenticated" for grant in entry["rbac"])
    assert entry["secrets"]["serviceAccountToken"]  # the live kube-api-access volume

    # Contained: the pod is out of every allowing policy, the deny-all ones still select it.
    quarantined = yaml.safe_load((evidence / "pod-quarantined.yaml").read_text())
    labels = quarantined["metadata"]["labels"]
    assert labels[QUARANTINE_LABEL] == "true"
    assert allowing_policies_selecting(incident, labels) == []
    policies = yaml.safe_load((evidence / "networkpolicies-after.yaml").read_text())["items"]
    (pod_entry,) = [e for e in audit_objects([quarantined, *policies]) if e["workload"]["kind"] == "Pod"]
    assert pod_entry["network"]["ingressRestricted"] and pod_entry["network"]["egressRestricted"]
    assert {p["name"] for p in pod_entry["network"]["networkPolicies"]} == {"default-deny-all", "quarantine-deny-all"}

    # The node is cordoned, and the pod is on its way out (no kubelet confirms the deletion).
    node = client.request("GET", f"/api/v1/nodes/{NODE}").body
    assert node["spec"].get("unschedulable") is True
    try:
        gone = client.request("GET", pod_path).body
    except ApiError as error:
        assert error.status == 404
    else:
        assert gone["metadata"].get("deletionTimestamp")
