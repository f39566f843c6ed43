"""The pinned Go toolchain: the real engines that judge policies and admission, one place for their pins.

    python -m tools.toolchain ensure [TOOL ...]   # provide each tool (all when none named); print its path
    python -m tools.toolchain path TOOL           # the path of one provided tool (exit 1 when missing)
    python -m tools.toolchain list                # every tool, its module and version
    python -m tools.toolchain wrap-kubernetes v1.X.Y  # re-pin kube-apiserver and kubectl (rewrites their wrapper)

A tool is taken from, in order:
1. the environment variable `<TOOL>_BIN` (e.g. `OPA_BIN`): the binary it names, when its version matches;
2. `PATH`, when the binary found there reports the pinned version;
3. the per-user cache, `$SMS_TOOLCHAIN_CACHE` or `${XDG_CACHE_HOME:-~/.cache}/secure-model-serving/toolchain`,
   keyed by tool and version (`<tool>/<version>/<tool>`), outside the clone so every clone, CI run
   and later session reuses it;
4. otherwise it is built from its Go module into that cache (`GOTOOLCHAIN=local CGO_ENABLED=0
   go build -trimpath`), with Go's own progress printed.

Tools published as plain Go modules are built with `go install MODULE/PKG@VERSION`. Tools whose
module cannot be installed that way (its go.mod replaces modules with local folders: etcd,
kube-apiserver) are built from a small wrapper module under `toolchain/<name>/`; there the
wrapper's go.mod is the pin, and this module reads the version from it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TOOLS", "GoTool", "ToolchainError", "cache_root", "ensure", "main"]

REPO_ROOT = Path(__file__).resolve().parent.parent
WRAPPERS = REPO_ROOT / "toolchain"


class ToolchainError(RuntimeError):
    """A tool cannot be provided: the message says what to install or set."""


@dataclass(frozen=True)
class GoTool:
    """One Go program the project runs, pinned to one version.

    Attributes:
        name: the binary's name, also the key of its cache folder.
        module: the Go module that holds it.
        package: the import path of its main package.
        pinned: the module version, for a tool installed with `go install`; None for a wrapped
            tool, whose version is what its wrapper's go.mod requires.
        version_args: arguments that make the binary print its version.
        wrapper: the folder under toolchain/ with the wrapper module (wrapped tools only).
        ldflags: `-X` settings, with `{version}`, `{major}` and `{minor}` filled in, for tools
            that learn their version from the linker (otherwise they report v0.0.0).
        release: the release a pseudo-version `pinned` stands for (`{version}` in ldflags and
            the version its generate step stamps), for modules published without tags.
        generate: for a module whose main package embeds files made by its own generate step:
            the folder of that step inside the module and its Go file. Such a tool is built from
            a copy of the module at `pinned`, with the wrapper's go.mod/go.sum put in place of
            the module's own (which replaces siblings with local folders).
        companions: files of `module` at the pinned version that the binary runs, copied beside it.
    """

    name: str
    module: str
    package: str
    pinned: str | None = None
    version_args: tuple[str, ...] = ("--version",)
    wrapper: str | None = None
    ldflags: tuple[str, ...] = field(default=())
    release: str | None = None
    generate: tuple[str, str] | None = None
    companions: tuple[str, ...] = ()

    @property
    def env_var(self) -> str:
        """The environment variable that may name a binary to use instead."""
        return re.sub(r"[^A-Z0-9]", "_", self.name.upper()) + "_BIN"

    @property
    def version(self) -> str:
        """The pinned module version (`v1.2.3`)."""
        if self.pinned is not None:
            return self.pinned
        return wrapper_requirement(WRAPPERS / str(self.wrapper) / "go.mod", self.module)

    @property
    def bare_version(self) -> str:
        """The version without its `v`, as most tools print it."""
        return self.version.removeprefix("v")


_KUBE_VERSION_LDFLAGS = tuple(
    f"-X {package}.{variable}={value}"
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    for variable, value in (
        ("gitVersion", "{version}"),
        ("gitMajor", "{major}"),
        ("gitMinor", "{minor}"),
        ("gitTreeState", "clean"),
    )
)

_GATEKEEPER = "github.com/open-policy-agent/gatekeeper/v3"
_GATEKEEPER_VERSION = "v3.23.1"
_GATEKEEPER_LDFLAGS = (f"-X {_GATEKEEPER}/pkg/version.Version={{version}}",)

# Sigstore's programs learn their version from release-utils (else they report "devel").
_SIGSTORE_VERSION_LDFLAGS = ("-X sigs.k8s.io/release-utils/version.gitVersion={version}",)
_GO_CONTAINERREGISTRY = "github.com/google/go-containerregistry"
_GO_CONTAINERREGISTRY_VERSION = "v0.22.1"

TOOLS: dict[str, GoTool] = {
    tool.name: tool
    for tool in (
        GoTool(
            name="opa",
            module="github.com/open-policy-agent/opa",
            package="github.com/open-policy-agent/opa",
            pinned="v1.22.4",
            version_args=("version",),
        ),
        # gator and the manager come from one module, so the offline verdicts and the webhook's
        # are the same code at the same version.
        GoTool(
            name="gator",
            module=_GATEKEEPER,
            package=f"{_GATEKEEPER}/cmd/gator",
            pinned=_GATEKEEPER_VERSION,
            version_args=("--version",),
            ldflags=_GATEKEEPER_LDFLAGS,
        ),
        GoTool(
            name="gatekeeper",
            module=_GATEKEEPER,
            package=_GATEKEEPER,
            pinned=_GATEKEEPER_VERSION,
            version_args=(),
            ldflags=_GATEKEEPER_LDFLAGS,
        ),
        GoTool(
            name="etcd",
            module="go.etcd.io/etcd/server/v3",
            package="go.etcd.io/etcd/server/v3",
            wrapper="etcd",
        ),
        GoTool(
            name="kube-apiserver",
            module="k8s.io/kubernetes",
            package="k8s.io/kubernetes/cmd/kube-apiserver",
            wrapper="kubernetes",
            ldflags=_KUBE_VERSION_LDFLAGS,
        ),
        # The Pulumi CLI of the real `pulumi up` tier. The proxy serves no pkg/v3 release between
        # v3.260.0 and v3.274.0, so it is the first release after the Python SDK's pin
        # (constraints.txt); a CLI newer than the SDK is the supported direction.
        GoTool(
            name="pulumi",
            module="github.com/pulumi/pulumi/pkg/v3",
            package="github.com/pulumi/pulumi/pkg/v3/cmd/pulumi",
            version_args=("version",),
            wrapper="pulumi",
            ldflags=("-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version={version}",),
        ),
        # The Kubernetes provider: published as pseudo-versions only, and the proxy serves one,
        # the commit tagged v4.25.0 (the Python SDK pins a later release: see README).
        GoTool(
            name="pulumi-resource-kubernetes",
            module="github.com/pulumi/pulumi-kubernetes/provider/v4",
            package="./cmd/pulumi-resource-kubernetes",
            pinned="v4.0.0-20260115033456-f47bc2d6f199",
            release="v4.25.0",
            version_args=(),
            wrapper="pulumi-resource-kubernetes",
            ldflags=("-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version={version}",),
            generate=("cmd/pulumi-resource-kubernetes", "generate.go"),
        ),
        # The upstream Python language host's module is not served by the proxy: the project's own
        # minimal host (toolchain/pulumi-language-python/main.go) speaks the CLI release's protocol
        # and runs that release's exec script, copied beside it.
        GoTool(
            name="pulumi-language-python",
            module="github.com/pulumi/pulumi/sdk/v3",
            package=".",
            version_args=(),
            wrapper="pulumi-language-python",
            ldflags=("-X main.version={version}",),
            companions=("python/cmd/pulumi-language-python-exec",),
        ),
        # The client the incident runbook is written for (docs/runbook-privileged-pod.md), from the
        # same wrapper module, so it is the API server's own version.
        GoTool(
            name="kubectl",
            module="k8s.io/kubernetes",
            package="k8s.io/kubernetes/cmd/kubectl",
            version_args=("version", "--client"),
            wrapper="kubernetes",
            ldflags=_KUBE_VERSION_LDFLAGS,
        ),
        # The supply-chain tier: the admission webhook that checks image signatures, the signer,
        # and an OCI registry with a client that builds images without Docker. policy-controller
        # is the app version its pinned chart ships (secure_model_serving/versions.py, a test holds them
        # equal); cosign 2.x writes the signature format that policy-controller reads.
        GoTool(
            name="policy-controller",
            module="github.com/sigstore/policy-controller",
            package="github.com/sigstore/policy-controller/cmd/webhook",
            wrapper="policy-controller",
            version_args=(),
            ldflags=_SIGSTORE_VERSION_LDFLAGS,
        ),
        GoTool(
            name="cosign",
            module="github.com/sigstore/cosign/v2",
            package="github.com/sigstore/cosign/v2/cmd/cosign",
            pinned="v2.6.5",
            version_args=("version",),
            ldflags=_SIGSTORE_VERSION_LDFLAGS,
        ),
        GoTool(
            name="crane",
            module=_GO_CONTAINERREGISTRY,
            package=f"{_GO_CONTAINERREGISTRY}/cmd/crane",
            pinned=_GO_CONTAINERREGISTRY_VERSION,
            version_args=("version",),
        ),
        GoTool(
            name="registry",
            module=_GO_CONTAINERREGISTRY,
            package=f"{_GO_CONTAINERREGISTRY}/cmd/registry",
            pinned=_GO_CONTAINERREGISTRY_VERSION,
            version_args=(),
        ),
    )
}
"""Every Go tool the project builds, by name: the one place their versions are pinned."""


def wrapper_requirement(go_mod: Path, module: str) -> str:
    """The version of `module` that a wrapper's go.mod requires."""
    try:
        text = go_mod.read_text(encoding="utf-8")
    except OSError as error:
        raise ToolchainError(f"{go_mod}: cannot read the wrapper module ({error.strerror})") from None
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if match is None:
        raise ToolchainError(f"{go_mod}: does not require {module}")
    return match.group(1)


