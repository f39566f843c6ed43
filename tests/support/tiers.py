"""Which tier each test belongs to, by the folder it lives in (tests/conftest.py marks it).

    unit         Python alone: the components on Pulumi's mock engine, the tools, the docs
    integration  real programs beside Python: the model server (its processes, its image
                 definition, scanned), the policies and the policy pack judged by gator
    conformance  every stack rendered, then checked by independent tools
    e2e          the real API server (make e2e; deselected by default)

`make test-unit`, `make test-integration`, `make test-conformance` and `make e2e` run one tier.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TESTS_ROOT", "TIERS", "tier_of"]

TESTS_ROOT = Path(__file__).resolve().parents[1]
TIERS: dict[str, str] = {
    "": "unit",  # tests/test_*.py
    "components": "unit",
    "tools": "unit",
    "e2e_pulumi": "unit",  # its pure helpers; the `pulumi up` run itself is `make e2e-pulumi`
    "app": "integration",
    "policies": "integration",
    "policy_pack": "integration",
    "conformance": "conformance",
    "e2e": "e2e",
}
"""Folder directly under tests/ -> its tier."""


def tier_of(path: Path) -> str:
    """The tier of the test file at `path`; KeyError naming the folder when it has none."""
    relative = path.resolve().relative_to(TESTS_ROOT)
    folder = relative.parts[0] if len(relative.parts) > 1 else ""
    if folder not in TIERS:
        raise KeyError(f"tests/{folder} has no tier: add it to TIERS in tests/support/tiers.py")
    return TIERS[folder]
