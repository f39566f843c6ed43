"""tools.toolchain: each tool is found where it should be, at its pin, or refused with a clear error."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tools import toolchain
from tools.toolchain import TOOLS, ToolchainError

OPA = TOOLS["opa"]


def executable(path: Path, script: str) -> Path:
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache and a PATH holding only a folder the test fills."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("SMS_TOOLCHAIN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(bin_dir))
    for tool in TOOLS.values():
        monkeypatch.delenv(tool.env_var, raising=False)
    return bin_dir


def test_every_tool_has_a_version_and_an_env_var() -> None:
    for tool in TOOLS.values():
        # A module published without tags is pinned by its pseudo-version, with the release it is.
        pseudo = r"v\d+\.\d+\.\d+-\d{14}-[0-9a-f]{12}"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", tool.version) or (
            re.fullmatch(pseudo, tool.version) and re.fullmatch(r"v\d+\.\d+\.\d+", str(tool.release))
        ), tool.name
        assert tool.env_var.endswith("_BIN") and tool.env_var.isupper()


def test_kubernetes_wrapper_replaces_every_staging_module_with_the_same_release() -> None:
    go_mod = (toolchain.WRAPPERS / "kubernetes" / "go.mod").read_text(encoding="utf-8")
    version = TOOLS["kube-apiserver"].version
    published = "v0." + version.removeprefix("v1.")
    replaced = re.findall(r"^\s*(k8s\.io/\S+) => (k8s\.io/\S+) (v\S+)$", go_mod, re.MULTILINE)
    assert len(replaced) > 20
    assert all(source == target and release == published for source, target, release in replaced), replaced


def test_every_kubernetes_command_is_a_tool_of_the_wrapper_at_one_version() -> None:
    """kube-apiserver and kubectl build from one wrapper: the runbook's client is the server's version."""
    go_mod = (toolchain.WRAPPERS / "kubernetes" / "go.mod").read_text(encoding="utf-8")
    (block,) = re.findall(r"^tool \(\n(.*?)^\)", go_mod, re.MULTILINE | re.DOTALL)
    wrapped = {tool.package for tool in TOOLS.values() if tool.wrapper == "kubernetes"}
    assert wrapped == {"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kubectl"}
    assert set(block.split()) == wrapped
    assert TOOLS["kubectl"].version == TOOLS["kube-apiserver"].version


def test_a_binary_on_path_is_used_only_at_the_pinned_version(isolated: Path) -> None:
    executable(isolated / "opa", "echo 'Version: 0.0.1'")
    assert toolchain.locate(OPA) is None
    good = executable(isolated / "opa", f"echo 'Version: {OPA.bare_version}'")
    assert toolchain.locate(OPA) == good


def test_a_version_that_only_starts_like_the_pin_is_not_the_pin(isolated: Path) -> None:
    executable(isolated / "opa", f"echo 'Version: {OPA.bare_version}1'")
    assert toolchain.locate(OPA) is None


def test_the_env_var_must_name_an_executable_at_the_pinned_version(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OPA.env_var, str(isolated / "missing"))
    with pytest.raises(ToolchainError, match=f"{OPA.env_var}=.*not an executable"):
        toolchain.locate(OPA)
    monkeypatch.setenv(OPA.env_var, str(executable(isolated / "old-opa", "echo 'Version: 0.1.0'")))
    with pytest.raises(ToolchainError, match=f"does not report opa {OPA.version}"):
        toolchain.locate(OPA)
    good = executable(isolated / "good-opa", f"echo 'Version: {OPA.bare_version}'")
    monkeypatch.setenv(OPA.env_var, str(good))
    assert toolchain.locate(OPA) == good


def test_a_cached_build_is_reused(isolated: Path) -> None:
    cached = toolchain.cached_binary(OPA)
    cached.parent.mkdir(parents=True)
    executable(cached, "exit 0")
    assert toolchain.ensure("opa") == cached


def test_without_go_the_error_says_what_to_install(isolated: Path) -> None:
    with pytest.raises(ToolchainError, match="Go is not installed: install Go"):
        toolchain.ensure("opa")


def test_a_failed_build_names_the_tool_the_command_and_the_env_var(isolated: Path) -> None:
    executable(isolated / "go", "echo 'go: module lookup disabled' >&2; exit 1")
    with pytest.raises(ToolchainError, match=rf"building opa {OPA.version} failed \(exit 1\).*OPA_BIN"):
        toolchain.ensure("opa")
    assert not toolchain.cached_binary(OPA).exists()


def test_cli_refuses_an_unknown_tool_with_exit_2(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert toolchain.main(["ensure", "kubelet"]) == 2
    assert "unknown tool 'kubelet'" in capsys.readouterr().err


def test_cache_root_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMS_TOOLCHAIN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert toolchain.cache_root() == tmp_path / "secure-model-serving" / "toolchain"


def test_wrapped_tools_take_their_version_from_the_wrapper(tmp_path: Path) -> None:
    go_mod = tmp_path / "go.mod"
    go_mod.write_text("module x\n\nrequire (\n\texample.com/tool v1.2.3\n)\n", encoding="utf-8")
    assert toolchain.wrapper_requirement(go_mod, "example.com/tool") == "v1.2.3"
    with pytest.raises(ToolchainError, match=r"does not require example\.com/other"):
        toolchain.wrapper_requirement(go_mod, "example.com/other")


def test_policy_controller_is_the_app_version_of_the_pinned_chart() -> None:
    # The webhook the sandbox runs is the one the chart deploys: the image's tag is the chart's appVersion.
    from secure_model_serving.versions import POLICY_CONTROLLER_IMAGE

    tag = POLICY_CONTROLLER_IMAGE.split("@")[0].rsplit(":", 1)[1]
    assert TOOLS["policy-controller"].version == tag


def test_policy_controller_wrapper_copies_the_upstream_replacements() -> None:
    # Without them `go build` resolves other versions than upstream's release was built with.
    go_mod = (toolchain.WRAPPERS / "policy-controller" / "go.mod").read_text(encoding="utf-8")
    for line in (
        "github.com/golang/glog => github.com/jdolitsky/glog v0.0.0-20220729172235-78744e90d087",
        "k8s.io/code-generator => k8s.io/code-generator v0.29.4",
        "k8s.io/kube-openapi => k8s.io/kube-openapi v0.0.0-20231010175941-2dd684a91f00",
    ):
        assert line in go_mod
