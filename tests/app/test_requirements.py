"""app/requirements.txt is the complete pinned closure; app/requirements.lock hashes exactly those pins."""

from __future__ import annotations

import hashlib
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from secure_model_serving.versions import MODEL_SERVER_PYTHON

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


# --- the hashed lock the image installs from (python -m tools.app_hashes) ----------------------

LOCK = REQUIREMENTS.with_name("requirements.lock")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def _lock() -> dict[NormalizedName, tuple[str, list[str]]]:
    """name -> (version, sha256 digests) of each entry of app/requirements.lock."""
    entries: dict[NormalizedName, tuple[str, list[str]]] = {}
    text = "\n".join(line for line in LOCK.read_text().splitlines() if not line.startswith("#"))
    for entry in text.replace("\\\n", " ").splitlines():
        if not entry.strip():
            continue
        requirement, *options = entry.split()
        name, _, version = requirement.partition("==")
        digests = [match.group(1) for option in options if (match := _HASH.fullmatch(option))]
        assert len(digests) == len(options), f"only --hash options expected: {entry!r}"
        entries[canonicalize_name(name)] = (version, digests)
    return entries


def test_the_lock_hashes_exactly_the_pins_of_requirements_txt() -> None:
    pins, _ = _pins()
    lock = _lock()
    assert {name: version for name, (version, _) in lock.items()} == pins
    assert [name for name, (_, digests) in lock.items() if not digests] == []


def test_the_generator_writes_one_hash_per_wheel_and_refuses_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools import app_hashes

    monkeypatch.setattr(app_hashes, "pins", lambda: {"numpy": "2.4.6", "flask": "3.1.3"})
    wheels = [
        tmp_path / "numpy-2.4.6-cp313-cp313-manylinux_2_28_x86_64.whl",
        tmp_path / "numpy-2.4.6-cp313-cp313-manylinux_2_28_aarch64.whl",
        tmp_path / "flask-3.1.3-py3-none-any.whl",
    ]
    for index, wheel in enumerate(wheels):
        wheel.write_bytes(bytes([index]))
    lock_copy = tmp_path / "requirements.lock"
    lock_copy.write_text(app_hashes.render(wheels))
    monkeypatch.setattr(sys.modules[__name__], "LOCK", lock_copy)
    expected = {wheel.name: hashlib.sha256(wheel.read_bytes()).hexdigest() for wheel in wheels}
    lock = _lock()
    assert lock["flask"] == ("3.1.3", [expected[wheels[2].name]])
    assert sorted(lock["numpy"][1]) == sorted([expected[wheels[0].name], expected[wheels[1].name]])
    with pytest.raises(SystemExit, match=re.escape("flask==3.1.3")):
        app_hashes.render(wheels[:2])


def test_the_image_installs_from_the_lock_with_require_hashes() -> None:
    dockerfile = (REQUIREMENTS.parent / "Dockerfile").read_text()
    install = next(line for line in dockerfile.replace("\\\n", " ").splitlines() if "pip install" in line)
    assert "--require-hashes" in install.split()
    assert "-r /tmp/requirements.lock" in " ".join(install.split())
    assert "COPY app/requirements.lock /tmp/requirements.lock" in dockerfile
