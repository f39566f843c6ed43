"""The independent scanners (hadolint, checkov, trivy), run offline and read from their JSON.

One module for every scan the project makes: the rendered manifests (checkov's Kubernetes checks,
trivy's misconfiguration checks, with the repository's `.checkov.yaml` and `.trivyignore`) and the
model server's Dockerfile (hadolint, checkov's dockerfile framework, trivy; run outside the
repository with an empty ignore file, since those two files are written for the manifests:
nothing is skipped for the image).

The scanners are separate programs, found where `make setup` installs them (hadolint and trivy
beside this interpreter, from their wheels; checkov in `.venv-checkov`, which pins an older
`packaging`), or through the HADOLINT / CHECKOV / TRIVY environment variables, or on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Finding",
    "Scan",
    "ScannerMissingError",
    "checkov_dockerfiles",
    "checkov_findings",
    "hadolint_dockerfiles",
    "trivy_dockerfiles",
    "trivy_statuses",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 300
"""No scan of this project takes minutes; one that does is stuck."""


class ScannerMissingError(RuntimeError):
    """A scanner executable is not installed where the project's setup puts it."""


@dataclass(frozen=True)
class Finding:
    """One failed check of a manifest."""

    scanner: str
    check: str
    file: str
    title: str


@dataclass(frozen=True)
class Scan:
    """Findings per scanned Dockerfile, and how many checks passed there (when the scanner says)."""

    returncode: int
    failed: dict[Path, list[dict[str, Any]]]
    passed: dict[Path, int]


def _executable(name: str, env_var: str, candidate: Path) -> str:
    for option in (os.environ.get(env_var), str(candidate), shutil.which(name)):
        if option and Path(option).is_file():
            return option
    raise ScannerMissingError(f"{name} not found: run `make setup`, or set {env_var}")


def _hadolint() -> str:
    return _executable("hadolint", "HADOLINT", Path(sys.executable).parent / "hadolint")


def _checkov() -> str:
    return _executable("checkov", "CHECKOV", REPO_ROOT / ".venv-checkov" / "bin" / "checkov")


def _trivy() -> str:
    return _executable("trivy", "TRIVY", Path(sys.executable).parent / "trivy")


def _run(command: list[str], cwd: Path | None = None, ok: Collection[int] = (0, 1)) -> tuple[int, str]:
    """(exit status, stdout); RuntimeError when the scanner itself failed (a status outside `ok`)."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    if result.returncode not in ok:
        raise RuntimeError(f"{Path(command[0]).name} failed to run: {result.stderr[-2000:]}")
    return result.returncode, result.stdout


# --- rendered manifests ---------------------------------------------------------------------


def checkov_findings(path: Path) -> list[Finding]:
    """Failed checkov Kubernetes checks under `path` (a directory or a file)."""
    target = ["-d", str(path)] if path.is_dir() else ["-f", str(path)]
    _, out = _run([_checkov(), "--config-file", str(REPO_ROOT / ".checkov.yaml"), *target, "-o", "json"])
    reports = json.loads(out or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    return [
        Finding("checkov", check["check_id"], check["file_path"], check["check_name"])
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]


def trivy_statuses(path: Path) -> dict[str, dict[str, str]]:
    """Per scanned file, the status (PASS/FAIL) of each trivy check, after `.trivyignore`."""
    command = [_trivy(), "config", "--skip-check-update", "--quiet", "--include-non-failures"]
    command += ["--ignorefile", str(REPO_ROOT / ".trivyignore"), "--format", "json", str(path)]
    _, out = _run(command, ok=(0,))
    statuses: dict[str, dict[str, str]] = {}
    for entry in json.loads(out).get("Results", []):
        checks = statuses.setdefault(entry["Target"], {})
        for check in entry.get("Misconfigurations") or []:
            checks[check["ID"]] = check["Status"]
    return statuses


# --- Dockerfiles: each scanner runs once over all the files it is given ----------------------


def hadolint_dockerfiles(files: Sequence[Path], scratch: Path) -> Scan:
    """hadolint's findings per Dockerfile (it reports problems only: no count of passed rules)."""
    code, out = _run([_hadolint(), "--format", "json", *map(str, files)], scratch)
    failed: dict[Path, list[dict[str, Any]]] = {file: [] for file in files}
    for finding in json.loads(out):
        failed[Path(finding["file"])].append(finding)
    return Scan(returncode=code, failed=failed, passed={})


def checkov_dockerfiles(files: Sequence[Path], scratch: Path) -> Scan:
    """checkov's dockerfile framework, per Dockerfile."""
    targets = [arg for file in files for arg in ("-f", str(file))]
    code, out = _run([_checkov(), "--framework", "dockerfile", *targets, "--skip-download", "-o", "json"], scratch)
    report = json.loads(out)
    if report["summary"]["parsing_errors"]:
        raise RuntimeError("checkov could not parse a Dockerfile")
    failed: dict[Path, list[dict[str, Any]]] = {file: [] for file in files}
    passed: dict[Path, int] = dict.fromkeys(files, 0)
    for check in report["results"]["failed_checks"]:
        failed[Path(check["file_path"])].append(check)
    for check in report["results"]["passed_checks"]:
        passed[Path(check["file_path"])] += 1
    return Scan(returncode=code, failed=failed, passed=passed)


def trivy_dockerfiles(files: Sequence[Path], scratch: Path) -> Scan:
    """trivy's misconfiguration checks, per Dockerfile, with nothing ignored."""
    # One run over a folder of byte-identical copies (as <index>/Dockerfile) instead of one run
    # per file: trivy's start-up is most of its cost.
    targets = scratch / "trivy-targets"
    for index, file in enumerate(files):
        (targets / str(index)).mkdir(parents=True)
        shutil.copyfile(file, targets / str(index) / "Dockerfile")
    ignore = scratch / "empty.trivyignore"
    ignore.write_text("")
    command = [_trivy(), "config", "--skip-check-update", "--quiet", "--cache-dir", str(scratch / "trivy-cache")]
    command += ["--ignorefile", str(ignore), "--format", "json", str(targets)]
    code, out = _run(command, scratch)
    by_target = {result["Target"]: result for result in json.loads(out).get("Results", [])}
    failed: dict[Path, list[dict[str, Any]]] = {}
    passed: dict[Path, int] = {}
    for index, file in enumerate(files):
        result = by_target.get(f"{index}/Dockerfile", {})
        failed[file] = list(result.get("Misconfigurations") or [])
        passed[file] = result.get("MisconfSummary", {}).get("Successes", 0)
    return Scan(returncode=code, failed=failed, passed=passed)
