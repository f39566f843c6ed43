"""Each test carries its folder's tier, so `make test-<tier>` (pytest -m <tier>) runs exactly it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.tiers import TESTS_ROOT, TIERS, tier_of

TIER_NAMES = ("unit", "integration", "conformance", "e2e")


def test_every_folder_with_tests_has_a_tier() -> None:
    folders = {
        "" if path.parent == TESTS_ROOT else path.relative_to(TESTS_ROOT).parts[0]
        for path in TESTS_ROOT.rglob("test_*.py")
    }
    assert folders <= set(TIERS), sorted(folders - set(TIERS))
    assert set(TIERS.values()) == set(TIER_NAMES)


def test_a_folder_without_a_tier_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="tests/nowhere has no tier"):
        tier_of(TESTS_ROOT / "nowhere" / "test_x.py")


def test_this_test_carries_exactly_its_folders_tier(request: pytest.FixtureRequest) -> None:
    assert [name for name in TIER_NAMES if request.node.get_closest_marker(name)] == ["unit"]


@pytest.mark.parametrize("tier", ["conformance", "unit"])
def test_selecting_a_tier_collects_only_its_folders(tier: str) -> None:
    files = ["tests/conformance/test_drains.py", "tests/tools/test_manifests.py"]
    command = [sys.executable, "-m", "pytest", "--collect-only", "-n", "0", "-m", tier, *files]
    result = subprocess.run(command, cwd=TESTS_ROOT.parent, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    selected = [line for line in result.stdout.splitlines() if "::" in line]
    expected = files[0] if tier == "conformance" else files[1]
    assert selected and all(line.startswith(expected) for line in selected), selected


def _imported_test_modules(path: Path) -> list[str]:
    """Modules under tests/ that `path` imports and that are a conftest or a test module."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [
        name
        for name in names
        if name.startswith("tests.") and (name.endswith(".conftest") or name.rpartition(".")[2].startswith("test_"))
    ]


def test_no_test_imports_from_a_conftest_or_another_test_module() -> None:
    found = {
        str(path.relative_to(TESTS_ROOT)): modules
        for path in sorted(TESTS_ROOT.rglob("*.py"))
        if (modules := _imported_test_modules(path))
    }
    assert found == {}


def test_the_import_check_sees_both_kinds(tmp_path: Path) -> None:
    module = tmp_path / "test_x.py"
    module.write_text("from tests.conftest import STACKS\nimport tests.components.test_settings\nimport os\n")
    assert _imported_test_modules(module) == ["tests.conftest", "tests.components.test_settings"]
