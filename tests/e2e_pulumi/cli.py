"""Running the Pulumi CLI offline: a local file backend, a passphrase secrets provider, a
temporary PULUMI_HOME, no update check and no plugin download; the binaries of the per-user
toolchain cache first on PATH (the engine takes the language host and the Kubernetes provider
from there)."""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tools.mock_engine import REPO_ROOT
from tools.toolchain import ensure

__all__ = ["PULUMI_TOOLS", "Pulumi", "offline_environment"]

PULUMI_TOOLS = ("pulumi", "pulumi-language-python", "pulumi-resource-kubernetes")


def offline_environment(
    root: Path, tool_dirs: list[Path], kubeconfig: Path, passphrase: str, source: Path = REPO_ROOT
) -> dict[str, str]:
    """The CLI's environment: everything it would reach the network for is local or off; the
    program's packages are imported from `source` (the checkout, or an older tree of it)."""
    return {
        "PATH": os.pathsep.join([*(str(folder) for folder in tool_dirs), os.environ.get("PATH", "")]),
        "HOME": os.environ.get("HOME", str(root)),
        "PULUMI_HOME": str(root / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": passphrase,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_CONFIRMATIONS": "true",
        # Makes `--event-log` available: the engine's own ordered record of every step.
        "PULUMI_DEBUG_COMMANDS": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "KUBECONFIG": str(kubeconfig),
        "PYTHONPATH": str(source),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


@dataclass
class Pulumi:
    """The CLI in one project folder, with its offline environment; the program comes from
    `source`."""

    project: Path
    root: Path
    kubeconfig: Path
    source: Path = REPO_ROOT
    passphrase: str = field(default_factory=lambda: secrets.token_hex(16))
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "backend").mkdir(parents=True, exist_ok=True)

    def environment(self, **extra: str) -> dict[str, str]:
        tool_dirs = [ensure(tool).parent for tool in PULUMI_TOOLS]
        return {**offline_environment(self.root, tool_dirs, self.kubeconfig, self.passphrase, self.source), **extra}

    def run(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `pulumi ARGS` in the project; raise with its output when it fails and `check`."""
        command = [str(ensure("pulumi")), *args, "--non-interactive", "--color=never"]
        result = subprocess.run(
            command,
            cwd=self.project,
            env=self.environment(**(env or {})),
            capture_output=True,
            text=True,
            check=False,
        )
        self.log.append(f"$ pulumi {' '.join(args)}  (exit {result.returncode})\n{result.stdout}{result.stderr}")
        if check and result.returncode != 0:
            raise RuntimeError(
                f"pulumi {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result
