"""The render diff flags each weakening of the security posture, and stays quiet on hardening.

Every case is a pair of renders, (before, after), of one file: after weakens it. The same check
must flag before -> after, and must not flag the reverse (the equivalent hardening) nor a no-op.

The CLI (`python -m tools.render diff`) runs once as a real process, the way CI runs it; its other
cases call the same `main(argv)` in this process, sparing a second of imports each.
"""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CallMain
from tools.diff import WEAKENING_CHECKS, diff_dirs, format_report
from tools.mock_engine import REPO_ROOT
from tools.render import main as render_main

Document = dict[str, Any] | None


def hardened_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "model", "namespace": "models"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "model",
                    "image": "registry.example.com/model@sha256:" + "0" * 64,
                    "ports": [{"containerPort": 8080}],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "privileged": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def deployment(pod: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "model", "namespace": "models"},
        "spec": {"template": {"metadata": {"labels": {"app": "model"}}, "spec": pod["spec"]}},
    }


def edited(document: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    edit(changed)
    return changed


def ctx(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["containers"][0]["securityContext"]


def constraint(action: str) -> dict[str, Any]:
    return {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sDenyPrivilegedContainers",
        "metadata": {"name": "deny-privileged-containers"},
        "spec": {"enforcementAction": action},
    }


def template(rego: str) -> dict[str, Any]:
    return {
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sdenyprivilegedcontainers"},
        "spec": {"targets": [{"target": "admission.k8s.gatekeeper.sh", "code": [{"source": {"rego": rego}}]}]},
    }


def release(policy: str) -> dict[str, Any]:
    return {
        "type": "kubernetes:helm.sh/v3:Release",
        "name": "gatekeeper",
        "values": {"validatingWebhookFailurePolicy": policy},
    }


def network_policy(ingress: list[dict[str, Any]] | None, selector: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": selector or {}, "policyTypes": ["Ingress", "Egress"]}
    if ingress is not None:
        spec["ingress"] = ingress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"}, "spec": spec}


GATEWAY = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}}}
PORT = {"port": 8080, "protocol": "TCP"}


def namespace(level: str) -> dict[str, Any]:
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "models", "labels": labels}}


def peer_authentication(mode: str) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "default"},
            "spec": {"mtls": {"mode": mode}}}  # fmt: skip


def authorization(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "allow"},
            "spec": {"action": "ALLOW", "selector": {"matchLabels": {"app": "model"}}, "rules": rules}}  # fmt: skip


UNCONFINED = {"type": "Unconfined"}
NET_RAW = {"add": ["NET_RAW"]}
HOST_PATH = {"name": "h", "hostPath": {"path": "/"}}
RULE = {"from": [GATEWAY], "ports": [PORT]}


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]


PRINCIPAL = {"from": [{"source": {"principals": ["cluster.local/ns/istio-ingress/sa/gateway"]}}]}
POD = hardened_pod()

# (rule, before, after): after weakens before; symmetric cases flag both directions by design.
CASES: list[tuple[str, Document, Document]] = [
    ("capability added", POD, edited(POD, lambda d: ctx(d)["capabilities"].update(add=["SYS_ADMIN"]))),
    ("privilege loosened", POD, edited(POD, lambda d: ctx(d).update(privileged=True))),
    ("privilege loosened", POD, edited(POD, lambda d: ctx(d).pop("allowPrivilegeEscalation"))),
    ("privilege loosened", POD, edited(POD, lambda d: d["spec"]["securityContext"].update(runAsNonRoot=False))),
    ("privilege loosened", POD, edited(POD, lambda d: ctx(d).update(readOnlyRootFilesystem=False))),
    ("host access introduced", POD, edited(POD, lambda d: d["spec"].update(hostPID=True))),
    ("host access introduced", POD, edited(POD, lambda d: pod_spec(d)["volumes"].append(HOST_PATH))),
    ("host access introduced", POD, edited(POD, lambda d: d["spec"]["containers"][0]["ports"][0].update(hostPort=80))),
    ("seccomp loosened", POD, edited(POD, lambda d: pod_spec(d)["securityContext"].update(seccompProfile=UNCONFINED))),
    ("capability added", deployment(POD), deployment(edited(POD, lambda d: ctx(d).update(capabilities=NET_RAW)))),
    ("privilege loosened", deployment(POD), deployment(edited(POD, lambda d: ctx(d).update(privileged=True)))),
    ("constraint removed or relaxed", constraint("deny"), constraint("dryrun")),
    ("constraint removed or relaxed", constraint("deny"), None),
    ("ConstraintTemplate removed or changed", template("package a"), None),
    ("admission webhook fails open", release("Fail"), release("Ignore")),
    ("NetworkPolicy widened", network_policy([RULE]), network_policy([RULE, {}])),
    ("NetworkPolicy widened", network_policy([RULE]), network_policy([{"from": [GATEWAY]}])),
    ("NetworkPolicy widened", network_policy([{"ports": [PORT]}]), network_policy([{}])),
    ("NetworkPolicy widened", network_policy(None), None),
    ("Pod Security admission lowered", namespace("restricted"), namespace("baseline")),
    ("mTLS weakened", peer_authentication("STRICT"), peer_authentication("PERMISSIVE")),
    ("mTLS weakened", peer_authentication("STRICT"), peer_authentication("DISABLE")),
    ("AuthorizationPolicy ALLOW widened", authorization([PRINCIPAL]), authorization([PRINCIPAL, {}])),
]  # fmt: skip


