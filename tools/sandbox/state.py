"""Where a running sandbox keeps its state, and how `apply` and `down` find it again.

One state directory per sandbox holds everything: PKI, etcd's data, logs, kubeconfigs and
`state.json` (pids, ports, stack). It is created under `$XDG_RUNTIME_DIR` when that is set (a
per-user tmpfs) and in the system temp directory otherwise. The CLI records its path in one small
file under the per-user cache (`.../secure-model-serving/sandbox/current`), so a later command
finds the sandbox that `up` started; `down` removes both.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.sandbox.processes import RunningProcess
from tools.toolchain import cache_root

__all__ = ["SandboxState", "clear_pointer", "new_state_dir", "pointer_file", "read_pointer", "write_pointer"]

_STATE_FILE = "state.json"


@dataclass
class SandboxState:
    """Everything needed to talk to a running sandbox and to stop it."""

    root: Path
    stack: str = ""
    server: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[RunningProcess] = field(default_factory=list)
    model_namespaces: list[str] = field(default_factory=list)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def save(self) -> None:
        data: dict[str, Any] = {
            "stack": self.stack,
            "server": self.server,
            "ports": self.ports,
            "processes": [process.to_json() for process in self.processes],
            "model_namespaces": self.model_namespaces,
        }
        path = self.root / _STATE_FILE
        staging = path.with_suffix(".tmp")
        staging.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        staging.replace(path)

    @classmethod
    def load(cls, root: Path) -> SandboxState:
        data = json.loads((root / _STATE_FILE).read_text(encoding="utf-8"))
        return cls(
            root=root,
            stack=data["stack"],
            server=data["server"],
            ports={key: int(value) for key, value in data["ports"].items()},
            processes=[RunningProcess.from_json(item) for item in data["processes"]],
            model_namespaces=list(data.get("model_namespaces", [])),
        )

    def stop(self) -> None:
        """Stop every process (last started first) and delete the state directory."""
        try:
            for process in reversed(self.processes):
                process.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def new_state_dir() -> Path:
    """A fresh, private state directory."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    parent = Path(base) if base and Path(base).is_dir() else None
    return Path(tempfile.mkdtemp(prefix="sms-sandbox-", dir=parent))


def pointer_file() -> Path:
    """The per-user file that records the state directory of the sandbox `up` started."""
    return cache_root().parent / "sandbox" / "current"


def write_pointer(root: Path) -> None:
    path = pointer_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(root) + "\n", encoding="utf-8")


def read_pointer() -> Path | None:
    """The recorded state directory, or None when no sandbox is recorded (or its state is gone)."""
    try:
        root = Path(pointer_file().read_text(encoding="utf-8").strip())
    except OSError:
        return None
    return root if (root / _STATE_FILE).is_file() else None


def clear_pointer() -> None:
    with contextlib.suppress(FileNotFoundError):
        pointer_file().unlink()
