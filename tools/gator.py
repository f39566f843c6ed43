"""Judge Kubernetes objects with gator, Gatekeeper's own offline engine: no verdict of ours.

`gator test` loads the ConstraintTemplates, Constraints and ExpansionTemplates among the objects
it is given, then reviews every object as Gatekeeper's webhook would: the same constraint
framework, OPA, match semantics (kinds, namespaces, namespaceSelector against the Namespace
objects given) and expansion of workloads into the Pods they create. This module only writes the
objects to a file, runs the pinned gator (tools.toolchain) and reads its JSON answer.

Only the standard library and PyYAML: the policy pack's own virtualenv imports it too.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secure_model_serving.serving_vocabulary import EnforcementAction
from tools.toolchain import ensure

__all__ = [
    "POLICY_GROUPS",
    "GatorError",
    "Report",
    "Violation",
    "gator_version",
    "is_policy_object",
    "review",
]

POLICY_GROUPS = ("templates.gatekeeper.sh/", "constraints.gatekeeper.sh/", "expansion.gatekeeper.sh/")
"""API groups of the objects that make up a policy set rather than objects under review."""


class GatorError(ValueError):
    """gator refused the input (a bad template, a constraint of no template, ...): its message."""


@dataclass(frozen=True)
class Violation:
    """One violation, reported against the object the user wrote (a workload, not its mock Pod)."""

    action: str
    kind: str
    namespace: str
    name: str
    constraint_kind: str
    constraint_name: str
    message: str

    def format(self) -> str:
        """`<action> <Kind>/<ns>/<name> [<ConstraintKind>/<constraint>]: <msg>`."""
        return (
            f"{self.action} {self.kind}/{self.namespace}/{self.name} "
            f"[{self.constraint_kind}/{self.constraint_name}]: {self.message}"
        )


@dataclass
class Report:
    """The outcome of judging a set of objects."""

    violations: list[Violation] = field(default_factory=list)
    objects: int = 0
    constraints: int = 0
    warnings: list[str] = field(default_factory=list)
    """What was deliberately left unjudged, for the caller to print."""

    def count(self, action: str) -> int:
        """Violations with this enforcement action."""
        return sum(1 for violation in self.violations if violation.action == action)

    @property
    def denied(self) -> bool:
        """True when any violation would make the API server refuse the object."""
        return self.count(EnforcementAction.DENY) > 0

    def summary(self) -> str:
        """One line: how many objects were judged by how many constraints, and the outcome."""
        counts = ", ".join(f"{self.count(action)} {action}" for action in EnforcementAction)
        return f"{self.objects} objects judged by {self.constraints} constraints: {counts}"


def is_policy_object(obj: Mapping[str, Any]) -> bool:
    """True for ConstraintTemplates, Constraints and ExpansionTemplates."""
    return str(obj.get("apiVersion", "")).startswith(POLICY_GROUPS)


def gator_version() -> str:
    """`gator <version>`, for reports that must say which engine judged."""
    from tools.toolchain import TOOLS

    return f"gator {TOOLS['gator'].version}"


def _violation(result: Mapping[str, Any]) -> Violation:
    obj = result.get("violatingObject") or {}
    metadata = obj.get("metadata") or {}
    constraint = result.get("constraint") or {}
    return Violation(
        action=str(result.get("enforcementAction") or EnforcementAction.DENY),
        kind=str(obj.get("kind", "")),
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name", "")),
        constraint_kind=str(constraint.get("kind", "")),
        constraint_name=str((constraint.get("metadata") or {}).get("name", "")),
        message=str(result.get("msg", "")),
    )


def review(objects: Iterable[Mapping[str, Any]]) -> Report:
    """Every violation gator finds among `objects` (policy objects and objects under review together).

    Raises:
        GatorError: gator could not load the policies or read the objects; its own message.
    """
    documents = [dict(obj) for obj in objects]
    with tempfile.TemporaryDirectory(prefix="gator-") as scratch:
        # JSON is YAML: one document per line keeps gator's reader simple and the write exact.
        path = Path(scratch) / "objects.yaml"
        path.write_text("".join(f"---\n{json.dumps(doc, sort_keys=True)}\n" for doc in documents), encoding="utf-8")
        finished = subprocess.run(
            [str(ensure("gator")), "test", "--filename", str(path), "--output", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
    if finished.returncode not in (0, 1) or (finished.returncode == 1 and not finished.stdout.strip()):
        raise GatorError(finished.stderr.strip() or f"gator test exited {finished.returncode}")
    results = json.loads(finished.stdout) if finished.stdout.strip() else []
    violations = sorted(
        (_violation(result) for result in results or []),
        key=lambda v: (v.kind, v.namespace, v.name, v.constraint_kind, v.constraint_name, v.message),
    )
    return Report(
        violations=violations,
        objects=sum(1 for doc in documents if not is_policy_object(doc) and doc.get("kind") != "Namespace"),
        constraints=sum(1 for doc in documents if str(doc.get("apiVersion", "")).startswith(POLICY_GROUPS[1])),
    )