def kubernetes_wrapper(version: str) -> str:
    """The go.mod of a wrapper module that builds Kubernetes `version`'s commands.

    k8s.io/kubernetes replaces every k8s.io staging module with a folder of its own repository;
    each is published on its own as v0.<minor>.<patch>, so the wrapper replaces them with those.
    """
    if not re.fullmatch(r"v1\.\d+\.\d+", version):
        raise ToolchainError(f"kubernetes version {version!r}: expected v1.MINOR.PATCH")
    downloaded = subprocess.run(
        [_go(), "mod", "download", "-json", f"k8s.io/kubernetes@{version}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )
    if downloaded.returncode != 0:
        raise ToolchainError(f"go mod download k8s.io/kubernetes@{version} failed: {downloaded.stderr.strip()}")
    upstream = Path(json.loads(downloaded.stdout)["GoMod"]).read_text(encoding="utf-8")
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging/", upstream, re.MULTILINE)
    go_line = re.search(r"^go (\S+)$", upstream, re.MULTILINE)
    published = "v0." + version.removeprefix("v1.")
    lines = [
        "// Wrapper module that pins kube-apiserver and kubectl for the real API-server tier (tools/toolchain.py).",
        "// Generated by `python -m tools.toolchain wrap-kubernetes VERSION`, then `go mod tidy`:",
        "// k8s.io/kubernetes replaces its staging modules with local folders, so `go install` cannot",
        "// build it; here each is replaced with its published release of the same Kubernetes version.",
        "module secure-model-serving/toolchain/kubernetes",
        "",
        f"go {go_line.group(1) if go_line else '1.26'}",
        "",
        "tool (",
        *(f"\t{tool.package}" for tool in TOOLS.values() if tool.wrapper == "kubernetes"),
        ")",
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        "replace (",
        *(f"\t{module} => {module} {published}" for module in staging),
        ")",
        "",
    ]
    return "\n".join(lines)


def cache_root() -> Path:
    """The per-user folder that holds built tools, outside any clone."""
    explicit = os.environ.get("SMS_TOOLCHAIN_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "secure-model-serving" / "toolchain"


def cached_binary(tool: GoTool) -> Path:
    """Where the built binary of `tool` at its pinned version lives in the cache."""
    return cache_root() / tool.name / tool.version / tool.name


def reports_version(binary: Path, tool: GoTool) -> bool:
    """True when `binary` says it is `tool` at the pinned version."""
    if not tool.version_args:
        return False  # a program that cannot tell its version is trusted only from the cache
    try:
        result = subprocess.run(
            [str(binary), *tool.version_args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    output = result.stdout + result.stderr
    return re.search(rf"(?<![\w.])v?{re.escape(tool.bare_version)}(?![\w.])", output) is not None


def _progress(message: str) -> None:
    print(f"toolchain: {message}", file=sys.stderr, flush=True)


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise ToolchainError(
            "Go is not installed: install Go 1.26 or newer (the tools are built from their Go modules), "
            "or name prebuilt binaries with the *_BIN environment variables (python -m tools.toolchain list)"
        )
    return go


def _ldflags(tool: GoTool) -> list[str]:
    if not tool.ldflags:
        return []
    version = tool.release or tool.version
    major, minor = version.removeprefix("v").split(".")[:2]
    flags = " ".join(flag.format(version=version, major=major, minor=minor) for flag in tool.ldflags)
    return [f"-ldflags={flags}"]


def _module_dir(tool: GoTool, environment: dict[str, str]) -> Path:
    """The folder of `tool`'s module at its pin in Go's module cache (downloaded when missing)."""
    downloaded = subprocess.run(
        [_go(), "mod", "download", "-json", f"{tool.module}@{tool.version}"],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    if downloaded.returncode != 0:
        raise ToolchainError(f"go mod download {tool.module}@{tool.version} failed: {downloaded.stderr.strip()}")
    return Path(json.loads(downloaded.stdout)["Dir"])


def _module_copy(tool: GoTool, scratch: Path, environment: dict[str, str]) -> Path:
    """A writable copy of `tool`'s module at its pin, with the wrapper's go.mod/go.sum and its
    generate step run; returns the copy's folder."""
    source = scratch / "module"
    shutil.copytree(_module_dir(tool, environment), source)
    for path in (source, *source.rglob("*")):
        path.chmod(path.stat().st_mode | 0o200)  # the module cache is read-only
    for name in ("go.mod", "go.sum"):
        shutil.copyfile(WRAPPERS / str(tool.wrapper) / name, source / name)
    assert tool.generate is not None
    folder, program = tool.generate
    release = (tool.release or tool.version).removeprefix("v")
    _progress(f"running {tool.name}'s generate step ({folder}/{program})")
    generated = subprocess.run(
        [_go(), "run", "-mod=readonly", program],
        cwd=source / folder,
        env={**environment, "VERSION": release},
        check=False,
    )
    if generated.returncode != 0:
        raise ToolchainError(f"{tool.name}: its generate step `go run {program}` in {folder} failed (above)")
    return source


def build(tool: GoTool) -> Path:
    """Build `tool` at its pinned version into the cache; return the binary's path."""
    target = cached_binary(tool)
    target.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        output = Path(scratch) / tool.name
        if tool.wrapper is None:
            command = [_go(), "install", "-trimpath", *_ldflags(tool), f"{tool.package}@{tool.version}"]
            environment["GOBIN"] = scratch
            workdir = Path(scratch)
        elif tool.generate is not None:
            workdir = _module_copy(tool, Path(scratch), environment)
            command = [_go(), "build", "-trimpath", "-mod=readonly", *_ldflags(tool), "-o", str(output), tool.package]
        else:
            command = [_go(), "build", "-trimpath", "-mod=readonly", *_ldflags(tool), "-o", str(output), tool.package]
            workdir = WRAPPERS / tool.wrapper
        _progress(f"building {tool.name} {tool.version} from {tool.module} (a cold build takes minutes)")
        started = time.monotonic()
        built = subprocess.run(command, cwd=workdir, env=environment, check=False)
        if built.returncode != 0 or not output.is_file():
            raise ToolchainError(
                f"building {tool.name} {tool.version} failed (exit {built.returncode}): `{' '.join(command)}` "
                f"in {workdir}; Go's message is above. Fix the build or set {tool.env_var} to a prebuilt "
                f"{tool.name} {tool.version}"
            )
        for companion in tool.companions:
            copied = target.parent / Path(companion).name
            shutil.copyfile(_module_dir(tool, environment) / companion, copied)
            copied.chmod(0o755)
        output.replace(target)  # atomic: a half-written binary never sits at the cached path
    _progress(f"built {tool.name} {tool.version} in {time.monotonic() - started:.0f} s: {target}")
    return target


def locate(tool: GoTool) -> Path | None:
    """An already available binary of `tool` at the pinned version, or None."""
    named = os.environ.get(tool.env_var)
    if named:
        path = Path(named)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolchainError(f"{tool.env_var}={named}: not an executable file")
        if tool.version_args and not reports_version(path, tool):
            raise ToolchainError(f"{tool.env_var}={named}: does not report {tool.name} {tool.version}")
        return path
    on_path = shutil.which(tool.name)
    if on_path and reports_version(Path(on_path), tool):
        return Path(on_path)
    cached = cached_binary(tool)
    return cached if cached.is_file() and os.access(cached, os.X_OK) else None


def ensure(name: str) -> Path:
    """The path of tool `name` at its pinned version, built first when no copy is available."""
    tool = TOOLS.get(name)
    if tool is None:
        raise ToolchainError(f"unknown tool {name!r}; known: {', '.join(TOOLS)}")
    return locate(tool) or build(tool)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.toolchain", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ensure_parser = commands.add_parser("ensure", help="provide tools (all when none are named)")
    ensure_parser.add_argument("tools", nargs="*", help=f"any of: {', '.join(TOOLS)}")
    path_parser = commands.add_parser("path", help="print the path of a provided tool")
    path_parser.add_argument("tool")
    commands.add_parser("list", help="every tool with its module and version")
    wrap_parser = commands.add_parser("wrap-kubernetes", help="rewrite the Kubernetes wrapper for a version")
    wrap_parser.add_argument("version", help="v1.MINOR.PATCH")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "list":
            for tool in TOOLS.values():
                print(f"{tool.name}\t{tool.module}\t{tool.version}\t{tool.env_var}")
        elif arguments.command == "path":
            tool = TOOLS.get(arguments.tool)
            found = locate(tool) if tool else None
            if found is None:
                print(f"error: {arguments.tool} is not provided: python -m tools.toolchain ensure", file=sys.stderr)
                return 1
            print(found)
        elif arguments.command == "wrap-kubernetes":
            (WRAPPERS / "kubernetes" / "go.mod").write_text(kubernetes_wrapper(arguments.version), encoding="utf-8")
            print(f"wrote {WRAPPERS / 'kubernetes' / 'go.mod'}; now run: cd toolchain/kubernetes && go mod tidy")
        else:
            for name in arguments.tools or TOOLS:
                print(f"{name}\t{ensure(name)}")
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
