"""The cases of the real-API-server tier and how each is judged.

A case is an object sent to the sandbox's API server; its verdict is what the server answered:
admitted (with any warnings) or refused (with the message, and which layer refused: the API
server's own validation, Pod Security Admission or Gatekeeper). Fixtures are placed into the
stack's model namespace under their file's stem as name (dry-run creates, so nothing collides).

Pods with `ephemeralContainers` cannot be created that way (the API allows them only through the
`pods/ephemeralcontainers` subresource, which is how `kubectl debug` adds one): the pod is created
without them, then the subresource is updated with them (dry run), then the pod is deleted.

Most denied fixtures must be refused by Gatekeeper naming their policy. The tables below hold the
exceptions, each with its reason; every one is asserted exactly, so a change makes a test fail:

- `INVALID_OBJECTS`: fixtures that are not valid Kubernetes objects. The API server refuses them
  in validation (HTTP 422) before any admission webhook sees them.
- `STACK_DEFAULTED`: fixtures whose verdict depends on what the stack deploys around the
  constraint: the model namespace's LimitRange fills in missing requests and limits before
  admission webhooks run. They are admitted, and the admitted object is checked to carry every
  limit.

Only the fixtures of each policy's as-deployed sample are sent: an extra sample's fixtures are
judged by another setting of the parameters than any stack deploys (their gator suite judges them).
- `KNOWN_DEFECTS`: attacks the real Gatekeeper admits (xfail, strict: fixing them turns the test
  red until the entry is removed).
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from secure_model_serving.policies import load_policies
from tests.policies.support import Fixture, load_fixtures
from tools.sandbox.client import ApiClient, ApiError, Identity

__all__ = [
    "INVALID_OBJECTS",
    "KNOWN_DEFECTS",
    "SIGNATURE_DENIAL",
    "STACK_DEFAULTED",
    "Fixture",
    "Verdict",
    "fixture_cases",
    "judge",
    "placed",
    "resource_gaps",
]

GATEKEEPER_DENIAL = 'admission webhook "validation.gatekeeper.sh" denied the request'
SIGNATURE_DENIAL = 'admission webhook "policy.sigstore.dev" denied the request'
_NAME_LIMIT = 52  # CronJob names are the shortest allowed

INVALID_OBJECTS: dict[str, str] = {
    "deny-extra-capabilities/denied/cap-prefixed-capability": "cannot set `allowPrivilegeEscalation` to false",
    "deny-host-path-volumes/denied/host-path-without-path": "spec.volumes[1].hostPath.path: Required value",
    "deny-host-ports/denied/ephemeral-container-host-port": "cannot be set for an Ephemeral Container",
    "deny-missing-resource-limits/denied/init-container-memory-limit-missing": "must be less than or equal to "
    "memory limit of 512Mi",
    "deny-privileged-containers/denied/deployment-privileged": "cannot set `allowPrivilegeEscalation` to false "
    "and `privileged` to true",
    "deny-privileged-containers/denied/ephemeral-container-privileged": "cannot set `allowPrivilegeEscalation` "
    "to false and `privileged` to true",
    "deny-privileged-containers/denied/init-container-privileged": "cannot set `allowPrivilegeEscalation` to "
    "false and `privileged` to true",
    "deny-privileged-containers/denied/privileged-container": "cannot set `allowPrivilegeEscalation` to false "
    "and `privileged` to true",
    "deny-probe-host-override/denied/ephemeral-container-startup-host": "cannot be set for an Ephemeral Container",
    "deny-secret-env-vars/denied/secret-name-missing": "secretKeyRef.name: Invalid value",
    "deny-unmasked-proc-mount/denied/deployment-unmasked": "`hostUsers` must be false to use `Unmasked`",
    "deny-unmasked-proc-mount/denied/ephemeral-container-unmasked": "`hostUsers` must be false to use `Unmasked`",
    "deny-unmasked-proc-mount/denied/init-container-unmasked": "`hostUsers` must be false to use `Unmasked`",
    "deny-unmasked-proc-mount/denied/proc-mount-unmasked": "`hostUsers` must be false to use `Unmasked`",
    "deny-windows-host-process/denied/container-host-process": "hostNetwork must be true",
    "deny-windows-host-process/denied/ephemeral-container-host-process": "hostNetwork must be true",
    "deny-windows-host-process/denied/init-container-host-process": "hostNetwork must be true",
    "deny-windows-host-process/denied/pod-host-process": "hostNetwork must be true",
}
"""Denied fixtures the API server refuses in validation, by id, with a fragment of its message.
(init-container-memory-limit-missing becomes invalid in the stack's namespace: the LimitRange's
default memory limit, 512Mi, is below the init container's 1Gi request.)"""

STACK_DEFAULTED: dict[str, str] = {
    "deny-missing-resource-limits/denied/cpu-limit-missing": "the LimitRange sets the default cpu limit",
    "deny-missing-resource-limits/denied/resources-missing": "the LimitRange sets every default request and limit",
}
"""Denied fixtures that the stack admits, by id, with why; the admitted object must have no gaps."""

KNOWN_DEFECTS: dict[str, str] = {}
"""Attacks the real Gatekeeper admits, by id, with the cause (the tests are strict xfails)."""


def fixture_cases() -> list[Fixture]:
    """Every as-deployed fixture of every policy folder (tests/policies/support.py reads them), by id."""
    return sorted(load_fixtures(load_policies(), samples=False), key=lambda fixture: fixture.id)


def placed(obj: Mapping[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """A copy of a fixture in `namespace`, named `name` (a DNS label short enough for any kind)."""
    copied = copy.deepcopy(dict(obj))
    metadata = copied.setdefault("metadata", {})
    metadata["namespace"] = namespace
    metadata["name"] = re.sub(r"[^a-z0-9-]", "-", name.lower())[:_NAME_LIMIT].strip("-")
    return copied


@dataclass(frozen=True)
class Verdict:
    """What the API server answered to one request."""

    admitted: bool
    status: int
    message: str = ""
    warnings: tuple[str, ...] = ()
    body: dict[str, Any] = field(default_factory=dict)
    stage: str = "create"

    @property
    def refused_by(self) -> str:
        """`gatekeeper`, `policy-controller`, `pod-security`, `validation`, `other`, or "" when admitted."""
        if self.admitted:
            return ""
        if GATEKEEPER_DENIAL in self.message:
            return "gatekeeper"
        if SIGNATURE_DENIAL in self.message:
            return "policy-controller"
        if "violates PodSecurity" in self.message:
            return "pod-security"
        if self.status == 422:
            return "validation"
        return "other"

    def names(self, constraint: str) -> bool:
        """True when Gatekeeper's refusal or one of its warnings names `constraint`."""
        tag = f"[{constraint}]"
        return (GATEKEEPER_DENIAL in self.message and tag in self.message) or any(tag in w for w in self.warnings)

    def summary(self) -> dict[str, Any]:
        return {
            "admitted": self.admitted,
            "status": self.status,
            "refused_by": self.refused_by,
            "message": self.message,
            "warnings": list(self.warnings),
            "stage": self.stage,
        }


_counter = itertools.count()


def _send(client: ApiClient, obj: Mapping[str, Any], identity: Identity | None) -> Verdict:
    try:
        response = client.create(obj, identity=identity, dry_run=True)
    except ApiError as error:
        return Verdict(False, error.status, error.message, error.warnings)
    return Verdict(True, response.status, "", response.warnings, response.body)


def judge(client: ApiClient, obj: Mapping[str, Any], identity: Identity | None = None) -> Verdict:
    """Send `obj` as `identity` (admin when None) and return the verdict; nothing is kept."""
    ephemeral = obj.get("spec", {}).get("ephemeralContainers") if obj.get("kind") == "Pod" else None
    if not ephemeral:
        return _send(client, obj, identity)
    base = copy.deepcopy(dict(obj))
    del base["spec"]["ephemeralContainers"]
    base["metadata"]["name"] = f"e2e-debug-target-{next(_counter)}"
    try:
        created = client.create(base, identity=identity)
    except ApiError as error:
        return Verdict(False, error.status, error.message, error.warnings, stage="create pod")
    try:
        pod = dict(created.body)
        pod["spec"] = {**pod["spec"], "ephemeralContainers": ephemeral}
        _, item = client.paths(base)
        try:
            response = client.request(
                "PUT", f"{item}/ephemeralcontainers", pod, query={"dryRun": "All"}, identity=identity
            )
        except ApiError as error:
            return Verdict(False, error.status, error.message, error.warnings, stage="add ephemeral container")
        return Verdict(True, response.status, "", response.warnings, response.body, stage="add ephemeral container")
    finally:
        client.delete(base)


def _pod_specs(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        yield spec
    elif obj.get("kind") == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif "template" in spec:
        yield spec["template"]["spec"]


def resource_gaps(obj: Mapping[str, Any], *, requests: bool) -> list[str]:
    """Containers (init and regular) of an object that lack a cpu, memory or ephemeral-storage limit
    (and, with `requests`, a request)."""
    gaps = []
    sections = ("limits", "requests") if requests else ("limits",)
    for spec in _pod_specs(obj):
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            resources = container.get("resources") or {}
            for section in sections:
                for resource in ("cpu", "memory", "ephemeral-storage"):
                    if resource not in (resources.get(section) or {}):
                        gaps.append(f"{container['name']}: {section}.{resource}")
    return gaps
