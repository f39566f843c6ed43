"""app/requirements.txt is installed with --no-deps, so it must be the complete pinned closure."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from components.versions import MODEL_SERVER_PYTHON

REQUIREMENTS = Path(__file__).resolve().parents[2] / "app" / "requirements.txt"
DIRECT_HEADER = "# --- direct dependencies ---"
TRANSITIVE_HEADER = "# --- transitive dependencies ---"


def _pins() -> tuple[dict[NormalizedName, str], set[NormalizedName]]:
    """All pins, and the names listed as direct dependencies."""
    pins: dict[NormalizedName, str] = {}
    direct: set[NormalizedName] = set()
    section = ""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("# ---"):
            section = line
            continue
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        name, separator, version = text.partition("==")
        assert separator and version, f"not an exact pin: {line!r}"
        pins[canonicalize_name(name)] = version
        if section == DIRECT_HEADER:
            direct.add(canonicalize_name(name))
    return pins, direct


def _closure(roots: set[NormalizedName], python: str | None = None) -> set[NormalizedName]:
    """Every distribution the installed roots need, extras they request included.

    Markers are evaluated for this interpreter, or for Python `python` (`3.13`) when given."""
    environment = {} if python is None else {"python_version": python, "python_full_version": f"{python}.0"}
    seen: set[NormalizedName] = set()
    todo: list[tuple[NormalizedName, frozenset[str]]] = [(root, frozenset()) for root in roots]
    visited: set[tuple[NormalizedName, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in visited:
            continue
        visited.add((name, extras))
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            active = requirement.marker is None or any(
                requirement.marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
            )
            if active:
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return seen


def test_requirements_has_both_sections() -> None:
    text = REQUIREMENTS.read_text()
    assert DIRECT_HEADER in text and TRANSITIVE_HEADER in text


@pytest.mark.parametrize("python", [None, MODEL_SERVER_PYTHON], ids=["tests' python", "image's python"])
def test_requirements_is_exactly_the_dependency_closure(python: str | None) -> None:
    pins, direct = _pins()
    closure = _closure(direct, python)
    assert sorted(closure - pins.keys()) == [], "needed but not pinned"
    assert sorted(pins.keys() - closure) == [], "pinned but not needed"


def test_pins_are_the_tested_versions() -> None:
    pins, _ = _pins()
    installed = {name: metadata.version(name) for name in pins}
    assert {name: version for name, version in pins.items() if installed[name] != version} == {}
