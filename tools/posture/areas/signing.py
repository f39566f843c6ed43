"""Image and model signing: ClusterImagePolicies, policy-controller's settings, the model's verifier key.

A ClusterImagePolicy weakens when it goes, when its mode leaves `enforce`, when it accepts a new
authority (signer, key, identity) or an authority drops a check, and through its globs: a signed
policy that covers fewer images checks less, while a `static: pass` policy that covers more images
waives more. policy-controller weakens when it is removed, stops denying images no policy covers,
or checks fewer namespaces. The model's verifier key changing means another signer's models load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from secure_model_serving.serving_contract import ServerEnv
from secure_model_serving.serving_vocabulary import SupplyChainMode
from secure_model_serving.tenant.workload import SIGNING_KEY_DATA_KEY
from tools.manifests import pod_spec
from tools.posture.compare import added, pairs, release_lost, removed_protection
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "signing"
KINDS = frozenset({"ClusterImagePolicy", "ConfigMap"})
GROUPS: frozenset[str] = frozenset()
CHARTS = frozenset({"policy-controller"})

_ENFORCE = SupplyChainMode.ENFORCE
_NO_MATCH = "webhook.configData.no-match-policy"


def _waives(document: dict[str, Any]) -> bool:
    """Whether a policy lets its images pass without a signature."""
    return any(dig(authority, "static.action") == "pass" for authority in dig(document, "spec.authorities") or ())


def _globs(document: dict[str, Any] | None) -> list[str]:
    return [str(entry.get("glob")) for entry in dig(document, "spec.images") or ()]


def _policy_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "ClusterImagePolicy"):
        if now is None:
            if was is not None and not _waives(was):
                yield removed_protection(AREA, key, "these images are no longer checked for signatures")
            continue
        if was is None:
            if _waives(now):
                yield Finding(AREA, str(key), "spec.images", ABSENT, short(_globs(now)), "admitted without a signature")
            continue
        subject = str(key)
        mode_was, mode_now = dig(was, "spec.mode") or _ENFORCE, dig(now, "spec.mode") or _ENFORCE
        if mode_was == _ENFORCE and mode_now != _ENFORCE:
            yield Finding(AREA, subject, "spec.mode", mode_was, mode_now, "unsigned images are admitted")
        if _waives(now):
            grown = added(_globs(was), _globs(now))
            if grown:
                yield Finding(AREA, subject, "spec.images", short(_globs(was)), short(grown), "more images waived")
        else:
            lost = [glob for glob in _globs(was) if glob not in _globs(now)]
            if lost:
                yield Finding(AREA, subject, "spec.images", short(lost), short(_globs(now)), "fewer images checked")
        authorities = added(dig(was, "spec.authorities") or (), dig(now, "spec.authorities") or ())
        if authorities:
            yield Finding(
                AREA,
                subject,
                "spec.authorities",
                "(not accepted)",
                short(authorities),
                "another signer, key or identity accepted",
            )
        if dig(was, "spec.policy") and dig(now, "spec.policy") != dig(was, "spec.policy"):
            yield Finding(
                AREA, subject, "spec.policy", "set", short(dig(now, "spec.policy")), "attestation policy changed"
            )


def _controller_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    yield from release_lost(AREA, old, new, "policy-controller", "no image signature checks at all")
    was, now = old.values("policy-controller"), new.values("policy-controller")
    if was is None or now is None:
        return
    if dig(was, _NO_MATCH) == "deny" and dig(now, _NO_MATCH) != "deny":
        yield Finding(
            AREA,
            "Helm release policy-controller",
            _NO_MATCH,
            "deny",
            short(dig(now, _NO_MATCH)),
            "images no policy covers are admitted",
        )
    for path in ("webhook.namespaceSelector", "webhook.objectSelector"):
        if dig(now, path) != dig(was, path):
            yield Finding(
                AREA,
                "Helm release policy-controller",
                path,
                short(dig(was, path)),
                short(dig(now, path)),
                "review which namespaces are checked",
            )
    if dig(now, "webhook.image") != dig(was, "webhook.image"):
        yield Finding(
            AREA,
            "Helm release policy-controller",
            "webhook.image",
            short(dig(was, "webhook.image")),
            short(dig(now, "webhook.image")),
            "another verifier runs",
        )


def _verifier_key_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "ConfigMap"):
        # The data key holds a dot: read it directly, not as a dotted path.
        key_was = (dig(was, "data") or {}).get(SIGNING_KEY_DATA_KEY)
        key_now = (dig(now, "data") or {}).get(SIGNING_KEY_DATA_KEY)
        if key_was is not None and key_now is not None and key_was != key_now:
            yield Finding(
                AREA,
                str(key),
                f"data.{SIGNING_KEY_DATA_KEY}",
                "the reviewed key",
                "another key",
                "models signed by another key will load",
            )


_VERIFIER_ENV = frozenset(
    {ServerEnv.MODEL_VERIFY_METHOD, ServerEnv.MODEL_SIGNER_IDENTITY, ServerEnv.MODEL_CERTIFICATE_CHAIN}
)
"""The model server's verification settings (serving_contract.py) as the Deployment passes them."""


def _verifier_env(document: dict[str, Any] | None) -> dict[str, str]:
    return {
        f"{c.get('name')}: {e['name']}": str(e.get("value"))
        for c in (pod_spec(document) or {}).get("containers") or []
        for e in c.get("env") or []
        if e.get("name") in _VERIFIER_ENV
    }


def _verifier_setting_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Another verification method, signer or chain path: which models load changes."""
    for key, was, now in pairs(old, new, "Deployment"):
        if was is None or now is None:
            continue
        before, after = _verifier_env(was), _verifier_env(now)
        for name in sorted(before.keys() | after.keys()):
            if before.get(name) != after.get(name):
                why = "models signed by another signer (or checked another way) will load"
                yield Finding(AREA, str(key), f"env {name}", short(before.get(name)), short(after.get(name)), why)


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every signing weakening between two renders."""
    yield from _verifier_setting_weakenings(old, new)
    yield from _policy_weakenings(old, new)
    yield from _controller_weakenings(old, new)
    yield from _verifier_key_weakenings(old, new)
