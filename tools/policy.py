"""Offline admission check: judge manifests with the project's Gatekeeper policies, as the cluster would.

    python -m tools.policy check render/prod                 # a render: its own policies judge it
    python -m tools.policy check --stack prod deploy/*.yaml  # any manifests, prod's policies
    python -m tools.policy check path/to/pod.yaml            # no policies in the paths: prod's

The ConstraintTemplates, Constraints and ExpansionTemplates come from `--stack` (rendered in
memory), else from the paths themselves, else from the `prod` stack. The judge is gator, the
Gatekeeper project's own offline engine (tools/gator.py): every other Kubernetes object in the
paths is reviewed as the webhook would review it, workloads also as the Pods they would create.
YAML that is not a Kubernetes object (stack files, CI config) is skipped, so the command can run
on every YAML file of a repository.

Constraints select model namespaces by label. A namespace whose Namespace object is in neither
the paths nor the stack is treated as a model namespace (fail closed: an unknown namespace must
not be a way around the check); `--unknown-namespaces skip` judges only known ones.

Exit status: 0 when nothing is denied, 1 when any `deny` violation is found, 2 on bad input.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tools.gator import GatorError, Report, gator_version, is_policy_object
from tools.gator import review as gator_review
from tools.manifests import InputError, load_manifests

__all__ = ["check", "main"]

_DEFAULT_STACK = "prod"


@functools.lru_cache(maxsize=4)
def _stack_policies(stack: str) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """A stack's policy objects and its other objects, rendered once per process (a render takes
    seconds; the stack files do not change under a check)."""
    from tools.render import render_objects

    objects = render_objects(stack)
    return tuple(o for o in objects if is_policy_object(o)), tuple(o for o in objects if not is_policy_object(o))


def _namespaces(objects: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == "Namespace" and o.get("apiVersion") == "v1"}


def _assumed_model_namespaces(
    reviewed: list[dict[str, Any]], known: dict[str, dict[str, Any]], policies: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Namespace objects for namespaces nobody described, labelled as the constraints select."""
    labels: dict[str, str] = {}
    for policy in policies:
        if policy["apiVersion"].startswith("constraints.gatekeeper.sh/"):
            match = (policy.get("spec") or {}).get("match") or {}
            labels.update((match.get("namespaceSelector") or {}).get("matchLabels") or {})
    missing = {
        (o.get("metadata") or {}).get("namespace")
        for o in reviewed
        if (o.get("metadata") or {}).get("namespace") not in (None, "", *known)
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        for name in sorted(missing)
    ]


def check(
    paths: list[Path], stack: str | None = None, assume_unknown_are_model: bool = True, allow_empty: bool = False
) -> Report:
    """Judge the Kubernetes objects under `paths`; see the module docstring for the policy source."""
    found = load_manifests(paths)
    policies = [o for o in found if is_policy_object(o)]
    reviewed = [o for o in found if not is_policy_object(o)]
    if not reviewed and not allow_empty:
        raise InputError("no Kubernetes objects to check in the given paths")
    context: tuple[dict[str, Any], ...] = ()
    if stack is not None or not any(p["apiVersion"].startswith("constraints.gatekeeper.sh/") for p in policies):
        stack_policies, context = _stack_policies(stack or _DEFAULT_STACK)
        policies = list(stack_policies)
    known = _namespaces([*context, *reviewed])
    warnings = []
    if assume_unknown_are_model:
        extra = _assumed_model_namespaces(reviewed, known, policies)
    else:
        # gator refuses a namespaced object whose Namespace it lacks: leave those out, and say so.
        extra = []
        unknown = [o for o in reviewed if (o.get("metadata") or {}).get("namespace") not in (None, "", *known)]
        reviewed = [o for o in reviewed if all(o is not u for u in unknown)]
        warnings = [
            f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata'].get('name', '')}: not judged, "
            "its namespace is unknown (--unknown-namespaces skip)"
            for o in unknown
        ]
    reviewed_ids = {id(o) for o in reviewed}
    namespaces = [ns for ns in known.values() if id(ns) not in reviewed_ids]
    report = gator_review([*policies, *namespaces, *extra, *reviewed])
    report.warnings.extend(warnings)
    return report


def _print_report(report: Report) -> None:
    for violation in report.violations:
        print(violation.format())
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{report.summary()} [{gator_version()}]")


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.policy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="judge manifests with the admission policies")
    check_parser.add_argument("paths", nargs="+", type=Path, help="YAML files or directories")
    check_parser.add_argument("--stack", help="take the policies from this stack's render")
    check_parser.add_argument(
        "--unknown-namespaces",
        choices=("model", "skip"),
        default="model",
        help="treat namespaces without a Namespace object as model namespaces (default) or skip them",
    )
    check_parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="succeed when the paths hold no Kubernetes object (a hook given only CI or stack YAML)",
    )
    arguments = parser.parse_args(argv)
    from secure_model_serving.settings import SettingsError
    from tools.toolchain import ToolchainError

    try:
        report = check(arguments.paths, arguments.stack, arguments.unknown_namespaces == "model", arguments.allow_empty)
    except (InputError, GatorError, SettingsError, ToolchainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_report(report)
    return 1 if report.denied else 0


if __name__ == "__main__":
    sys.exit(main())
