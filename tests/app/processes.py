"""Run the production entry point (gunicorn with app/gunicorn.conf.py) as a child process.

The server always binds 127.0.0.1 on a free port; every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secure_model_serving.serving_contract import ServerEnv

REPO_ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = "app/gunicorn.conf.py"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
# Settings of the parent's environment that must not reach the server under test.
SERVER_ENV = frozenset(ServerEnv)


# Run in a private mount namespace: /tmp stays writable, the model and the
# root filesystem become read-only (checked by a write probe), then the
# server is started as the runtime user.
_READ_ONLY_SANDBOX = """
set -eu
model_root=$1 uid=$2 gid=$3
shift 3
mount --bind /tmp /tmp
mount --bind "$model_root" "$model_root"
mount -o remount,ro,bind "$model_root"
mount -o remount,ro,bind /
if touch /.write-probe 2>/dev/null; then echo "root filesystem is writable" >&2; exit 97; fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
"""


def sandbox_available() -> bool:
    """Whether a read-only, non-root run can be set up (needs root and util-linux)."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10, check=False)
    return probe.returncode == 0


def read_only_wrapper(model_root: Path, uid: int, gid: int) -> list[str]:
    """Command prefix running the rest read-only (except /tmp) as ``uid:gid``."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _READ_ONLY_SANDBOX,
        "sandbox",
        str(model_root),
        str(uid),
        str(gid),
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def production_env(model_env: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment minus server settings, plus the container's extras."""
    env = {key: value for key, value in os.environ.items() if key not in SERVER_ENV}
    env.update(model_env)
    # As in the image: no bytecode writes, HOME and TMPDIR on the writable /tmp.
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp", "TMPDIR": "/tmp"})
    return env


@dataclass
class ServerProcess:
    """A started server; output goes to files so a chatty server never blocks on a pipe."""

    process: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path
    sandboxed: bool

    @classmethod
    def start(cls, model_env: Mapping[str, str], logs: Path, *, wrapper: Sequence[str] = ()) -> ServerProcess:
        port = free_port()
        command = [
            *wrapper,
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            GUNICORN_CONF,
            # The config binds all interfaces for the container; tests stay on loopback.
            "--bind",
            f"127.0.0.1:{port}",
        ]
        logs.mkdir(parents=True, exist_ok=True)
        stdout_path, stderr_path = logs / "stdout.log", logs / "stderr.log"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=production_env(model_env), stdout=stdout, stderr=stderr
            )
        return cls(
            process=process, port=port, stdout_path=stdout_path, stderr_path=stderr_path, sandboxed=bool(wrapper)
        )

    def wait_exit(self, timeout: float = START_TIMEOUT_SECONDS) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.output()[-2000:]}")
            try:
                if self.request("GET", "/readyz", timeout=2.0)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise TimeoutError("server did not become ready in time")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        status, body = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        return status, json.loads(body)

    def stop(self) -> int:
        """SIGTERM (gunicorn's graceful stop), then wait; SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(STOP_TIMEOUT_SECONDS)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def uids(self) -> set[int]:
        """Real, effective, saved and filesystem UIDs of the running server."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        return {int(value) for value in line.split()[1:]}

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def log_lines(self) -> list[str]:
        return [line for line in self.output().splitlines() if line.strip()]
