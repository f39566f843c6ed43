"""The layout shows who owns what: the components take Args (never the settings), the platform's
modules do not reach into the tenants', and the package imports itself relatively, so it works
under its one namespaced name wherever it is installed."""

from __future__ import annotations

import ast
from pathlib import Path

import secure_model_serving

PACKAGE = Path(secure_model_serving.__file__).resolve().parent
NAME = "secure_model_serving"


def imports(path: Path, root: Path = PACKAGE, name: str = NAME) -> list[tuple[str, bool]]:
    """(absolute module, written relatively) of every import in `path`, a module of package `name`
    whose folder is `root`."""
    parts = [name, *path.relative_to(root).with_suffix("").parts]
    package = parts[:-1]  # a module's package; an __init__'s is its own folder
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.append((".".join([*base, *([node.module] if node.module else [])]), True))
            else:
                found.append((node.module or "", False))
        elif isinstance(node, ast.Import):
            found += [(alias.name, False) for alias in node.names]
    return found


def violations(root: Path = PACKAGE, name: str = NAME) -> list[str]:
    """What breaks the layout's rules, one line each."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = "/".join(path.relative_to(root).parts)
        folder = path.relative_to(root).parts[0]
        for target, relative in imports(path, root, name):
            inside = target == name or target.startswith(f"{name}.")
            if inside and not relative:
                found.append(f"{module}: imports {target} absolutely")
            if folder in ("cluster", "tenant") and target.startswith((f"{name}.settings", f"{name}.program")):
                found.append(f"{module}: a component reads {target}, not its Args")
            if folder == "cluster" and module != "cluster/platform.py" and target.startswith(f"{name}.tenant"):
                found.append(f"{module}: the platform reaches into {target}")
    return found


def test_the_package_keeps_its_layout() -> None:
    modules = list(PACKAGE.rglob("*.py"))
    assert len(modules) > 40
    assert violations() == []


def test_the_check_finds_each_breach(tmp_path: Path) -> None:
    root = tmp_path / NAME
    for folder in ("cluster", "tenant", "settings", "program"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "cluster" / "mesh.py").write_text("from ..tenant.workload import x\n")
    (root / "cluster" / "platform.py").write_text("from ..tenant.model_tenant import ModelTenant\n")
    (root / "tenant" / "workload.py").write_text("from ..settings import StackSettings\n")
    (root / "program" / "run.py").write_text("from secure_model_serving.settings import load_settings\n")
    (root / "program" / "tenant.py").write_text("from ..settings import StackSettings\nfrom ..tenant import x\n")
    assert violations(root) == [
        "cluster/mesh.py: the platform reaches into secure_model_serving.tenant.workload",
        "program/run.py: imports secure_model_serving.settings absolutely",
        "tenant/workload.py: a component reads secure_model_serving.settings, not its Args",
    ]
