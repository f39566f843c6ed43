"""Validate custom resources against upstream CustomResourceDefinition schemas, strictly.

The API server checks a custom resource against its CRD's structural OpenAPI v3 schema and,
under strict field validation, refuses fields the schema does not declare. This module does
the same offline with `jsonschema`: it reads CRD files, picks the schema of the object's
served version, and turns the Kubernetes extensions into plain JSON Schema (unknown fields are
refused unless `x-kubernetes-preserve-unknown-fields` allows them; `x-kubernetes-int-or-string`
takes either). Hand-written because no maintained Python library validates against CRDs; the
JSON Schema engine itself is the `jsonschema` library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from tools.manifests import load_yaml_all

__all__ = ["CrdCatalog", "CrdValidationError", "constraint_crd"]


class CrdValidationError(ValueError):
    """A custom resource does not match its CRD (or no served CRD version describes it)."""


def _strict(schema: Any) -> Any:
    """Copy of a CRD schema in plain JSON Schema, with undeclared fields forbidden."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _strict(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")}
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result = {"anyOf": [{"type": "integer"}, {"type": "string"}], **result}
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return result
    if schema.get("type") == "object" and "additionalProperties" not in schema:
        # The API server prunes undeclared fields; strict field validation refuses them.
        result["additionalProperties"] = False
    if "properties" in result and isinstance(result["properties"], dict) and "metadata" in result["properties"]:
        # CRDs describe metadata loosely; the API server checks it as ObjectMeta.
        result["properties"]["metadata"] = {"type": "object"}
    return result


_ROOT_FIELDS = {"apiVersion": "string", "kind": "string", "metadata": "object"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_LABEL_SELECTOR = {
    "type": "object",
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": _STRINGS,
                },
            },
        },
    },
}
# The shared part of every Constraint kind, as Gatekeeper generates it from a template.
_CONSTRAINT_MATCH = {
    "type": "object",
    "properties": {
        "kinds": {
            "type": "array",
            "items": {"type": "object", "properties": {"apiGroups": _STRINGS, "kinds": _STRINGS}},
        },
        "scope": {"type": "string", "enum": ["*", "Cluster", "Namespaced"]},
        "namespaces": _STRINGS,
        "excludedNamespaces": _STRINGS,
        "labelSelector": _LABEL_SELECTOR,
        "namespaceSelector": _LABEL_SELECTOR,
        "name": {"type": "string"},
        "source": {"type": "string", "enum": ["All", "Generated", "Original"]},
    },
}


def constraint_crd(template: dict[str, Any]) -> dict[str, Any]:
    """The CRD Gatekeeper generates for a ConstraintTemplate's kind (cluster-scoped, v1beta1).

    Gatekeeper publishes no static CRD for Constraint kinds: it builds one per template, with the
    shared `match`/`enforcementAction` fields and the template's schema for `spec.parameters`.
    """
    names = template["spec"]["crd"]["spec"]["names"]
    parameters = ((template["spec"]["crd"]["spec"].get("validation") or {}).get("openAPIV3Schema")) or {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    schema = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "properties": {
                    "enforcementAction": {"type": "string"},
                    "scopedEnforcementActions": {
                        "type": "array",
                        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                    "match": _CONSTRAINT_MATCH,
                    "parameters": parameters,
                },
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names['kind'].lower()}.constraints.gatekeeper.sh"},
        "spec": {
            "group": "constraints.gatekeeper.sh",
            "names": {"kind": names["kind"]},
            "scope": "Cluster",
            "versions": [
                {"name": version, "served": True, "schema": {"openAPIV3Schema": schema}}
                for version in ("v1beta1", "v1alpha1", "v1")
            ],
        },
    }


@dataclass(frozen=True)
class _Version:
    schema: dict[str, Any]
    namespaced: bool


class CrdCatalog:
    """Served CRD versions by (group, version, kind), loaded from CRD YAML files."""

    def __init__(self, files: Iterable[Path]) -> None:
        self._versions: dict[tuple[str, str, str], _Version] = {}
        for path in files:
            for document in load_yaml_all(path.read_text()):
                if document and document.get("kind") == "CustomResourceDefinition":
                    self._add(document)

    @classmethod
    def from_folder(cls, folder: Path) -> CrdCatalog:
        """Every CRD in the YAML files below `folder`."""
        return cls(sorted(folder.rglob("*.yaml")))

    def with_constraint_kinds(self, templates: Iterable[dict[str, Any]]) -> CrdCatalog:
        """A copy that also knows the Constraint kinds these ConstraintTemplates define."""
        extended = CrdCatalog([])
        extended._versions = dict(self._versions)
        for template in templates:
            extended._add(constraint_crd(template))
        return extended

    def _add(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served", False):
                continue
            schema = _strict(version["schema"]["openAPIV3Schema"])
            # Every object carries these, whether or not a CRD's schema spells them out (Istio's don't).
            schema.setdefault("properties", {}).update(
                {key: schema["properties"].get(key, {"type": kind}) for key, kind in _ROOT_FIELDS.items()}
            )
            key = (spec["group"], version["name"], spec["names"]["kind"])
            self._versions[key] = _Version(schema, spec.get("scope") == "Namespaced")

    def knows(self, api_version: str, kind: str) -> bool:
        """True when a served CRD version describes `apiVersion`/`kind`."""
        group, _, version = api_version.rpartition("/")
        return (group, version, kind) in self._versions

    def validate(self, document: dict[str, Any]) -> None:
        """Raise CrdValidationError unless `document` matches its CRD's served schema."""
        api_version, kind = document.get("apiVersion", ""), document.get("kind", "")
        group, _, version = api_version.rpartition("/")
        entry = self._versions.get((group, version, kind))
        name = document.get("metadata", {}).get("name", "?")
        if entry is None:
            raise CrdValidationError(f"{kind}/{name}: no served CRD version for {api_version} {kind}")
        if entry.namespaced != ("namespace" in document.get("metadata", {})):
            scope = "namespaced" if entry.namespaced else "cluster-scoped"
            raise CrdValidationError(f"{kind}/{name}: {kind} is {scope}; metadata.namespace does not match")
        errors = sorted(jsonschema.Draft7Validator(entry.schema).iter_errors(document), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(f"{'.'.join(map(str, error.path)) or '<root>'}: {error.message}" for error in errors)
            raise CrdValidationError(f"{kind}/{name}: {details}")
