"""Run hadolint, checkov and trivy over Dockerfiles and parse their JSON reports.

The scanners are found where the project's setup installs them (hadolint and
trivy next to this interpreter, checkov in ``.venv-checkov``), or through the
HADOLINT / CHECKOV / TRIVY environment variables, or on PATH.  The
repository's ``.checkov.yaml`` and ``.trivyignore`` are written for the
rendered manifests, so the Dockerfile scans run outside the repository and
with an empty ignore file: nothing is skipped for the image.  Each scanner
runs once over all the files it is given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
TIMEOUT_SECONDS = 120
# Every scanner must fail this one: latest tag, root user, ADD, unpinned apt
# packages, shell-form CMD, no HEALTHCHECK.
BAD_DOCKERFILE = """\
FROM python:latest
USER root
ADD . /srv
RUN apt-get update && apt-get install -y curl
CMD python /srv/app.py
"""


@dataclass(frozen=True)
class Scan:
    """Findings per scanned file, and how many checks passed there (when the scanner says)."""

    returncode: int
    failed: dict[Path, list[dict[str, Any]]]
    passed: dict[Path, int]


def _executable(name: str, env_var: str, candidate: Path) -> str:
    for option in (os.environ.get(env_var), str(candidate), shutil.which(name)):
        if option and Path(option).is_file():
            return option
    raise FileNotFoundError(f"{name} not found: run `make setup` or set {env_var}")


def _run(command: list[str], cwd: Path) -> tuple[int, str]:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{command[0]} failed to run: {result.stderr[-2000:]}")
    return result.returncode, result.stdout


def hadolint(files: Sequence[Path], scratch: Path) -> Scan:
    binary = _executable("hadolint", "HADOLINT", Path(sys.executable).parent / "hadolint")
    code, out = _run([binary, "--format", "json", *map(str, files)], scratch)
    failed: dict[Path, list[dict[str, Any]]] = {file: [] for file in files}
    for finding in json.loads(out):
        failed[Path(finding["file"])].append(finding)
    # hadolint reports problems only; it has no count of passed rules.
    return Scan(returncode=code, failed=failed, passed={})


def checkov(files: Sequence[Path], scratch: Path) -> Scan:
    binary = _executable("checkov", "CHECKOV", REPO_ROOT / ".venv-checkov" / "bin" / "checkov")
    targets = [arg for file in files for arg in ("-f", str(file))]
    code, out = _run([binary, "--framework", "dockerfile", *targets, "--skip-download", "-o", "json"], scratch)
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


def trivy(files: Sequence[Path], scratch: Path) -> Scan:
    binary = _executable("trivy", "TRIVY", Path(sys.executable).parent / "trivy")
    # One run over a folder of byte-identical copies (as <index>/Dockerfile)
    # instead of one run per file: trivy's start-up is most of its cost.
    targets = scratch / "trivy-targets"
    for index, file in enumerate(files):
        (targets / str(index)).mkdir(parents=True)
        shutil.copyfile(file, targets / str(index) / "Dockerfile")
    ignore = scratch / "empty.trivyignore"
    ignore.write_text("")
    command = [binary, "config", "--skip-check-update", "--quiet", "--cache-dir", str(scratch / "trivy-cache")]
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
