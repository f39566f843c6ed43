"""A small Kubernetes API client over the standard library: TLS client certificates, discovery,
server-side apply, create (optionally dry-run), impersonation and admission warnings.

Only what the sandbox needs, with no dependency beyond Python itself: `http.client` rather than
`urllib` because impersonating several groups takes one `Impersonate-Group` header per group.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FIELD_MANAGER",
    "ApiClient",
    "ApiError",
    "Identity",
    "Resource",
    "Response",
    "object_ref",
    "plural_path",
]

FIELD_MANAGER = "secure-model-serving-sandbox"
_WARNING_RE = re.compile(r'^\d{3} \S+ "(?P<text>.*)"$', re.DOTALL)


@dataclass(frozen=True)
class Identity:
    """Whom to impersonate: a user name and its groups (sent as Impersonate-* headers)."""

    user: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Response:
    """A decoded API response: status code, JSON body and the admission warnings it carried."""

    status: int
    body: dict[str, Any]
    warnings: tuple[str, ...] = ()


class ApiError(RuntimeError):
    """The API server refused a request; `message` is its Status message, verbatim."""

    def __init__(self, status: int, reason: str, message: str, warnings: Sequence[str] = ()) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.warnings = tuple(warnings)


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: its plural name and whether it is namespaced."""

    group_version: str
    plural: str
    namespaced: bool


def plural_path(group_version: str) -> str:
    """The URL prefix of a group/version: /api/v1 for the core group, /apis/G/V otherwise."""
    return "/api/v1" if group_version == "v1" else f"/apis/{group_version}"


@dataclass
class ApiClient:
    """Talks to one API server as the holder of one client certificate."""

    server: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    timeout: float = 30.0
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)
    _discovered: dict[str, dict[str, Resource]] = field(default_factory=dict, init=False, repr=False)

    # -- transport -------------------------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.create_default_context(cafile=str(self.ca_file))
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
            self._context = context
        return self._context

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        identity: Identity | None = None,
    ) -> Response:
        """Send one request; return the decoded response or raise ApiError for a 4xx/5xx."""
        parsed = urllib.parse.urlsplit(self.server)
        target = path + ("?" + urllib.parse.urlencode(query) if query else "")
        connection = http.client.HTTPSConnection(
            parsed.hostname or "127.0.0.1", parsed.port, context=self._ssl(), timeout=self.timeout
        )
        try:
            connection.putrequest(method, target)
            connection.putheader("Accept", "application/json")
            if identity is not None:
                connection.putheader("Impersonate-User", identity.user)
                for group in identity.groups:
                    connection.putheader("Impersonate-Group", group)
            payload = json.dumps(body).encode() if body is not None else b""
            if body is not None:
                connection.putheader("Content-Type", content_type)
            connection.putheader("Content-Length", str(len(payload)))
            connection.endheaders(payload)
            reply = connection.getresponse()
            raw = reply.read()
            warnings = tuple(_warning_text(value) for value in reply.headers.get_all("Warning") or ())
        finally:
            connection.close()
        try:
            decoded = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            decoded = {"message": raw.decode(errors="replace").strip()}
        if not isinstance(decoded, dict):
            decoded = {"items": decoded}
        if reply.status >= 400:
            raise ApiError(
                reply.status,
                str(decoded.get("reason") or reply.reason),
                str(decoded.get("message") or raw.decode(errors="replace").strip()),
                warnings,
            )
        return Response(reply.status, decoded, warnings)

    def get(self, path: str, **query: str) -> dict[str, Any]:
        return self.request("GET", path, query=query or None).body

    def healthy(self, path: str = "/readyz") -> bool:
        """True when the server answers `path` with 200 (any error counts as not yet)."""
        try:
            self.request("GET", path)
        except (ApiError, OSError, http.client.HTTPException):
            return False
        return True

    # -- discovery -------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """The plural and scope of a kind, from discovery (asked again when the kind is new)."""
        for attempt in range(2):
            if attempt or api_version not in self._discovered:
                self._discovered[api_version] = self._discover(api_version)
            found = self._discovered[api_version].get(kind)
            if found is not None:
                return found
        raise ApiError(404, "NotFound", f"the server does not serve {kind} in {api_version}")

    def _discover(self, api_version: str) -> dict[str, Resource]:
        try:
            listing = self.get(plural_path(api_version))
        except ApiError as error:
            if error.status == 404:
                return {}
            raise
        return {
            item["kind"]: Resource(api_version, item["name"], bool(item["namespaced"]))
            for item in listing.get("resources", [])
            if "/" not in item["name"]
        }

    def forget_discovery(self) -> None:
        """Drop what discovery found (after new CRDs were installed)."""
        self._discovered.clear()

    def paths(self, obj: Mapping[str, Any]) -> tuple[str, str]:
        """(collection path, object path) of a manifest, from its apiVersion, kind, name and namespace."""
        resource = self.resource(str(obj.get("apiVersion")), str(obj.get("kind")))
        metadata = obj.get("metadata") or {}
        prefix = plural_path(resource.group_version)
        if resource.namespaced:
            namespace = metadata.get("namespace") or "default"
            prefix = f"{prefix}/namespaces/{namespace}"
        collection = f"{prefix}/{resource.plural}"
        return collection, f"{collection}/{metadata.get('name', '')}"

    # -- writes ----------------------------------------------------------------------------------

    def apply(self, obj: Mapping[str, Any], *, identity: Identity | None = None, dry_run: bool = False) -> Response:
        """Server-side apply (PATCH application/apply-patch+yaml; JSON is YAML), taking ownership."""
        _, item = self.paths(obj)
        query = {"fieldManager": FIELD_MANAGER, "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH", item, obj, query=query, content_type="application/apply-patch+yaml", identity=identity
        )

    def create(self, obj: Mapping[str, Any], *, identity: Identity | None = None, dry_run: bool = False) -> Response:
        """POST an object to its collection (dryRun=All: admitted or refused, nothing stored)."""
        collection, _ = self.paths(obj)
        query = {"fieldManager": FIELD_MANAGER}
        if dry_run:
            query["dryRun"] = "All"
        return self.request("POST", collection, obj, query=query, identity=identity)

    def delete(self, obj: Mapping[str, Any]) -> None:
        """Delete an object; a missing one is fine."""
        _, item = self.paths(obj)
        try:
            self.request("DELETE", item)
        except ApiError as error:
            if error.status != 404:
                raise

    def wait_for(
        self,
        path: str,
        condition: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float,
        interval: float = 0.25,
        on_timeout: Callable[[], str] | None = None,
    ) -> dict[str, Any]:
        """Poll GET `path` until `condition(object)` holds; raise TimeoutError naming `what` otherwise."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while True:
            try:
                last = self.get(path)
                if condition(last):
                    return last
            except ApiError as error:
                if error.status != 404:
                    raise
            if time.monotonic() > deadline:
                detail = on_timeout() if on_timeout else json.dumps(last.get("status", {}))[:2000]
                raise TimeoutError(f"{what} not reached within {timeout:.0f}s: {detail}")
            time.sleep(interval)


def _warning_text(header: str) -> str:
    """The text of a `Warning: 299 - "text"` header."""
    match = _WARNING_RE.match(header.strip())
    return match.group("text").replace('\\"', '"') if match else header


def object_ref(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name` (or `Kind name`) of a manifest, for reports."""
    metadata = obj.get("metadata") or {}
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{obj.get('kind')} {where}{metadata.get('name', '?')}"
