"""Validating Args whose fields may be Pulumi Inputs.

A field a program may take from another stack (a StackReference output: the image a build stack
signed, the platform's mesh namespace, its Vault address) is typed `pulumi.Input[...]`. Its value
is checked at once when it is plain, so a bad value fails before anything is created, naming the
field; an Output is checked when it resolves, and the Args keep the checked Output, so a bad
value from another stack fails the resource that uses it instead of reaching the cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pulumi

__all__ = ["Problems", "is_plain"]

T = TypeVar("T")

Check = Callable[[Any], object]
"""Parses a value, raising ValueError with the problem (as the formats module's parsers do)."""


def is_plain(value: object) -> bool:
    """True unless `value` is known only when the engine resolves it."""
    return not isinstance(value, pulumi.Output)


class Problems:
    """The problems of one Args object, raised together as one ValueError naming the Args."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.found: list[str] = []

    def add(self, problem: str) -> None:
        self.found.append(problem)

    def check(self, label: str, value: pulumi.Input[T], check: Check) -> pulumi.Input[T]:
        """`value` checked now when plain (a problem is recorded), or an Output checked on resolution."""
        if is_plain(value):
            try:
                check(value)
            except ValueError as error:
                self.add(f"{label}: {error}")
            return value
        owner = self.owner

        def checked(resolved: T) -> T:
            try:
                check(resolved)
            except ValueError as error:
                raise ValueError(f"{owner}: {label}: {error}") from None
            return resolved

        return pulumi.Output.from_input(value).apply(checked)

    def same(self, label: str, value: object, other_label: str, other: object) -> None:
        """Record a problem when two plain values that must agree differ."""
        if is_plain(value) and is_plain(other) and value != other:
            self.add(f"{label} {value!r} differs from {other_label} {other!r}")

    def raise_if_any(self) -> None:
        if self.found:
            raise ValueError(f"{self.owner}: " + "; ".join(self.found))
