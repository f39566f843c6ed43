"""Pod hardening: every security-relevant field of every workload's pod and of each of its containers.

Each workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
ReplicationController) is reduced to facts: for the pod (host namespaces, token automount, service
links, service account, risky volumes, sysctls, mesh annotations) and for each init, app and
ephemeral container (privilege, escalation, root, capabilities, seccomp, AppArmor, SELinux, proc
mount, read-only root, image pinning and pull policy, limits, host ports, secrets in the
environment). A fact is a guard that must stay on, a set that must not grow, or a bound that must
not fall. A workload or container that is new is compared with the hardened baseline, so it shows
every guard it lacks; the mesh's injected containers are judged through the pod-shape constraint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from secure_model_serving.policies.parameters import MIN_ID
from tools.manifests import WORKLOAD_KINDS, containers_by_list, pod_metadata, pod_spec
from tools.posture.compare import pairs
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import ObjectKey, Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "pod hardening"
KINDS = WORKLOAD_KINDS | {"ServiceAccount"}
GROUPS: frozenset[str] = frozenset()
CHARTS: frozenset[str] = frozenset()

_CONFINED_SECCOMP = ("RuntimeDefault", "Localhost")
_LIMITS = ("cpu", "memory", "ephemeral-storage")
# Volume types that carry nothing from the host or the API: anything else is worth a look.
_PLAIN_VOLUMES = frozenset({"name", "emptyDir", "configMap", "downwardAPI"})
# Pod annotations and labels that take a pod out of the mesh or out of its confinement.
_MESH_BYPASS_PREFIXES = ("traffic.sidecar.istio.io/exclude", "container.apparmor.security.beta.kubernetes.io/")
_INJECT = "sidecar.istio.io/inject"


@dataclass(frozen=True)
class Fact:
    """One security fact: `guard` must stay True, `grows` must not gain entries, `bound` must not fall."""

    field: str
    how: str  # "guard", "grows" or "bound"
    read: Callable[..., Any]
    why: str
    on_new: bool = True  # compare a new container or workload with the hardened baseline


_BASELINE = {"guard": True, "grows": frozenset(), "bound": MIN_ID}


def _ctx(spec: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A container's security setting, falling back to the pod's securityContext."""
    own = (container.get("securityContext") or {}).get(key)
    return own if own is not None else (spec.get("securityContext") or {}).get(key)


def _own(container: dict[str, Any], path: str) -> Any:
    return dig(container.get("securityContext") or {}, path)


def _secret_env(container: dict[str, Any]) -> frozenset[str]:
    found = {
        f"{item.get('name')} <- secret {dig(item, 'valueFrom.secretKeyRef.name')}"
        for item in container.get("env") or ()
        if dig(item, "valueFrom.secretKeyRef")
    }
    found |= {
        f"all of secret {dig(item, 'secretRef.name')}" for item in container.get("envFrom") or () if "secretRef" in item
    }
    return frozenset(found)


def _writable_mounts(spec: dict[str, Any], container: dict[str, Any]) -> frozenset[str]:
    scratch = {v.get("name") for v in spec.get("volumes") or () if "emptyDir" in v}
    return frozenset(
        f"{m.get('name')} at {m.get('mountPath')}"
        for m in container.get("volumeMounts") or ()
        if not m.get("readOnly") and m.get("name") not in scratch
    )


