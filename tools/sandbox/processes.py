"""Background processes of the sandbox: started in their own process group, found again, stopped.

Each process runs in a new session (so it is the leader of its own process group and a signal to
the group reaches every child it may spawn), with stdout and stderr in one log file. A process is
identified by its pid *and* its start time (from /proc), so `down` never signals a recycled pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ProcessFailedError",
    "RunningProcess",
    "free_port",
    "log_tail",
    "start",
    "stop_children",
    "wait_until",
]

_TAIL_LINES = 25
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""Popen objects of the processes this Python process started, kept so they are never finalised
while running; they are tracked by pid and start time, which also works from another process."""


class ProcessFailedError(RuntimeError):
    """A sandbox process died or never became ready; the message carries its log tail."""


@dataclass(frozen=True)
class RunningProcess:
    """A started process: enough to find, judge and stop it from another Python process."""

    name: str
    pid: int
    start_time: int
    log: str
    command: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunningProcess:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_time=int(data["start_time"]),
            log=str(data["log"]),
            command=tuple(data["command"]),
        )

    def alive(self) -> bool:
        """True while this very process (not a later one with its pid) runs and is no zombie."""
        stat = _proc_stat(self.pid)
        return stat is not None and stat[1] == self.start_time and stat[0] != "Z"

    def failure(self, what: str) -> ProcessFailedError:
        """An error naming the process and showing the end of its log."""
        return ProcessFailedError(f"{self.name} {what}; last lines of {self.log}:\n{log_tail(Path(self.log))}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it outlives `timeout`. Idempotent."""
        if not self.alive():
            _reap(self.pid)
            return
        _signal_group(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(self.pid)
            if not self.alive():
                break
            time.sleep(0.1)
        # Children left in the group (if any) go too, even when the leader already exited.
        _signal_group(self.pid, signal.SIGKILL)
        _reap(self.pid)


def stop_children() -> None:
    """Stop every process group this Python process started and that still runs (a safety net
    for an interrupted run: `atexit`, signal handlers)."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is None:
            _signal_group(pid, signal.SIGKILL)
            child.wait()
        _CHILDREN.pop(pid, None)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a pid, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our child (otherwise its parent does)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = _TAIL_LINES) -> str:
    """The last `lines` lines of a log file (or a note that it is missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def start(name: str, command: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> RunningProcess:
    """Start `command` in a new session with its output in `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    stat = _proc_stat(process.pid)
    started = RunningProcess(
        name=name,
        pid=process.pid,
        start_time=stat[1] if stat else -1,
        log=str(log),
        command=tuple(command),
    )
    _CHILDREN[process.pid] = process
    return started


def wait_until(
    process: RunningProcess, ready: Callable[[], bool], what: str, timeout: float, interval: float = 0.2
) -> None:
    """Poll `ready()` until it is true; fail with the log tail when the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if not process.alive():
            _reap(process.pid)
            raise process.failure(f"exited before it was {what}")
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise process.failure(f"was not {what} within {timeout:.0f}s")
        time.sleep(interval)
