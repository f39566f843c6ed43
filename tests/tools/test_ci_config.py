"""The pre-commit hooks and the pull-request workflow run commands that exist, the way CI runs them.

The manifest hook runs once as a real process, exactly as pre-commit runs it. Its other cases call
the entry's `main(argv)` in this process: every real run pays seconds of imports, a render and a
Rego compile before it judges a file.
"""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import CallMain
from tools.mock_engine import REPO_ROOT
from tools.render import Rendered

PRE_COMMIT = REPO_ROOT / ".pre-commit-config.yaml"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "pull-request.yml"
SHELL_BUILTINS = {"echo", "printf", "umask", "cat"}  # builtins, and cat to copy a report


def makefile_targets() -> set[str]:
    text = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.MULTILINE))


def hooks() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def check_command(words: list[str]) -> None:
    """A command is a make target of ours, a binary of the project's venv, or a shell builtin."""
    if words[0] == "make":
        targets = [word for word in words[1:] if "=" not in word]
        assert targets and set(targets) <= makefile_targets(), words
    elif words[0].startswith(".venv/bin/"):
        assert words[0].split("/")[-1] in {"python", "hadolint", "trivy"}, words
        if len(words) > 2 and words[1] == "-m":
            assert (REPO_ROOT / (words[2].replace(".", "/") + ".py")).is_file(), words
    else:
        assert words[0] in SHELL_BUILTINS, words


def test_every_hook_is_local_and_runs_an_existing_command() -> None:
    found = hooks()
    assert {"render-policy-check", "policy-check-manifests", "hadolint", "trivy-config"} <= set(found)
    for hook in found.values():
        assert hook["language"] == "system"
        check_command(shlex.split(hook["entry"]))


def hook_applies(hook: dict[str, Any], path: str) -> bool:
    return bool(re.search(hook.get("files", ""), path)) and not re.search(hook.get("exclude", "^$"), path)


def test_the_manifest_hook_selects_yaml_but_not_stacks_or_policy_sources() -> None:
    hook = hooks()["policy-check-manifests"]
    assert hook_applies(hook, "deploy/pod.yaml") and hook_applies(hook, "x/svc.yml")
    assert not hook_applies(hook, "stacks/Pulumi.prod.yaml")
    # A policy's files are its suite's business: a constraint without its template (pre-commit
    # batches files) or a fixture denied on purpose would fail a manifest check for no reason.
    for path in ("fixtures/denied/host-port.yaml", "fixtures/allowed/no-host-port.yaml", "constraint.yaml"):
        assert not hook_applies(hook, f"secure_model_serving/policies/deny-host-ports/{path}")
        assert hook_applies(hooks()["verify-policies"], f"secure_model_serving/policies/deny-host-ports/{path}")
    # The suites' constraint.yaml is the prod render's: a stack or component change can stale it.
    for path in ("stacks/Pulumi.prod.yaml", "secure_model_serving/cluster/admission.py"):
        assert hook_applies(hooks()["verify-policies"], path)
    assert not hook_applies(hooks()["verify-policies"], "app/server.py")
    assert not hook_applies(hook, "tests/fixtures/mesh/istio-cni-injected-pod.yaml")
    assert not hook_applies(hook, "README.md")


@pytest.fixture(scope="module")
def deployment(rendered: dict[str, list[Rendered]]) -> dict[str, Any]:
    """prod's Deployment, from the session's render (tests only read it: they dump it to files)."""
    return next(
        i.document for i in rendered["prod"] if i.document is not None and i.document.get("kind") == "Deployment"
    )


