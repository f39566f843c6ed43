"""Reading a render directory as a whole: its objects by identity, its Helm release records by chart.

The layout is the one `tools.render` writes: `<namespace>/<kind>-<name>.yaml`,
`cluster/<kind>-<name>.yaml`, `releases/<type>-<name>.yaml` and `index.json` (not read: the files
are the render). Objects are keyed by kind, namespace and name, so a protection is followed by
what it is, never by which file holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from secure_model_serving.policies.parameters import ISOLATION_LABEL
from tools.manifests import YAML_SUFFIXES, load_yaml

__all__ = ["ObjectKey", "Render", "dig", "read_render"]

_RELEASES_DIR = "releases"
# The C loader, where built, reads a whole render several times faster.


class ObjectKey(NamedTuple):
    """Who an object is: kind, namespace ("" when cluster-scoped) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def dig(document: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path of nested mappings, or `default` when any step is missing."""
    value = document
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            return default
        value = value[step]
    return value


def _release_key(record: dict[str, Any]) -> str:
    """A release is known by its chart (a remote component without one, by its type)."""
    return str(record.get("chart") or record.get("type", "?").rsplit(":", 1)[-1])


@dataclass
class Render:
    """One render: every object and release record, and the file each came from."""

    objects: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    sources: dict[ObjectKey | str, str] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> dict[ObjectKey, dict[str, Any]]:
        """The objects of these kinds."""
        return {key: document for key, document in self.objects.items() if key.kind in kinds}

    def namespace_labels(self, namespace: str) -> dict[str, str] | None:
        """A namespace's labels, or None when the render does not create it."""
        document = self.objects.get(ObjectKey("Namespace", "", namespace))
        return None if document is None else dict(dig(document, "metadata.labels") or {})

    def model_namespaces(self) -> set[str]:
        """Namespaces this render puts under the model constraints (the isolation label)."""
        return {
            key.name
            for key, document in self.of_kind("Namespace").items()
            if (dig(document, "metadata.labels") or {}).get(ISOLATION_LABEL) == "true"
        }

    def values(self, chart: str) -> dict[str, Any] | None:
        """A release's Helm values, or None when the render does not install the chart."""
        record = self.releases.get(chart)
        return None if record is None else dict(record.get("values") or {})


def _key(document: dict[str, Any]) -> ObjectKey:
    metadata = document.get("metadata") or {}
    return ObjectKey(str(document["kind"]), str(metadata.get("namespace") or ""), str(metadata.get("name") or "?"))


def read_render(root: Path) -> Render:
    """Read a render directory; ValueError when it is not one."""
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    render = Render()
    for path in sorted(p for p in root.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()):
        name = path.relative_to(root).as_posix()
        document = load_yaml(path.read_text(encoding="utf-8"))
        render.files[name] = document
        if not isinstance(document, dict):
            continue
        if "kind" in document and "apiVersion" in document:
            render.objects[_key(document)] = document
            render.sources[_key(document)] = name
        elif name.startswith(f"{_RELEASES_DIR}/") and "type" in document:
            render.releases[_release_key(document)] = document
            render.sources[_release_key(document)] = name
    return render
