"""The project's own admission policies, rendered, judge the project's own workloads and attacks.

We must not block ourselves: every object of every stack passes every constraint of that stack.
The same rendered policies must refuse a privileged variant of our own Deployment. Checked with
the offline Gatekeeper (`tools.policy`) and its CLI, as CI and pre-commit run it.

Each `python -m tools.policy` process pays about a second of imports before it judges anything,
so one CLI case runs as a real process (the module entry point, its exit status, no traceback)
and the others call the same `main(argv)` in this process. tests/tools/test_ci_config.py runs
the CLI as a real process too, on a denied Deployment.
"""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import CallMain
from tests.support.stacks import STACKS
from tools.crd_schema import CrdCatalog, CrdValidationError
from tools.gator import is_policy_object, review
from tools.mock_engine import REPO_ROOT
from tools.policy import check, load_manifests, main


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_passes_every_rendered_constraint(render_dirs: dict[str, Path], stack: str) -> None:
    report = check([render_dirs[stack]])
    assert report.constraints >= 29
    assert report.violations == [], [violation.format() for violation in report.violations]


def privileged_deployment(render_dir: Path) -> dict[str, Any]:
    deployment = yaml.safe_load((render_dir / "fraud-model" / "deployment-fraud-detector.yaml").read_text())
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    return bad


def test_the_rendered_policies_refuse_a_privileged_variant_of_our_deployment(render_dirs: dict[str, Path]) -> None:
    policy_set = [o for o in load_manifests([render_dirs["prod"]]) if is_policy_object(o)]
    namespace = yaml.safe_load((render_dirs["prod"] / "cluster" / "namespace-fraud-model.yaml").read_text())
    report = review([*policy_set, namespace, privileged_deployment(render_dirs["prod"])])
    assert report.denied
    (violation,) = report.violations
    assert (violation.kind, violation.constraint_kind) == ("Deployment", "K8sDenyPrivilegedContainers")
    assert violation.message.startswith("[Implied by expand-workloads] ")


def test_dev_only_warns_where_prod_denies(render_dirs: dict[str, Path], tmp_path: Path) -> None:
    for stack in ("prod", "dev"):
        (tmp_path / stack).mkdir()
        (tmp_path / stack / "deployment.yaml").write_text(yaml.safe_dump(privileged_deployment(render_dirs[stack])))
    assert check([tmp_path / "prod"], stack="prod").denied
    dev = check([tmp_path / "dev"], stack="dev")
    assert not dev.denied and dev.count("warn") == 1


def test_unknown_namespaces_are_judged_unless_told_otherwise(render_dirs: dict[str, Path], tmp_path: Path) -> None:
    bad = privileged_deployment(render_dirs["prod"])
    bad["metadata"]["namespace"] = "somewhere-else"
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(bad))
    assert check([tmp_path], stack="prod").denied
    skipped = check([tmp_path], stack="prod", assume_unknown_are_model=False)
    assert not skipped.denied and skipped.warnings


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m tools.policy` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "tools.policy", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


@pytest.fixture
def run_main(call_main: CallMain) -> CallMain:
    """`tools.policy.main(argv)` in this process, its result shaped like `run_cli`'s."""
    return functools.partial(call_main, main)


def test_cli_exits_one_on_a_privileged_deployment(
    render_dirs: dict[str, Path], tmp_path: Path, run_main: CallMain
) -> None:
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(privileged_deployment(render_dirs["prod"])))
    (tmp_path / "not-kubernetes.yaml").write_text("repos: []\n")  # skipped, as in a repository-wide hook
    # The policies (and the model namespace) come from the rendered cluster-scoped objects.
    result = run_main("check", str(render_dirs["prod"] / "cluster"), str(tmp_path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "deny Deployment/fraud-model/fraud-detector [K8sDenyPrivilegedContainers/" in result.stdout


def test_cli_exits_zero_on_our_render_and_two_on_bad_input(
    render_dirs: dict[str, Path], tmp_path: Path, run_main: CallMain
) -> None:
    result = run_main("check", str(render_dirs["prod"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 deny" in result.stdout
    assert run_main("check", str(tmp_path / "missing.yaml")).returncode == 2
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    # The real process: `python -m tools.policy` exits with main's status and prints no traceback.
    # Bad input is the cheapest case to run so (no render, no Rego compile).
    for broken in (run_cli("check", str(tmp_path / "broken.yaml")), run_main("check", str(tmp_path / "broken.yaml"))):
        assert broken.returncode == 2 and "Traceback" not in broken.stderr
        assert "not valid YAML" in broken.stderr


def test_constraints_are_checked_against_their_templates_schema(render_dirs: dict[str, Path], crd_catalog) -> None:
    objects = load_manifests([render_dirs["prod"]])
    catalog: CrdCatalog = crd_catalog.with_constraint_kinds([o for o in objects if o["kind"] == "ConstraintTemplate"])
    registries = next(o for o in objects if o["kind"] == "K8sDenyUntrustedRegistries")
    catalog.validate(registries)
    for mutate in (
        lambda c: c["spec"]["parameters"].update(registries="registry.example.com/models"),  # not a list
        lambda c: c["spec"]["parameters"].update(registry=["x"]),  # unknown parameter
        lambda c: c["spec"]["match"].update(namespaceSelectr={}),  # typo in match
        lambda c: c["spec"]["match"].update(source="Everything"),
    ):
        bad = copy.deepcopy(registries)
        mutate(bad)
        with pytest.raises(CrdValidationError):
            catalog.validate(bad)


def test_cli_refuses_an_empty_set_unless_allowed(tmp_path: Path, run_main: CallMain) -> None:
    (tmp_path / "ci.yaml").write_text("on: [pull_request]\n")
    assert run_main("check", str(tmp_path)).returncode == 2
    allowed = run_main("check", "--allow-empty", str(tmp_path))
    assert allowed.returncode == 0, allowed.stderr
