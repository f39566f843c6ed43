"""Kubernetes manifests as the offline tools read them: YAML files in, objects, pod specs and
containers out.

One module for what the render diff (tools.posture), the audit, the policy check, the sandbox and
the CRD schema checks all need, so that a workload kind, a container list or the YAML loader is
written once. It needs only PyYAML (no Pulumi), so the policy pack's own virtualenv can import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CONTAINER_LISTS",
    "LOADER",
    "POD_CONTROLLER_KINDS",
    "WORKLOAD_KINDS",
    "YAML_SUFFIXES",
    "InputError",
    "containers",
    "containers_by_list",
    "is_kubernetes_object",
    "load_manifests",
    "load_yaml",
    "load_yaml_all",
    "pod_metadata",
    "pod_spec",
    "unpack_lists",
    "yaml_files",
]

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The safe loader; the C one where PyYAML was built with it (it reads a render, or the large Istio
CRD bundle, several times faster)."""

YAML_SUFFIXES = (".yaml", ".yml")

POD_CONTROLLER_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
"""The controllers whose pods Gatekeeper judges through the ExpansionTemplates, in apply order."""

WORKLOAD_KINDS = frozenset({"Pod", "ReplicationController", *POD_CONTROLLER_KINDS})
"""Every built-in kind that carries a pod spec."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
"""The pod spec's container lists; a check that skips one leaves a way around it."""


class InputError(ValueError):
    """The paths cannot be read as manifests."""


def load_yaml(text: str) -> Any:
    """One YAML document."""
    return yaml.load(text, Loader=LOADER)


def load_yaml_all(text: str) -> list[Any]:
    """Every YAML document of a stream (empty ones included, as None)."""
    return list(yaml.load_all(text, Loader=LOADER))


def yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The YAML files of `paths`: files as given, folders searched recursively in sorted order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
        elif path.is_file():
            yield path
        else:
            raise InputError(f"{path}: no such file or directory")


def is_kubernetes_object(document: Any) -> bool:
    """A mapping with a string apiVersion and a kind."""
    return isinstance(document, dict) and isinstance(document.get("apiVersion"), str) and "kind" in document


def unpack_lists(documents: Iterable[Any]) -> list[Any]:
    """The documents with every `*List` replaced by its items (recursively) and empty ones dropped."""
    found: list[Any] = []
    for document in documents:
        if not document:
            continue
        items = document.get("items") if isinstance(document, dict) else None
        if str(document.get("kind", "")).endswith("List") and isinstance(items, list):
            found.extend(unpack_lists(items))
        else:
            found.append(document)
    return found


def load_manifests(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every Kubernetes object in the YAML files under `paths` (Lists are unpacked)."""
    objects: list[dict[str, Any]] = []
    for file in yaml_files(paths):
        try:
            documents = load_yaml_all(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise InputError(f"{file}: not valid YAML ({error})") from None
        kubernetes = [document for document in documents if is_kubernetes_object(document)]
        objects.extend(document for document in unpack_lists(kubernetes) if is_kubernetes_object(document))
    return objects


def _pod_template(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = document.get("spec") or {}
    if document.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return template if isinstance(template, dict) else None


def pod_spec(document: Any) -> dict[str, Any] | None:
    """The pod spec of a Pod or of a workload's pod template (CronJobs through their job template);
    None for anything else."""
    if not isinstance(document, dict) or "kind" not in document:
        return None
    if document["kind"] == "Pod":
        return document.get("spec") or {}
    template = _pod_template(document)
    return None if template is None else (template.get("spec") or {})


def pod_metadata(document: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata the pods get: a Pod's own, or its workload's pod template's."""
    if document.get("kind") == "Pod":
        return dict(document.get("metadata") or {})
    template = _pod_template(document)
    return dict((template or {}).get("metadata") or {})


def containers(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every container of the pod: init, regular and ephemeral."""
    return [c for field in CONTAINER_LISTS for c in spec.get(field) or ()]


def containers_by_list(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container of the pod keyed `<list>/<name>` (a name may repeat across lists)."""
    return {f"{field}/{c.get('name', '?')}": c for field in CONTAINER_LISTS for c in spec.get(field) or ()}
