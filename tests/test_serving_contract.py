"""The server and the components take the facts they share from one module, serving_contract.

The agreement itself is judged on the rendered stacks (tests/conformance/test_serving_contract.py)
and in the image layout (tests/app/test_dockerfile.py); this checks that no module keeps a copy of
a shared name or path the contract would then no longer govern.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest

import secure_model_serving.serving_contract as serving_contract
import secure_model_serving.serving_vocabulary as serving_vocabulary
from secure_model_serving.serving_contract import ServerEnv

REPO_ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Path(serving_contract.__file__).resolve()
SHARED = frozenset(
    {value for name, value in vars(serving_contract).items() if name.isupper() and isinstance(value, str)}
    | set(ServerEnv)
)
# Still spell the server's names and defaults themselves: their owner switches them to the
# contract (platform.py: the server's env dict; settings/model.py: the model's defaults).
NOT_YET_SWITCHED: frozenset[str] = frozenset()


def _copies(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """String literals in `path` (docstrings aside) that spell a value of the contract."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in SHARED and id(node) not in docstrings
    ]


def test_no_module_of_the_server_or_the_components_keeps_a_copy_of_the_contract() -> None:
    modules = [
        path
        for folder in ("app", "secure_model_serving")
        for path in sorted((REPO_ROOT / folder).rglob("*.py"))
        if path != CONTRACT and str(path.relative_to(REPO_ROOT)) not in NOT_YET_SWITCHED
    ]
    assert len(modules) > 20  # (tools/ is not scanned: its /readyz is the API server's)
    assert [copy for path in modules for copy in _copies(path)] == []


def test_the_check_finds_a_copy(tmp_path: Path) -> None:
    module = tmp_path / "copy.py"
    module.write_text('"""/healthz in a docstring is prose."""\nPATH = "/healthz"\nNAME = "GUNICORN_WORKERS"\n')
    assert _copies(module, tmp_path) == ["copy.py:2: '/healthz'", "copy.py:3: 'GUNICORN_WORKERS'"]


@pytest.mark.parametrize("module", [serving_contract, serving_vocabulary], ids=lambda module: module.__name__)
def test_the_library_wheel_ships_the_shared_modules_and_they_need_only_the_standard_library(
    module: ModuleType,
) -> None:
    # Inside the library's one namespaced package (tests/test_wheel.py installs the wheel).
    assert module.__name__.startswith("secure_model_serving.")
    # The image, the policy pack and the library import them without each other's dependencies.
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(ast.parse(Path(str(module.__file__)).read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "collections", "enum", "types"}
