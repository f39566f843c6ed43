"""`python -m tests.e2e [PYTEST ARGS]`: the real-API-server tier, then its summary line, last.

Runs pytest on tests/e2e (serially: each stack's sandbox is brought up once, then torn down),
writes the JSON report (`$SMS_E2E_REPORT`, default e2e-report.json) and prints the report's
supply-chain line and its summary line, the very last line. Exits with pytest's status: non-zero on any failure.
SIGTERM and SIGINT end the run through the fixtures' teardown, and any process the run started
that is still alive at exit is killed, so nothing is left running.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tools.sandbox.processes import stop_children

HERE = Path(__file__).resolve().parent


def _terminate(signum: int, _frame: object) -> None:
    """SIGTERM as Ctrl-C: pytest stops the session and runs every fixture's teardown."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    report = Path(os.environ.setdefault("SMS_E2E_REPORT", "e2e-report.json"))
    report.unlink(missing_ok=True)
    atexit.register(stop_children)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    status = pytest.main(["-m", "e2e", "-n", "0", str(HERE), *argv])
    elapsed = time.monotonic() - started
    try:
        summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    except (OSError, ValueError, KeyError):
        summary = ["e2e: no report was written (the tier did not run); see the output above"]
        status = status or 1
    print(f"e2e: report in {report}; {elapsed:.0f}s wall time")
    for line in summary[-2:]:
        print(line)
    return int(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
