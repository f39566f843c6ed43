"""`python -m tools <verb>`: one entry point that runs each module's own command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.__main__ import VERBS, main
from tools.diff import main as diff_main
from tools.mock_engine import REPO_ROOT


def test_the_entry_point_lists_every_verb() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools", "--help"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert all(f"  {verb} " in result.stdout for verb in VERBS)


@pytest.mark.parametrize("argv", [[], ["nope"], ["--stack"]])
def test_a_missing_or_unknown_verb_is_one_clear_error(call_main, argv: list[str]) -> None:
    result = call_main(main, *argv)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "one of: render, policy, audit" in result.stderr


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_runs_its_modules_own_command_line(call_main, verb: str) -> None:
    result = call_main(main, verb, "--help")
    assert result.returncode == 0
    module = VERBS[verb][0].removesuffix(".cli")
    assert result.stdout.startswith(f"usage: python -m {module}")


def test_a_verb_gets_the_rest_of_the_arguments(call_main, tmp_path: Path) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": []}}
    for side, privileged in (("old", False), ("new", True)):
        pod["spec"]["containers"] = [{"name": "c", "securityContext": {"privileged": privileged}}]
        (tmp_path / side / "n").mkdir(parents=True)
        (tmp_path / side / "n" / "pod-p.yaml").write_text(yaml.safe_dump(pod))
    through_tools = call_main(main, "render", "diff", tmp_path / "old", tmp_path / "new", "--fail-on-weakening")
    direct = call_main(diff_main, tmp_path / "old", tmp_path / "new", "--fail-on-weakening")
    assert through_tools.returncode == direct.returncode == 1
    assert through_tools.stdout == direct.stdout and "privileged" in direct.stdout