def run_hook(hook_id: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run a hook's entry with the file names appended, as pre-commit does."""
    entry = shlex.split(hooks()[hook_id]["entry"])
    return subprocess.run([*entry, *map(str, files)], cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def run_hook_in_process(
    hook_id: str, files: list[Path], call_main: CallMain, monkeypatch: pytest.MonkeyPatch
) -> subprocess.CompletedProcess[str]:
    """As `run_hook`, for an entry `.venv/bin/python -m MODULE ARGS`: MODULE's `main(argv)`, here."""
    entry = shlex.split(hooks()[hook_id]["entry"])
    assert entry[:2] == [".venv/bin/python", "-m"], entry
    monkeypatch.chdir(REPO_ROOT)  # where pre-commit runs hooks
    return call_main(importlib.import_module(entry[2]).main, *entry[3:], *files)


def test_the_manifest_hook_fails_on_a_privileged_deployment_and_passes_a_hardened_one(
    deployment: dict[str, Any], tmp_path: Path, call_main: CallMain, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(deployment))
    bad_deployment = yaml.safe_load(good.read_text())
    bad_deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(bad_deployment))
    not_kubernetes = tmp_path / "ci.yml"
    not_kubernetes.write_text("jobs: {}\n")
    # Each file alone, as its own commit would run the hook: the CI file is the --allow-empty case.
    assert run_hook_in_process("policy-check-manifests", [good], call_main, monkeypatch).returncode == 0
    assert run_hook_in_process("policy-check-manifests", [not_kubernetes], call_main, monkeypatch).returncode == 0
    # The real process, the entry exactly as pre-commit runs it: the commit is refused.
    refused = run_hook("policy-check-manifests", [good, bad])
    assert refused.returncode == 1 and "K8sDenyPrivilegedContainers" in refused.stdout


def test_make_scan_reaches_the_dev_render(tmp_path: Path) -> None:
    # trivy skips a directory named `dev` below its target; the scan must not inherit that blind spot.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "attacker", "namespace": "fraud-model"},
        "spec": {"containers": [{"name": "shell", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    for stack in ("dev", "staging", "prod"):
        (tmp_path / stack).mkdir()
    (tmp_path / "dev" / "pod.yaml").write_text(yaml.safe_dump(pod))
    # `-o render-all`: judge the folders as they are instead of rendering the stacks into them.
    result = subprocess.run(
        ["make", "-s", "-o", "render-all", "scan", f"OUT={tmp_path}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "privileged" in result.stdout.lower(), result.stdout + result.stderr


def test_the_hadolint_hook_runs(tmp_path: Path) -> None:
    if not (REPO_ROOT / ".venv" / "bin" / "hadolint").is_file() or not (REPO_ROOT / "app" / "Dockerfile").is_file():
        pytest.skip("hadolint or app/Dockerfile is not installed here")
    assert run_hook("hadolint", []).returncode == 0


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_workflow_has_the_jobs_and_minimal_permissions() -> None:
    document = workflow()
    assert {"tests", "render-diff", "policy", "preview"} <= set(document["jobs"])
    assert document["permissions"] == {"contents": "read"}
    for name, job in document["jobs"].items():
        # Read-only everywhere: a pull request from a fork gets a read-only token anyway, so a job
        # that needs to write (a PR comment) would fail exactly there.
        assert not job.get("permissions"), name
    assert "if" in document["jobs"]["preview"]  # skipped without a Pulumi token and cluster credentials


def _steps() -> list[dict[str, Any]]:
    return [step for job in workflow()["jobs"].values() for step in job["steps"]]


def test_no_value_a_pull_request_controls_is_expanded_into_a_shell_line() -> None:
    """`${{ github.base_ref }}` and the like are substituted into the script before the shell
    parses it (script injection); they must reach `run:` lines through `env:` instead."""
    for step in _steps():
        assert "${{" not in (step.get("run") or ""), step["run"]


def test_the_pulumi_token_reaches_only_the_preview_step() -> None:
    document = workflow()
    assert "PULUMI_ACCESS_TOKEN" not in str(document.get("env", {}))
    holders = []
    for name, job in document["jobs"].items():
        assert "PULUMI_ACCESS_TOKEN" not in str(job.get("env", {})), name
        holders += [step for step in job["steps"] if "secrets.PULUMI_ACCESS_TOKEN" in str(step.get("env", {}))]
    gate, preview = holders  # the gate sees only whether it is set, as a boolean expression
    assert "!= ''" in gate["env"]["ENABLED"]
    assert preview["run"].startswith("make preview")


def test_the_render_diff_is_published_without_write_access() -> None:
    steps = workflow()["jobs"]["render-diff"]["steps"]
    assert not any("github-script" in step.get("uses", "") for step in steps)
    assert any("GITHUB_STEP_SUMMARY" in (step.get("run") or "") for step in steps)
    assert any("upload-artifact" in step.get("uses", "") for step in steps)


def test_every_run_step_is_a_makefile_target_or_a_builtin() -> None:
    checked: list[list[str]] = []
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            # Expressions are expanded by Actions before the shell sees the line.
            for line in re.sub(r"\$\{\{[^}]*\}\}", "X", step.get("run") or "").splitlines():
                for command in re.split(r"\|\||&&|;", line):
                    words = shlex.split(command)
                    words = words[: next((i for i, w in enumerate(words) if w.startswith(">")), len(words))]
                    if words:
                        check_command(words)
                        checked.append(words)
    assert ["make", "test"] in checked  # the workflow runs the README's test command


@pytest.mark.parametrize(
    "words", [["make", "no-such-target"], ["curl", "https://example.com"], [".venv/bin/python", "-m", "tools.nope"]]
)
def test_a_command_outside_the_repository_is_refused(words: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_command(words)


def test_every_action_is_pinned_by_commit_sha() -> None:
    uses = [step["uses"] for job in workflow()["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses
    for action in uses:
        _, _, ref = action.partition("@")
        assert re.fullmatch(r"[0-9a-f]{40}", ref), action
    assert re.search(r"^\s*- uses: \S+@[0-9a-f]{40} # v\d", WORKFLOW.read_text(), flags=re.MULTILINE)
