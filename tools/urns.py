"""The URNs a stack's resources answer to, aliases resolved as the Pulumi engine resolves them.

A resource answers to its own URN and to every alias: each alias spec (another name, type or
parent), and, inherited from its parent, the same resource under each URN its parent answers to.
Upgrading a stack replaces or deletes nothing when every URN in its state is answered by a
resource of the new program. `python -m tools.urns --stack prod` prints a stack's own URNs (the
baselines in tests/fixtures/urns were printed so before model tenants existed).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tools.mock_engine import Registration

__all__ = ["answered_urns", "main", "urn_of"]

_STACK_TYPE = "pulumi:pulumi:Stack"


def urn_of(stack_and_project: str, parent_urn: str, type_: str, name: str) -> str:
    """The URN of a resource of `type_` named `name` under `parent_urn` ("" for the stack)."""
    chain = parent_urn.split("::")[2] if parent_urn else ""
    qualified = f"{chain}${type_}" if chain and chain != _STACK_TYPE else type_
    return f"{stack_and_project}::{qualified}::{name}"


def answered_urns(registrations: Sequence[Registration]) -> dict[str, set[str]]:
    """Each resource's URN mapped to every URN it answers to (its own included)."""
    by_urn = {item.urn: item for item in registrations}
    found: dict[str, set[str]] = {}

    def answers(urn: str) -> set[str]:
        if urn in found:
            return found[urn]
        item = by_urn.get(urn)
        if item is None or item.options is None:  # the stack itself, or outside the program
            return {urn}
        prefix = "::".join(urn.split("::")[:2])
        parent = item.options.parent
        parents = answers(parent) if parent and parent in by_urn else {parent}
        result = {urn}
        for parent_urn in parents:
            result.add(urn_of(prefix, parent_urn, item.type, item.name))
        for alias in item.options.aliases:
            name, type_ = alias.name or item.name, alias.type or item.type
            if alias.no_parent:
                result.add(urn_of(prefix, "", type_, name))
            elif alias.parent_urn:
                for parent_urn in answers(alias.parent_urn) if alias.parent_urn in by_urn else {alias.parent_urn}:
                    result.add(urn_of(prefix, parent_urn, type_, name))
            else:
                for parent_urn in parents:
                    result.add(urn_of(prefix, parent_urn, type_, name))
        found[urn] = result
        return result

    return {item.urn: answers(item.urn) for item in registrations}


def main(argv: list[str] | None = None) -> int:
    """Print the URNs of a stack's resources, one per line, sorted."""
    from tools.render import render_stack

    parser = argparse.ArgumentParser(prog="python -m tools.urns", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name (reads stacks/Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    for urn in sorted(item.registration.urn for item in render_stack(args.stack)):
        print(urn)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