CONTAINER_FACTS: tuple[Fact, ...] = (
    Fact("securityContext.privileged", "guard", lambda s, c: _own(c, "privileged") is not True, "privileged"),
    Fact(
        "securityContext.allowPrivilegeEscalation",
        "guard",
        lambda s, c: _own(c, "allowPrivilegeEscalation") is False,
        "may gain privileges (setuid)",
    ),
    Fact("securityContext.runAsNonRoot", "guard", lambda s, c: _ctx(s, c, "runAsNonRoot") is True, "may run as root"),
    Fact("securityContext.runAsUser", "bound", lambda s, c: _ctx(s, c, "runAsUser") or -1, "lower or unset user id"),
    Fact("securityContext.runAsGroup", "bound", lambda s, c: _ctx(s, c, "runAsGroup") or -1, "lower or unset group id"),
    Fact(
        "securityContext.readOnlyRootFilesystem",
        "guard",
        lambda s, c: _own(c, "readOnlyRootFilesystem") is True,
        "writable root file system",
    ),
    Fact(
        "securityContext.capabilities.drop",
        "guard",
        lambda s, c: "ALL" in (_own(c, "capabilities.drop") or ()),
        "capabilities no longer all dropped",
    ),
    Fact(
        "securityContext.capabilities.add",
        "grows",
        lambda s, c: frozenset(_own(c, "capabilities.add") or ()),
        "capabilities added",
    ),
    Fact(
        "securityContext.seccompProfile",
        "guard",
        lambda s, c: (_ctx(s, c, "seccompProfile") or {}).get("type") in _CONFINED_SECCOMP,
        "syscalls unconfined",
    ),
    Fact(
        "securityContext.appArmorProfile",
        "guard",
        lambda s, c: (_ctx(s, c, "appArmorProfile") or {}).get("type") != "Unconfined",
        "AppArmor unconfined",
    ),
    Fact(
        "securityContext.seLinuxOptions",
        "grows",
        lambda s, c: frozenset(f"{k}={v}" for k, v in (_ctx(s, c, "seLinuxOptions") or {}).items()),
        "custom SELinux",
    ),
    Fact("securityContext.procMount", "guard", lambda s, c: _own(c, "procMount") != "Unmasked", "unmasked /proc"),
    Fact(
        "securityContext.windowsOptions.hostProcess",
        "guard",
        lambda s, c: (_ctx(s, c, "windowsOptions") or {}).get("hostProcess") is not True,
        "host process",
    ),
    Fact("image", "guard", lambda s, c: "@sha256:" in str(c.get("image", "")), "image no longer pinned by digest"),
    Fact(
        "image (repository)",
        "grows",
        lambda s, c: frozenset({str(c.get("image", "")).split("@")[0].rsplit(":", 1)[0]}),
        "another image",
        on_new=False,
    ),
    Fact("imagePullPolicy", "guard", lambda s, c: c.get("imagePullPolicy") == "Always", "cached image may be used"),
    Fact(
        "resources.limits",
        "grows",
        lambda s, c: frozenset(k for k in _LIMITS if k not in (dig(c, "resources.limits") or {})),
        "limit missing",
    ),
    Fact(
        "ports.hostPort",
        "grows",
        lambda s, c: frozenset(str(p["hostPort"]) for p in c.get("ports") or () if p.get("hostPort")),
        "host port",
    ),
    Fact("env (secrets)", "grows", lambda s, c: _secret_env(c), "secret in the environment"),
    Fact("volumeMounts (writable)", "grows", _writable_mounts, "writable mount"),
)


def _token_automounted(render: Render, namespace: str, spec: dict[str, Any]) -> bool:
    """The pod's own setting, else its ServiceAccount's (from the render), else Kubernetes' default: on."""
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    account = render.objects.get(ObjectKey("ServiceAccount", namespace, spec.get("serviceAccountName") or "default"))
    setting = (account or {}).get("automountServiceAccountToken")
    return True if setting is None else bool(setting)


def _risky_volumes(spec: dict[str, Any]) -> frozenset[str]:
    found = set()
    for volume in spec.get("volumes") or ():
        kinds = sorted(set(volume) - _PLAIN_VOLUMES)
        if kinds:
            path = dig(volume, "hostPath.path")
            found.add(f"{volume.get('name')} ({', '.join(kinds)}{f' {path}' if path else ''})")
    return frozenset(found)


def _mesh_bypass(metadata: dict[str, Any]) -> frozenset[str]:
    found = {
        f"{key}={value}"
        for source in ("annotations", "labels")
        for key, value in (metadata.get(source) or {}).items()
        if str(key).startswith(_MESH_BYPASS_PREFIXES) or (key == _INJECT and str(value).lower() == "false")
    }
    return frozenset(found)


