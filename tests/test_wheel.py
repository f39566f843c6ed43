"""The library's wheel, built offline from the checkout and installed into a consumer's project.

A consumer has its own top-level `components/` and `policies/`; the wheel must install nothing
but `secure_model_serving/` (and its dist-info) so it never collides with them, must carry the
data a program reads at run time (Falco's rules, each policy's Rego, metadata and template, the
shared Rego, the ExpansionTemplates) and must leave the policies' suites in the repository. The
installed copy is then used as a consumer would: from a folder holding the consumer's own
packages, with the repository off the import path, the whole platform built on Pulumi's mocks.

The build is pip with the dev venv's setuptools (no build isolation, no index), in a copy of the
checkout, so the clone gets no build/ or *.egg-info; pip checks that setuptools is pyproject.toml's
build-system pin. Copying, building and installing take about three seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from secure_model_serving.policies import POLICY_DIR, load_policies
from tools.mock_engine import PROJECT, REPO_ROOT, cli_config
from tools.render import stack_file

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PACKAGE = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"][0].rstrip("*")
"""The one import package the wheel may install (pyproject.toml's packages.find)."""
CONSUMER_PROGRAM = Path(__file__).with_name("wheel_consumer.py")
CONSUMER_PACKAGES = ("components", "policies")
"""The consumer's own top-level packages, each with a MARKER the library must leave intact."""
CHECKOUT_ONLY = ("tools", "tests", "app", "benchmarks", "policy_pack", "serving_contract", "serving_vocabulary")
"""Top-level names the repository has (or had) beside the library: none may reach a consumer."""
(FALCO_RULES,) = (REPO_ROOT / PACKAGE).rglob("falco_rules.yaml")
"""The model-serving Falco rules, wherever in the package they live."""
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
"""The dev venv's site-packages: the library's dependencies."""

SUITE_DIRS = frozenset({"fixtures", "samples"})
SUITE_FILES = frozenset({"suite.yaml", "constraint.yaml"})
"""The policies' `gator verify` suites and their as-deployed samples: the repository's, not an install's."""


# --- what a wheel holds, judged from its file list --------------------------------------------


def top_level_names(entries: Iterable[str]) -> set[str]:
    """What a wheel's files would install at the top of site-packages, besides its dist-info."""
    names = set()
    for entry in entries:
        first = PurePosixPath(entry).parts[0]
        if not first.endswith(".dist-info"):
            names.add(first.removesuffix(".py"))
    return names


def is_suite_file(entry: str) -> bool:
    """A file of a policy's test suite (fixtures, samples, the suite, Rego unit tests)."""
    path = PurePosixPath(entry)
    return bool(SUITE_DIRS & set(path.parts[:-1])) or path.name in SUITE_FILES or path.name.endswith("_test.rego")


def required_data() -> set[str]:
    """The data files a program reads from the installed package, from the checkout's policies."""
    package = PurePosixPath(PACKAGE)
    policies = package / POLICY_DIR.relative_to(REPO_ROOT / PACKAGE).as_posix()
    names = {str(package / FALCO_RULES.relative_to(REPO_ROOT / PACKAGE).as_posix())}
    names.add(str(policies / "expansion-templates.yaml"))
    names |= {
        str(policies / "lib" / rego.name)
        for rego in (POLICY_DIR / "lib").glob("*.rego")
        if not is_suite_file(rego.name)
    }
    for policy in load_policies(require_fixtures=False):
        names |= {str(policies / policy.name / name) for name in ("policy.yaml", "src.rego", "template.yaml")}
    return names


def _zip(path: Path, entries: Iterable[str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for entry in entries:
            archive.writestr(entry, "")
    return path


def _entries(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return [name for name in archive.namelist() if not name.endswith("/")]


def test_the_top_level_check_sees_any_module_beside_the_package(tmp_path: Path) -> None:
    dist_info = "secure_model_serving-0.1.0.dist-info/RECORD"
    clean = _zip(tmp_path / "clean.whl", [f"{PACKAGE}/__init__.py", f"{PACKAGE}/policies/lib/pods.rego", dist_info])
    assert top_level_names(_entries(clean)) == {PACKAGE}
    leaky = [
        f"{PACKAGE}/__init__.py",
        "components/__init__.py",
        "serving_contract.py",
        "secure_model_serving-0.1.0.data/purelib/policies/__init__.py",
        dist_info,
    ]
    assert top_level_names(_entries(_zip(tmp_path / "leaky.whl", leaky))) == {
        PACKAGE,
        "components",
        "serving_contract",
        "secure_model_serving-0.1.0.data",
    }


def test_the_suite_check_sees_each_kind_of_suite_file() -> None:
    policy = f"{PACKAGE}/policies/deny-run-as-root"
    suites = [
        f"{policy}/fixtures/denied/root.yaml",
        f"{policy}/samples/exempt/constraint.yaml",
        f"{policy}/suite.yaml",
        f"{policy}/constraint.yaml",
        f"{PACKAGE}/policies/lib/pods_test.rego",
    ]
    shipped = [
        f"{policy}/policy.yaml",
        f"{policy}/src.rego",
        f"{policy}/template.yaml",
        f"{PACKAGE}/policies/lib/pods.rego",
    ]
    assert [entry for entry in suites + shipped if is_suite_file(entry)] == suites


# --- the real wheel ---------------------------------------------------------------------------


def _checkout_files() -> list[str]:
    """The checkout as a clean clone plus the working tree's changes: tracked and untracked files,
    without what git ignores (virtualenvs, renders, build output)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [name for name in listing.stdout.split("\0") if name and (REPO_ROOT / name).is_file()]


def _pip(*arguments: str | Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        *map(str, arguments),
        "--no-index",
        "--quiet",
        "--disable-pip-version-check",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the whole checkout, so that what packages.find would pick
    up beside the package is there to be picked up (and the clone gets no build output)."""
    source = tmp_path_factory.mktemp("source")
    for name in _checkout_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    # The dev venv's setuptools builds, and pip refuses it unless it is the build-system pin.
    _pip("wheel", "--no-deps", "--no-build-isolation", "--check-build-dependencies", "--wheel-dir", out, source)
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_installs_only_the_namespaced_package(wheel: Path) -> None:
    entries = _entries(wheel)
    assert top_level_names(entries) == {PACKAGE}
    assert len(entries) > 100  # the package itself, not an empty wheel


def test_the_wheel_carries_the_run_time_data_and_none_of_the_suites(wheel: Path) -> None:
    entries = set(_entries(wheel))
    assert required_data() - entries == set()
    assert sorted(entry for entry in entries if is_suite_file(entry)) == []
    # Every file of the package in the checkout is either shipped or a suite's.
    checkout = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in (REPO_ROOT / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert sorted(name for name in checkout - entries if not is_suite_file(name)) == []


# --- the installed wheel in a consumer's project ----------------------------------------------


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a folder of its own, as `pip install --target` lays it out."""
    target = tmp_path_factory.mktemp("installed")
    _pip("install", "--no-deps", "--target", target, wheel)
    return target


@pytest.fixture
def consumer(tmp_path: Path) -> Path:
    """A consumer project: its own `components` and `policies` packages, and its program."""
    for name in CONSUMER_PACKAGES:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f'MARKER = "the consumer\'s {name}"\n')
    shutil.copy2(CONSUMER_PROGRAM, tmp_path / "program.py")
    return tmp_path


def run_consumer(consumer: Path, path: list[Path], build_stack: str | None = None) -> dict[str, Any]:
    """Run the consumer's program isolated (-I: no environment, no script folder; -S: no site
    hooks, so no .pth file can add the checkout) with exactly `path` before the standard library."""
    spec: dict[str, Any] = {
        "path": [str(entry) for entry in path],
        "probe": [*CONSUMER_PACKAGES, PACKAGE, *CHECKOUT_ONLY],
    }
    if build_stack is not None:
        config, secret_keys = cli_config(yaml.safe_load(stack_file(build_stack).read_text())["config"])
        spec |= {"project": PROJECT, "config": config, "secret_keys": secret_keys}
    (consumer / "spec.json").write_text(json.dumps(spec))
    command = [sys.executable, "-I", "-S", "program.py", "spec.json"]
    result = subprocess.run(command, cwd=consumer, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def checkout_leaks(report: dict[str, Any]) -> list[str]:
    """How the consumer's run could reach the repository: its root on the path, or a top-level
    name that only the checkout provides (the dev venv, which lives in it, is not the checkout)."""
    leaks = [f"sys.path has {REPO_ROOT}"] if str(REPO_ROOT) in report["sys_path"] else []
    for name, origin in report["origins"].items():
        if origin is None or name in CONSUMER_PACKAGES or name == PACKAGE:
            continue
        found = Path(origin)
        if found.is_relative_to(REPO_ROOT) and not found.is_relative_to(SITE_PACKAGES):
            leaks.append(f"{name} from {origin}")
    return leaks


def test_the_leak_check_sees_the_checkout_on_the_path(consumer: Path, installed: Path) -> None:
    report = run_consumer(consumer, [consumer, installed, SITE_PACKAGES, REPO_ROOT])
    leaks = checkout_leaks(report)
    assert f"sys.path has {REPO_ROOT}" in leaks
    assert {"tools", "tests", "app"} <= {leak.split(" from ")[0] for leak in leaks}


def test_a_consumer_with_its_own_components_and_policies_builds_the_platform_from_the_wheel(
    consumer: Path, installed: Path
) -> None:
    report = run_consumer(consumer, [consumer, installed, SITE_PACKAGES], build_stack="dev")
    assert report["sys_path"][:3] == [str(consumer), str(installed), str(SITE_PACKAGES)]
    assert checkout_leaks(report) == []
    # The consumer's packages are its own, before and after the library is imported and used.
    assert report["origins"]["components"] == str(consumer / "components" / "__init__.py")
    assert report["origins"]["policies"] == str(consumer / "policies" / "__init__.py")
    assert report["markers"] == {name: f"the consumer's {name}" for name in CONSUMER_PACKAGES}
    assert report["same_modules"] is True
    # Every module of the library came from the installed wheel.
    library = report["library_files"]
    assert f"{PACKAGE}.components" in library
    assert [name for name, file in library.items() if not Path(file).is_relative_to(installed)] == []
    # The installed policies, read from the installed package data.
    assert Path(report["policy_dir"]).is_relative_to(installed)
    checkout_policies = sorted(policy.name for policy in load_policies(require_fixtures=False))
    assert report["policies"] == checkout_policies
    assert len(report["policies"]) > 30
    # The platform registered its parts, each from the installed data.
    registered = report["registered"]
    kinds = [item["inputs"].get("kind") for item in registered]
    assert kinds.count("Deployment") == 1
    assert kinds.count("ConstraintTemplate") == len(checkout_policies)
    falco = [item for item in registered if item["type"] == "kubernetes:helm.sh/v3:Release" and "falco" in item["name"]]
    assert len(falco) == 1
    rules_text = json.dumps(falco[0]["inputs"]["values"]["customRules"])
    rule_names = [document["rule"] for document in yaml.safe_load(FALCO_RULES.read_text()) if "rule" in document]
    assert rule_names
    assert [name for name in rule_names if name not in rules_text] == []
