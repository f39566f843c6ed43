"""Where a marker value is, in plain text: in a Pulumi state file, and in the API server's objects.

A Secret's data is base64 on the wire, so each Secret value is also read decoded; a marker found
there counts as "inside a Secret". Anything else holding it (a ConfigMap, an annotation, a
Deployment's environment, a status) counts as a leak.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from tools.sandbox.client import ApiClient, ApiError

__all__ = ["holders", "list_all_objects", "marker_in_secret", "plaintext_count"]


def plaintext_count(text: str, marker: str) -> int:
    """How often `marker` appears verbatim in `text`."""
    return text.count(marker)


def marker_in_secret(secret: Mapping[str, Any], marker: str) -> bool:
    """True when a Secret holds `marker` in one of its values (data decoded, or stringData)."""
    for value in (secret.get("data") or {}).values():
        try:
            if marker in base64.b64decode(value).decode(errors="replace"):
                return True
        except (binascii.Error, ValueError):
            continue
    return any(marker in str(value) for value in (secret.get("stringData") or {}).values())


def holders(objects: Iterable[Mapping[str, Any]], marker: str) -> tuple[list[str], list[str]]:
    """(Secrets holding `marker`, other objects holding it in plain text), as `Kind ns/name`."""
    in_secrets, elsewhere = [], []
    for obj in objects:
        metadata = obj.get("metadata") or {}
        ref = f"{obj.get('kind')} {metadata.get('namespace') or '-'}/{metadata.get('name')}"
        is_secret = obj.get("kind") == "Secret"
        if is_secret and marker_in_secret(obj, marker):
            in_secrets.append(ref)
        # Outside a Secret's values (its annotations, or any other object) the marker is a leak.
        rest = {key: value for key, value in obj.items() if not (is_secret and key in ("data", "stringData"))}
        if marker in json.dumps(rest):
            elsewhere.append(ref)
    return in_secrets, elsewhere


def _listable(client: ApiClient, group_version: str) -> list[tuple[str, str]]:
    """(kind, plural) of every top-level resource of `group_version` that can be listed."""
    base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    found = []
    for resource in client.get(base).get("resources") or []:
        if "/" not in resource["name"] and "list" in (resource.get("verbs") or []):
            found.append((str(resource["kind"]), f"{base}/{resource['name']}"))
    return found


def list_all_objects(client: ApiClient) -> list[dict[str, Any]]:
    """Every object the API server stores, of every listable resource of every preferred version."""
    versions = ["v1"] + [group["preferredVersion"]["groupVersion"] for group in client.get("/apis").get("groups") or []]
    objects: list[dict[str, Any]] = []
    for group_version in versions:
        for kind, path in _listable(client, group_version):
            try:
                items = client.get(path).get("items") or []
            except ApiError:
                continue  # e.g. a resource that only answers watch or a selector
            objects.extend({**item, "kind": kind} for item in items)
    return objects
