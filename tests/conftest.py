"""Shared test fixtures (the mock engine, stack renders, the upstream schemas) and each test's tier.

Fixtures only: helpers the tests import live in tests/support (shared by several tiers) or beside
the tier that uses them; no test imports from a conftest or from another test module.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import CallMain
from tests.support.stacks import SHARED_CRDS, STACKS
from tests.support.tiers import tier_of
from tools.crd_schema import CrdCatalog
from tools.mock_engine import Registration, run_with_mocks
from tools.render import Rendered, render_stack, write_render


@pytest.fixture
def run_program() -> Callable[[Callable[[], Any]], list[Registration]]:
    """Run a function that builds resources on the mock engine; return the registrations."""

    def run(build: Callable[[], Any], stack: str = "test") -> list[Registration]:
        return run_with_mocks(build, stack, config={})

    return run


@pytest.fixture
def call_main(capsys: pytest.CaptureFixture[str]) -> CallMain:
    """A CLI's `main(argv)` run in this process, its result shaped like `subprocess.run`'s.

    Each real `python -m ...` process pays seconds of imports (often a render and a Rego compile)
    before it does anything, so the tests run each CLI once as a real process and its other cases
    through this. `call_main(main, *arguments)`.
    """

    def run(main: Callable[[list[str]], int], *arguments: str | Path) -> subprocess.CompletedProcess[str]:
        argv = [str(argument) for argument in arguments]
        capsys.readouterr()  # drop anything printed before
        try:
            returncode = main(argv)
        except SystemExit as exited:  # argparse refusing the arguments; status as the interpreter sets it
            returncode = exited.code if isinstance(exited.code, int) else int(exited.code is not None)
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(argv, returncode, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Rendered]]:
    """Every stack rendered once per test session."""
    return {stack: render_stack(stack) for stack in STACKS}


@pytest.fixture(scope="session")
def render_dirs(rendered: dict[str, list[Rendered]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every stack's render written to a directory, as `python -m tools.render` writes it."""
    root = tmp_path_factory.mktemp("render")
    dirs = {}
    for stack, items in rendered.items():
        dirs[stack] = root / stack
        write_render(items, dirs[stack])
    return dirs


@pytest.fixture(scope="session")
def shared_crds() -> Iterator[Path]:
    """The upstream CRD schemas folder beside the repository."""
    if not SHARED_CRDS.is_dir():
        message = f"no upstream CRD schemas at {SHARED_CRDS} (../shared/crds beside the checkout, or SMS_CRDS_DIR)"
        # Where CI runs, a missing folder is a broken setup, not a reason to skip the schema checks.
        if os.environ.get("CI"):
            pytest.fail(message + ": CI is set, so the schema tests may not skip", pytrace=False)
        pytest.skip(message)
    yield SHARED_CRDS


@pytest.fixture(scope="session")
def crd_catalog(shared_crds: Path) -> CrdCatalog:
    """Every served upstream CRD version, loaded once per test session."""
    return CrdCatalog.from_folder(shared_crds)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier (unit, integration, conformance, e2e)."""
    for item in items:
        try:
            tier = tier_of(item.path)
        except KeyError as error:
            raise pytest.UsageError(str(error.args[0])) from None
        item.add_marker(getattr(pytest.mark, tier))
