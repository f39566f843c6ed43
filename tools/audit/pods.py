"""What a pod's own spec hands an attacker who runs code in it: host access, capabilities,
secrets and service-account tokens.

Tokens are read from where they are, not only from where they would be: a projected
`serviceAccountToken` volume (a live pod's `kube-api-access-*` volume is the API server's own
injection), a legacy token Secret, and the implicit mount the ServiceAccount admission plugin adds
when `automountServiceAccountToken` resolves to true (the pod's field, else the account's, else
true) and no volume or mount stands in for it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tools.manifests import containers

__all__ = [
    "API_AUDIENCES",
    "RUNTIME_DEFAULT_CAPABILITIES",
    "effective_capabilities",
    "host_access",
    "secret_names",
    "token_mounts",
]

API_AUDIENCES = (
    "https://kubernetes.default.svc.cluster.local",
    "https://kubernetes.default.svc",
    "kubernetes.default.svc",
)
"""Audiences taken for the API server's own (its default `--api-audiences` is its issuer, commonly
one of these); a token requested without an audience is always one. A token for another audience
(Istio's `istio-ca`) is reported, but not as an API token: `--api-audience` adds a cluster's own."""

RUNTIME_DEFAULT_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""The capabilities containerd gives a container that neither drops nor adds any."""

SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where the admission plugin mounts the token (it adds none when a container already mounts
something there)."""

_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
_TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"


def _context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def host_access(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Privileged containers, host namespaces, hostPath volumes and host ports."""
    return {
        "privileged": sorted(c["name"] for c in containers(spec) if _context(c).get("privileged")),
        "namespaces": [key for key in _HOST_NAMESPACES if spec.get(key)],
        "hostPaths": sorted(
            (v.get("hostPath") or {}).get("path", "") for v in spec.get("volumes") or () if "hostPath" in v
        ),
        "hostPorts": sorted(p["hostPort"] for c in containers(spec) for p in c.get("ports") or () if p.get("hostPort")),
    }


def _capability(name: str) -> str:
    return name.upper().removeprefix("CAP_")


def effective_capabilities(container: Mapping[str, Any]) -> list[str]:
    """The capabilities a container's processes may hold: `ALL` when privileged, else the runtime's
    defaults minus those dropped plus those added."""
    context = _context(container)
    if context.get("privileged"):
        return ["ALL"]
    capabilities = context.get("capabilities") or {}
    added = {_capability(c) for c in capabilities.get("add") or ()}
    dropped = {_capability(c) for c in capabilities.get("drop") or ()}
    if "ALL" in added:
        return ["ALL"]
    kept = set() if "ALL" in dropped else set(RUNTIME_DEFAULT_CAPABILITIES) - dropped
    return sorted(kept | added)


def secret_names(spec: Mapping[str, Any]) -> list[str]:
    """Secrets the pod mounts or reads into its environment."""
    names = set()
    for volume in spec.get("volumes") or ():
        if "secret" in volume:
            names.add(volume["secret"].get("secretName", ""))
        for source in (volume.get("projected") or {}).get("sources") or ():
            if "secret" in source:
                names.add(source["secret"].get("name", ""))
    for container in containers(spec):
        names |= {
            (e.get("secretRef") or {}).get("name", "") for e in container.get("envFrom") or () if "secretRef" in e
        }
        names |= {
            ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name", "")
            for e in container.get("env") or ()
            if "secretKeyRef" in (e.get("valueFrom") or {})
        }
    return sorted(names)


def _mounted_by(spec: Mapping[str, Any], volume: str) -> list[str]:
    return [c["name"] for c in containers(spec) if any(m.get("name") == volume for m in c.get("volumeMounts") or ())]


def _automount(spec: Mapping[str, Any], account: Mapping[str, Any] | None) -> bool:
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if account is not None and account.get("automountServiceAccountToken") is not None:
        return bool(account["automountServiceAccountToken"])
    return True


def token_mounts(
    spec: Mapping[str, Any],
    account: Mapping[str, Any] | None,
    secret_types: Mapping[str, str],
    api_audiences: Collection[str] = API_AUDIENCES,
) -> list[dict[str, Any]]:
    """Every service-account token the pod holds, each as {volume, source, audience, apiToken,
    containers}; `secret_types` maps the namespace's Secret names to their types."""
    found: list[dict[str, Any]] = []
    at_token_path = {
        m.get("name")
        for c in containers(spec)
        for m in c.get("volumeMounts") or ()
        if m.get("mountPath") == SERVICE_ACCOUNT_MOUNT
    }
    for volume in spec.get("volumes") or ():
        name = volume.get("name", "")
        for source in (volume.get("projected") or {}).get("sources") or ():
            if "serviceAccountToken" in source:
                audience = (source["serviceAccountToken"] or {}).get("audience") or None
                found.append(
                    {
                        "volume": name,
                        "source": "projected",
                        "audience": audience,
                        "apiToken": audience is None or audience in api_audiences,
                        "containers": _mounted_by(spec, name),
                    }
                )
        secret = (volume.get("secret") or {}).get("secretName")
        if secret is not None and (secret_types.get(secret) == _TOKEN_SECRET_TYPE or name in at_token_path):
            found.append(
                {
                    "volume": name,
                    "source": "secret",
                    "audience": None,
                    "apiToken": True,
                    "containers": _mounted_by(spec, name),
                }
            )
    injected = any(str(v.get("name", "")).startswith("kube-api-access-") for v in spec.get("volumes") or ())
    if _automount(spec, account) and not injected and not at_token_path:
        found.append(
            {
                "volume": None,
                "source": "automount",
                "audience": None,
                "apiToken": True,
                "containers": [c["name"] for c in containers(spec)],
            }
        )
    return found
