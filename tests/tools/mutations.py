"""One-change edits of a real render, for the render diff's tests and the sample report in docs/shift-left.md.

`Mutation.apply(render)` edits a deep copy of a `tools.posture.Render` in place: objects by kind,
namespace and name, Helm releases by chart, as a reviewer's one-line change would.

    python -m tests.tools.mutations    # prints the sample report of docs/shift-left.md (from the prod render)
"""

from __future__ import annotations

import copy
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.posture.render import ObjectKey, Render, read_render
from tools.render import render_stack, write_render

__all__ = ["Mutation", "delete", "delete_release", "edit", "edit_release", "mutated", "sample_report"]

Edit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Mutation:
    """A named one-change edit of a render."""

    name: str
    apply: Callable[[Render], None]


def _file(render: Render, key: ObjectKey | str) -> str:
    return render.sources[key]


def edit(kind: str, namespace: str, name: str, change: Edit) -> Callable[[Render], None]:
    def apply(render: Render) -> None:
        change(render.objects[ObjectKey(kind, namespace, name)])

    return apply


def delete(kind: str, namespace: str, name: str) -> Callable[[Render], None]:
    def apply(render: Render) -> None:
        key = ObjectKey(kind, namespace, name)
        del render.files[_file(render, key)]
        del render.objects[key]

    return apply


def add(document: dict[str, Any]) -> Callable[[Render], None]:
    def apply(render: Render) -> None:
        metadata = document["metadata"]
        key = ObjectKey(document["kind"], metadata.get("namespace", ""), metadata["name"])
        folder = metadata.get("namespace", "cluster")
        render.files[f"{folder}/{document['kind'].lower()}-{metadata['name']}.yaml"] = document
        render.objects[key] = copy.deepcopy(document)

    return apply


def edit_release(chart: str, change: Edit) -> Callable[[Render], None]:
    def apply(render: Render) -> None:
        change(render.releases[chart]["values"])

    return apply


def delete_release(chart: str) -> Callable[[Render], None]:
    def apply(render: Render) -> None:
        del render.files[_file(render, chart)]
        del render.releases[chart]

    return apply


def mutated(render: Render, *changes: Callable[[Render], None]) -> Render:
    """A copy of `render` with the changes applied."""
    copied = copy.deepcopy(render)
    for change in changes:
        change(copied)
    return copied


def write(render: Render, out: Path) -> Path:
    """Write a (mutated) render's files as `tools.render` lays them out."""
    for name, document in render.files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(yaml.safe_dump(document, sort_keys=False, width=120))
    return out


def pod(document: dict[str, Any]) -> dict[str, Any]:
    return document["spec"]["template"]["spec"]


SAMPLE_CHANGES: tuple[Mutation, ...] = (
    Mutation(
        "the deployer Role gains secrets and pods/exec",
        edit("Role", "fraud-model", "model-deployer", lambda d: d["rules"].append(
            {"apiGroups": [""], "resources": ["secrets", "pods/exec"], "verbs": ["get", "create"]})),
    ),
    Mutation("allow-nothing deleted", delete("AuthorizationPolicy", "fraud-model", "allow-nothing")),
    Mutation(
        "Gateway TLS down to 1.0",
        edit("Gateway", "istio-ingress", "model-gateway",
             lambda d: d["spec"]["servers"][0]["tls"].update(minProtocolVersion="TLSV1_0")),
    ),
    Mutation(
        "replicas 3 -> 5 (harmless)",
        edit("Deployment", "fraud-model", "fraud-detector", lambda d: d["spec"].update(replicas=5)),
    ),
)  # fmt: skip
"""The changes behind the sample report of docs/shift-left.md."""


def sample_report() -> str:
    """The report of SAMPLE_CHANGES against the prod render, as the CLI prints it."""
    from tools.diff import diff_dirs
    from tools.posture.report import format_report

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        write_render(render_stack("prod"), root / "base")
        base = read_render(root / "base")
        write(mutated(base, *(change.apply for change in SAMPLE_CHANGES)), root / "head")
        return format_report(diff_dirs(root / "base", root / "head"))


if __name__ == "__main__":
    sys.stdout.write(sample_report())
