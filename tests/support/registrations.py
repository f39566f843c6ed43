"""What a program registered on the mock engine, looked up by kind or by ancestry."""

from __future__ import annotations

from typing import Any

from tools.mock_engine import Registration

__all__ = ["by_kind", "only", "parent_types"]


def by_kind(registrations: list[Registration], kind: str) -> list[dict[str, Any]]:
    """Inputs of every registered Kubernetes object of `kind`."""
    return [item.inputs for item in registrations if item.inputs.get("kind") == kind]


def only(registrations: list[Registration], kind: str) -> dict[str, Any]:
    """The single registered object of `kind` (fails when there are none or several)."""
    objects = by_kind(registrations, kind)
    assert len(objects) == 1, f"expected one {kind}, found {len(objects)}"
    return objects[0]


def parent_types(registration: Registration) -> list[str]:
    """Type tokens of a resource's ancestors, outermost first, read from its URN."""
    type_chain = registration.urn.split("::")[2]
    return type_chain.split("$")[:-1]
