"""Namespace labels: Pod Security admission, the isolation label, mesh injection, signature opt-in.

The labels of a model namespace decide which protections reach it at all: the PSA level (and its
pinned version), the isolation label the constraints select on, `istio-injection` (no sidecar, no
mTLS or authorization), `policy.sigstore.dev/include` (no signature check) and Gatekeeper's own
ignore label. Every namespace's PSA labels are judged; the rest on the model namespaces. The
ValidatingAdmissionPolicies that lock those labels (and their bindings) are judged too: losing
one, a check, the Deny action or failing closed, or any change of who is excepted or what is
matched (CEL the diff cannot rank), is a weakening to review.
"""

from __future__ import annotations

from collections.abc import Iterator

from secure_model_serving.cluster.mesh import INJECTION_LABEL
from secure_model_serving.policies.parameters import ISOLATION_LABEL
from secure_model_serving.serving_vocabulary import FailurePolicy, PodSecurityMode
from secure_model_serving.tenant.image_policy import OPT_IN_LABEL
from secure_model_serving.versions import POD_SECURITY_LEVEL
from tools.posture.areas.admission import applies_to, constraints
from tools.posture.compare import added, lowered, pairs, removed_protection
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "weakenings"]

AREA = "namespace"
KINDS = frozenset({"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"})
GROUPS: frozenset[str] = frozenset()
CHARTS: frozenset[str] = frozenset()

_PSA = "pod-security.kubernetes.io"
_PSA_RANK = {"privileged": 0, "baseline": 1, POD_SECURITY_LEVEL: 2}
_REVISION_LABEL = "istio.io/rev"
# Gatekeeper skips every namespace carrying this label (when its exemption is allowed).
_GATEKEEPER_IGNORE = "admission.gatekeeper.sh/ignore"
_SIGNATURE_LABEL, _SIGNATURE_ON = next(iter(OPT_IN_LABEL.items()))
_INJECTION_LABEL, _INJECTION_ON = next(iter(INJECTION_LABEL.items()))


def _injected(labels: dict[str, str]) -> bool:
    """Whether Istio injects the namespace's pods (its injection label, or a revision label)."""
    value = labels.get(_INJECTION_LABEL)
    return value == _INJECTION_ON or (value is None and bool(labels.get(_REVISION_LABEL)))


def _psa(subject: str, was: dict[str, str], now: dict[str, str]) -> Iterator[Finding]:
    for mode in PodSecurityMode:
        label = f"{_PSA}/{mode}"
        # An absent level is privileged; an absent version is `latest`, which moves with the cluster.
        if lowered(_PSA_RANK, was.get(label, "privileged"), now.get(label, "privileged")):
            yield Finding(AREA, subject, f"label {label}", short(was.get(label)), short(now.get(label)), "lowered")
        version = f"{label}-version"
        if was.get(version) not in (None, "latest") and now.get(version) in (None, "latest"):
            why = "unpinned: the rules change with the cluster"
            yield Finding(AREA, subject, f"label {version}", was[version], short(now.get(version)), why)


def _model_labels(subject: str, was: dict[str, str], now: dict[str, str]) -> Iterator[Finding]:
    if was.get(ISOLATION_LABEL) == "true" and now.get(ISOLATION_LABEL) != "true":
        why = "the model constraints no longer select this namespace"
        yield Finding(AREA, subject, f"label {ISOLATION_LABEL}", "true", short(now.get(ISOLATION_LABEL)), why)
    if _injected(was) and not _injected(now):
        why = "pods start without the mesh sidecar: no mTLS, no authorization policy"
        yield Finding(
            AREA,
            subject,
            f"label {_INJECTION_LABEL}",
            short(was.get(_INJECTION_LABEL)),
            short(now.get(_INJECTION_LABEL)),
            why,
        )
    if was.get(_SIGNATURE_LABEL) == _SIGNATURE_ON and now.get(_SIGNATURE_LABEL) != _SIGNATURE_ON:
        why = "images are no longer checked for signatures here"
        yield Finding(AREA, subject, f"label {_SIGNATURE_LABEL}", _SIGNATURE_ON, short(now.get(_SIGNATURE_LABEL)), why)
    if _GATEKEEPER_IGNORE in now and _GATEKEEPER_IGNORE not in was:
        why = "Gatekeeper skips this namespace"
        yield Finding(AREA, subject, f"label {_GATEKEEPER_IGNORE}", ABSENT, short(now[_GATEKEEPER_IGNORE]), why)


def _constraints_lost(
    old: Render, new: Render, name: str, was: dict[str, str], now: dict[str, str]
) -> Iterator[Finding]:
    """Constraints of the new render that the old labels put on the namespace and the new ones do not."""
    lost = sorted(
        key.name
        for key, document in constraints(new).items()
        if applies_to(document, name, was) and not applies_to(document, name, now)
    )
    if lost:
        listed = ", ".join(lost[:3]) + (f" and {len(lost) - 3} more" if len(lost) > 3 else "")
        yield Finding(
            AREA,
            f"Namespace {name}",
            "metadata.labels",
            f"{len(lost)} constraints apply",
            "they no longer select it",
            listed,
        )


def _label_locks(old: Render, new: Render) -> Iterator[Finding]:
    """Weakenings of the admission policies that keep the namespaces' labels (and their bindings)."""
    for key, was, now in pairs(old, new, "ValidatingAdmissionPolicy"):
        if was is None:
            continue
        if now is None:
            yield removed_protection(AREA, key, "the namespace labels it locked may be changed by anyone")
            continue
        subject = str(key)
        dropped = [
            v["expression"] for v in added(dig(now, "spec.validations") or [], dig(was, "spec.validations") or [])
        ]
        if dropped:
            yield Finding(AREA, subject, "spec.validations", f"{len(dropped)} more checks", "dropped", short(dropped))
        policy_was, policy_now = dig(was, "spec.failurePolicy"), dig(now, "spec.failurePolicy")
        if policy_was != FailurePolicy.IGNORE and policy_now == FailurePolicy.IGNORE:
            yield Finding(AREA, subject, "spec.failurePolicy", short(policy_was), short(policy_now), "fails open")
        for field in ("spec.matchConditions", "spec.matchConstraints"):
            if dig(was, field) != dig(now, field):
                why = "who is excepted or what is matched changed (CEL: review it)"
                yield Finding(AREA, subject, field, short(dig(was, field)), short(dig(now, field)), why)
    for key, was, now in pairs(old, new, "ValidatingAdmissionPolicyBinding"):
        if was is None:
            continue
        if now is None:
            yield removed_protection(AREA, key, "its policy no longer judges anything")
        elif "Deny" in (dig(was, "spec.validationActions") or []) and "Deny" not in (
            dig(now, "spec.validationActions") or []
        ):
            why = "violations are no longer refused"
            old_actions, new_actions = dig(was, "spec.validationActions"), dig(now, "spec.validationActions")
            yield Finding(AREA, str(key), "spec.validationActions", short(old_actions), short(new_actions), why)


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every label weakening of a namespace present on both sides, and of the locks on them."""
    yield from _label_locks(old, new)
    models = old.model_namespaces()
    for key, was_doc, now_doc in pairs(old, new, "Namespace"):
        if was_doc is None or now_doc is None:
            continue
        was, now = dig(was_doc, "metadata.labels") or {}, dig(now_doc, "metadata.labels") or {}
        yield from _psa(str(key), was, now)
        if key.name in models:
            yield from _model_labels(str(key), was, now)
            yield from _constraints_lost(old, new, key.name, was, now)