def rules_flagged(before: Document, after: Document) -> set[str]:
    return {rule for rule, check in WEAKENING_CHECKS if check(before, after)}


@pytest.mark.parametrize(("rule", "before", "after"), CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_a_weakening_is_flagged_and_its_reverse_and_a_no_op_are_not(
    rule: str, before: Document, after: Document
) -> None:
    assert rule in rules_flagged(before, after)
    assert rule not in rules_flagged(after, before)
    assert rules_flagged(before, before) == set()


def test_a_changed_template_is_flagged_for_review_but_an_unchanged_one_is_not() -> None:
    assert "ConstraintTemplate removed or changed" in rules_flagged(template("package a"), template("package b"))
    assert rules_flagged(template("package a"), template("package a")) == set()


def test_stricter_settings_are_not_weakenings() -> None:
    assert rules_flagged(constraint("dryrun"), constraint("deny")) == set()
    assert rules_flagged(release("Ignore"), release("Fail")) == set()
    assert rules_flagged(peer_authentication("PERMISSIVE"), peer_authentication("STRICT")) == set()
    narrowed = network_policy([{"from": [GATEWAY], "ports": [PORT]}])
    assert rules_flagged(network_policy([{"from": [GATEWAY]}]), narrowed) == set()


def write_render(root: Path, files: dict[str, Any]) -> Path:
    for name, document in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(yaml.safe_dump(document))
    return root


def run_diff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m tools.render diff ARGS` as a real process."""
    command = [sys.executable, "-m", "tools.render", "diff", *map(str, args)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


@pytest.fixture
def diff_main(call_main: CallMain) -> CallMain:
    """As `run_diff`, but the CLI's `main(argv)` in this process."""
    return functools.partial(call_main, render_main, "diff")


def test_the_cli_puts_weakenings_first_and_fails_only_when_asked(tmp_path: Path, diff_main: CallMain) -> None:
    old = write_render(
        tmp_path / "old", {"models/pod-model.yaml": POD, "models/configmap-x.yaml": {"kind": "ConfigMap"}}
    )
    privileged = edited(POD, lambda d: ctx(d).update(privileged=True))
    new = write_render(
        tmp_path / "new", {"models/pod-model.yaml": privileged, "models/service-y.yaml": {"kind": "Service"}}
    )
    # The real process for the case CI depends on: a weakening fails the job.
    plain, strict = diff_main(old, new), run_diff(old, new, "--fail-on-weakening")
    assert (plain.returncode, strict.returncode) == (0, 1)
    assert strict.stdout == plain.stdout and "Traceback" not in strict.stderr
    report = plain.stdout
    assert report.index("## Weakens security posture") < report.index("## Added") < report.index("## Changed")
    assert "privilege loosened" in report and "containers/model: privileged" in report
    assert "models/service-y.yaml" in report.split("## Removed")[0].split("## Added")[1]
    assert "models/configmap-x.yaml" in report.split("## Changed")[0].split("## Removed")[1]
    assert "`spec.containers[0].securityContext.privileged`: false -> true" in report
    assert diff_main(old, old, "--fail-on-weakening").returncode == 0
    assert diff_main(old, tmp_path / "missing").returncode == 2


def test_the_real_renders_diff_as_expected(render_dirs: dict[str, Path]) -> None:
    assert diff_dirs(render_dirs["prod"], render_dirs["prod"]).findings == []
    relaxed = diff_dirs(render_dirs["prod"], render_dirs["dev"])  # dev warns and fails open
    rules = {finding.rule for finding in relaxed.findings}
    assert {"constraint removed or relaxed", "admission webhook fails open"} <= rules
    hardened = {finding.rule for finding in diff_dirs(render_dirs["dev"], render_dirs["prod"]).findings}
    assert not hardened & {"constraint removed or relaxed", "admission webhook fails open"}
    assert "Nothing flagged." in format_report(diff_dirs(render_dirs["prod"], render_dirs["prod"]))
