"""The image definition: scanner-clean, and built the way the issue asks.

CI cannot build images, so app/Dockerfile is checked statically: hadolint,
checkov (dockerfile framework) and trivy must find nothing wrong with it, and
each is run on a deliberately bad Dockerfile as well, to show it can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import secure_model_serving.serving_contract as contract
from secure_model_serving.policies.parameters import MIN_ID
from secure_model_serving.versions import DISTROLESS_PYTHON_SUPPORT, MODEL_SERVER_PYTHON
from tools.scanners import REPO_ROOT, checkov_dockerfiles, hadolint_dockerfiles, trivy_dockerfiles

DOCKERFILE = REPO_ROOT / "app" / "Dockerfile"
# Every scanner must fail this one: latest tag, root user, ADD, unpinned apt
# packages, shell-form CMD, no HEALTHCHECK.
BAD_DOCKERFILE = """\
FROM python:latest
USER root
ADD . /srv
RUN apt-get update && apt-get install -y curl
CMD python /srv/app.py
"""

DOCKERIGNORE = REPO_ROOT / "app" / "Dockerfile.dockerignore"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}(\s|$)")


@pytest.fixture
def bad_dockerfile(tmp_path: Path) -> Path:
    path = tmp_path / "bad" / "Dockerfile"
    path.parent.mkdir()
    path.write_text(BAD_DOCKERFILE)
    return path


# One test per scanner, each run once over both files (so that parallel test
# workers never run the same scanner twice).


def test_hadolint_finds_nothing_and_fails_a_bad_dockerfile(tmp_path: Path, bad_dockerfile: Path) -> None:
    scan = hadolint_dockerfiles([DOCKERFILE, bad_dockerfile], tmp_path)
    assert scan.failed[DOCKERFILE] == []
    assert scan.returncode != 0
    assert {"DL3007", "DL3002", "DL3020"} <= {item["code"] for item in scan.failed[bad_dockerfile]}


def test_checkov_passes_every_check_and_fails_a_bad_dockerfile(tmp_path: Path, bad_dockerfile: Path) -> None:
    scan = checkov_dockerfiles([DOCKERFILE, bad_dockerfile], tmp_path)
    assert [item["check_id"] for item in scan.failed[DOCKERFILE]] == []
    assert scan.passed[DOCKERFILE] > 0
    assert scan.returncode != 0
    bad_ids = {item["check_id"] for item in scan.failed[bad_dockerfile]}
    assert {"CKV_DOCKER_7", "CKV_DOCKER_8", "CKV_DOCKER_2"} <= bad_ids  # latest tag, root user, no HEALTHCHECK


def test_trivy_finds_no_high_or_critical_and_fails_a_bad_dockerfile(tmp_path: Path, bad_dockerfile: Path) -> None:
    scan = trivy_dockerfiles([DOCKERFILE, bad_dockerfile], tmp_path)
    severe = [item["ID"] for item in scan.failed[DOCKERFILE] if item["Severity"] in ("HIGH", "CRITICAL")]
    assert severe == []
    assert scan.passed[DOCKERFILE] > 0
    assert ("DS-0002", "HIGH") in {(item["ID"], item["Severity"]) for item in scan.failed[bad_dockerfile]}


# --- what the scanners do not check -------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs with continuation lines joined.

    As in Docker, comment lines are dropped first (also inside a continued
    instruction) and a comment ending in a backslash continues nothing.
    """
    result: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        result.append((keyword.upper(), " ".join(rest.split())))
        pending = ""
    return result


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, rest))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    return _stages(_instructions(DOCKERFILE.read_text()))