POD_FACTS: tuple[Fact, ...] = (
    *(
        Fact(f"spec.{key}", "guard", lambda r, d, s, k=key: s.get(k) is not True, "shares the host's namespace")
        for key in ("hostNetwork", "hostPID", "hostIPC")
    ),
    Fact(
        "spec.hostUsers", "guard", lambda r, d, s: s.get("hostUsers") is False, "user namespace dropped", on_new=False
    ),
    Fact(
        "spec.shareProcessNamespace",
        "guard",
        lambda r, d, s: s.get("shareProcessNamespace") is not True,
        "containers see each other's processes",
    ),
    # Each side's own ServiceAccounts decide the default.
    Fact(
        "spec.automountServiceAccountToken",
        "guard",
        lambda r, d, s: not _token_automounted(r, _namespace(d), s),
        "an API token is mounted into the pod",
    ),
    # Said by the pod itself too (its admission policy asks for that), not only by its account.
    Fact(
        "spec.automountServiceAccountToken (the pod's own)",
        "guard",
        lambda r, d, s: s.get("automountServiceAccountToken") is False,
        "the pod no longer refuses a token itself",
        on_new=False,
    ),
    Fact(
        "spec.enableServiceLinks",
        "guard",
        lambda r, d, s: s.get("enableServiceLinks") is False,
        "service addresses injected into the environment",
    ),
    Fact(
        "spec.serviceAccountName",
        "grows",
        lambda r, d, s: frozenset({s.get("serviceAccountName") or "default"}),
        "runs as another identity",
        on_new=False,
    ),
    Fact("spec.volumes", "grows", lambda r, d, s: _risky_volumes(s), "host, secret or token volume added"),
    Fact(
        "spec.securityContext.sysctls",
        "grows",
        lambda r, d, s: frozenset(f"{x.get('name')}={x.get('value')}" for x in dig(s, "securityContext.sysctls") or ()),
        "sysctl set",
    ),
    Fact(
        "spec.securityContext.supplementalGroups",
        "grows",
        lambda r, d, s: frozenset(str(g) for g in dig(s, "securityContext.supplementalGroups") or () if g < MIN_ID),
        "low group id",
    ),
    Fact(
        "spec.nodeName",
        "grows",
        lambda r, d, s: frozenset({s["nodeName"]}) if s.get("nodeName") else frozenset(),
        "pinned to a node, bypassing the scheduler",
    ),
    Fact(
        "metadata (mesh and confinement)",
        "grows",
        lambda r, d, s: _mesh_bypass(pod_metadata(d)),
        "taken out of the mesh or its confinement",
    ),
)


def _namespace(document: dict[str, Any]) -> str:
    return str(dig(document, "metadata.namespace") or "")


def _compare(fact: Fact, was: Any, now: Any) -> tuple[str, str] | None:
    """(old, new) as shown, when `now` is weaker than `was`."""
    if fact.how == "guard" and was and not now:
        return "on", "off"
    if fact.how == "grows" and now - was:
        return short(sorted(was)) if was else ABSENT, short(sorted(now - was))
    if fact.how == "bound" and now < was:
        return str(was), "unset" if now < 0 else str(now)
    return None


def _judge(
    subject: str, facts: tuple[Fact, ...], before: tuple | None, after: tuple, prefix: str = ""
) -> Iterator[Finding]:
    for fact in facts:
        now = fact.read(*after)
        if before is None:
            if not fact.on_new:
                continue
            was = _BASELINE[fact.how]
        else:
            was = fact.read(*before)
        shown = _compare(fact, was, now)
        if shown:
            yield Finding(AREA, subject, f"{prefix}{fact.field}", *shown, fact.why)


def _workload(key: ObjectKey, was_doc: dict | None, now_doc: dict, old: Render, new: Render) -> Iterator[Finding]:
    now_spec = pod_spec(now_doc)
    if now_spec is None:
        return
    was_spec = pod_spec(was_doc) if was_doc is not None else None
    subject = str(key)
    before = None if was_spec is None else (old, was_doc, was_spec)
    yield from _judge(subject, POD_FACTS, before, (new, now_doc, now_spec))
    old_containers = containers_by_list(was_spec or {})
    for name, container in containers_by_list(now_spec).items():
        previous = old_containers.get(name)
        pair = None if previous is None else (was_spec, previous)
        yield from _judge(subject, CONTAINER_FACTS, pair, (now_spec, container), f"{name}: ")


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every pod-hardening weakening of every workload on the new side, and of ServiceAccounts."""
    for key, was_doc, now_doc in pairs(old, new, *sorted(WORKLOAD_KINDS)):
        if now_doc is not None:
            yield from _workload(key, was_doc, now_doc, old, new)
    for key, was_doc, now_doc in pairs(old, new, "ServiceAccount"):
        was_off = (was_doc or {}).get("automountServiceAccountToken") is False
        if was_off and now_doc is not None and now_doc.get("automountServiceAccountToken") is not False:
            why = "pods of this account get an API token unless they opt out"
            now = short(now_doc.get("automountServiceAccountToken"))
            yield Finding(AREA, str(key), "automountServiceAccountToken", "false", now, why)