def test_multi_stage_with_every_base_pinned_by_digest(stages: list[list[tuple[str, str]]]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert DIGEST.search(stage[0][1]), stage[0]


def test_runtime_is_distroless_and_runs_as_the_configured_numeric_user(stages: list[list[tuple[str, str]]]) -> None:
    runtime = stages[-1]
    assert runtime[0][1].startswith("gcr.io/distroless/")
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert (int(uid), int(gid)) == (contract.RUN_AS_USER, contract.RUN_AS_GROUP)
    assert int(uid) >= MIN_ID and int(gid) >= MIN_ID


def _image(stage: list[tuple[str, str]]) -> tuple[str, str]:
    """(name, tag) of a stage's base image, the digest dropped; the tag is "" when there is none."""
    reference = stage[0][1].split()[0].split("@", 1)[0]
    name, colon, tag = reference.rpartition(":")
    if not colon or "/" in tag:  # no tag: at most a registry port
        return reference, ""
    return name, tag


def test_both_stages_run_the_python_of_a_supported_runtime(stages: list[list[tuple[str, str]]]) -> None:
    runtime, _ = _image(stages[-1])
    # The distroless Python variant upstream still supports (python3-debian12 is removed).
    assert runtime == f"gcr.io/distroless/{DISTROLESS_PYTHON_SUPPORT.version}"
    # Wheels installed and bytecode compiled in the builder must be for the runtime's Python minor.
    builders = [_image(stage) for stage in stages[:-1]]
    assert builders and all(name == "python" and tag.startswith(f"{MODEL_SERVER_PYTHON}-") for name, tag in builders)


def test_model_is_trained_and_signed_at_build_time_with_a_secret_key(stages: list[list[tuple[str, str]]]) -> None:
    runs = " ".join(rest for stage in stages[:-1] for keyword, rest in stage if keyword == "RUN")
    assert f"--mount=type=secret,id={contract.BUILD_SECRET_ID}" in runs
    assert "-m app.train" in runs and "-m app.sign" in runs
    copies = [rest for keyword, rest in stages[-1] if keyword == "COPY"]
    assert any(rest.split()[-1] == contract.MODEL_ROOT and "--from=" in rest for rest in copies)
    assert not any(".pem" in rest for stage in stages for keyword, rest in stage if keyword in ("COPY", "ADD"))


def test_runtime_environment_matches_the_config_contract(stages: list[list[tuple[str, str]]]) -> None:
    runtime = stages[-1]
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert f"{contract.ServerEnv.MODEL_DIR}={contract.MODEL_DIR}" in env
    assert f"{contract.ServerEnv.MODEL_SIGNATURE}={contract.MODEL_SIGNATURE}" in env
    assert f"{contract.ServerEnv.PORT}={contract.PORT}" in env
    assert ("EXPOSE", str(contract.PORT)) in runtime
    assert any(keyword == "HEALTHCHECK" and contract.LIVENESS_PATH in rest for keyword, rest in runtime)
    entrypoint = [rest for keyword, rest in runtime if keyword == "ENTRYPOINT"][-1]
    assert entrypoint.startswith("[") and "gunicorn.conf.py" in entrypoint


def test_dockerignore_denies_by_default_and_keeps_keys_out() -> None:
    patterns = [line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")]
    assert patterns[0] == "*"
    assert "!app/" in patterns
    assert any(pattern.endswith("*.pem") for pattern in patterns)


def _context_copies(stages: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """(source, target) of every COPY from the build context (not from another stage)."""
    return [
        (rest.split()[-2], rest.split()[-1])
        for stage in stages
        for keyword, rest in stage
        if keyword == "COPY" and "--from=" not in rest
    ]


def test_the_image_imports_the_contract_it_ships_beside_the_app(
    stages: list[list[tuple[str, str]]], tmp_path: Path
) -> None:
    # Lay out only what the Dockerfile copies from the context, where it copies it, and import the
    # server under the image's PYTHONPATH: the contract must come from the image, not the checkout.
    for source, target in _context_copies(stages):
        origin, destination = REPO_ROOT / source, tmp_path / target.lstrip("/")
        if origin.is_dir():
            shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, destination)
    (python_path,) = re.findall(r"PYTHONPATH=(\S+)", " ".join(rest for keyword, rest in stages[-1] if keyword == "ENV"))
    roots = [str(tmp_path / entry.lstrip("/")) for entry in python_path.split(":")]
    imports = "import app.server, secure_model_serving.serving_contract as c"
    code = f"import sys; sys.path[:0] = {roots!r}; {imports}; print(c.__file__)"
    command = [sys.executable, "-I", "-c", code]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert Path(result.stdout.strip()) == tmp_path / "opt" / "app" / "secure_model_serving" / "serving_contract.py"


def test_dockerignore_admits_every_file_the_dockerfile_copies(stages: list[list[tuple[str, str]]]) -> None:
    admitted = [line[1:] for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")]
    sources = [source for source, _ in _context_copies(stages)]
    assert "secure_model_serving/serving_contract.py" in sources
    for source in sources:
        assert any(source == path or (path.endswith("/") and source.startswith(path)) for path in admitted), source
