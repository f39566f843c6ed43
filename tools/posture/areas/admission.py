"""Admission: Gatekeeper's templates, constraints (match, parameters, enforcement), expansion and exemptions.

A template whose Rego changed is reported with its version change (policy.yaml `version`, the
`metadata.gatekeeper.sh/version` annotation), or as changed under the same version.

A constraint protects the model namespaces through its match: it weakens when it stops applying to
one (excluded, no longer listed, a selector that no longer selects it, a kind dropped), when it
enforces less (deny -> warn -> dryrun), when its parameters allow more, and when it is deleted.
Its namespaces are judged with the old render's namespace labels, so a label change is reported
once, by the namespaces area, not once per constraint.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from secure_model_serving.policies import VERSION_ANNOTATION
from secure_model_serving.serving_vocabulary import EnforcementAction
from tools.posture.compare import added, lowered, pairs, release_lost, removed_protection
from tools.posture.findings import ABSENT, Finding, short
from tools.posture.render import ObjectKey, Render, dig

__all__ = ["AREA", "CHARTS", "GROUPS", "KINDS", "applies_to", "constraints", "selector_matches", "weakenings"]

AREA = "admission"
CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
GROUPS = frozenset({CONSTRAINT_GROUP})
KINDS = frozenset({"ConstraintTemplate", "ExpansionTemplate", "Config"})
CHARTS = frozenset({"gatekeeper"})

_ACTION_RANK = {EnforcementAction.DRYRUN: 0, EnforcementAction.WARN: 1, EnforcementAction.DENY: 2}
_DEFAULT_ACTION = EnforcementAction.DENY
_BARE_NAMESPACE = "a-namespace-without-labels"
# Parameters that are requirements rather than allowances: dropping an entry loosens them.
_REQUIREMENT_MAPS = frozenset({"nodeSelector"})
_CONFIG_GROUP = "config.gatekeeper.sh"
_REGO_CHANGED = "the Rego changed: review the policy"


def group_of(document: Mapping[str, Any]) -> str:
    """The API group of an object ("" for the core group)."""
    api_version = str(document.get("apiVersion", ""))
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def constraints(render: Render) -> dict[ObjectKey, dict[str, Any]]:
    """Every Gatekeeper constraint of a render."""
    return {key: doc for key, doc in render.objects.items() if group_of(doc) == CONSTRAINT_GROUP}


def _glob_matches(pattern: str, name: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics (matchLabels and matchExpressions)."""
    if not selector:
        return True
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if (
            (operator == "In" and (not present or labels[key] not in values))
            or (operator == "NotIn" and present and labels[key] in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def _matches_pods(match: Mapping[str, Any]) -> bool:
    kinds = match.get("kinds")
    if not kinds:
        return True
    return any(
        set(entry.get("apiGroups") or [""]) & {"", "*"} and set(entry.get("kinds") or ["*"]) & {"Pod", "*"}
        for entry in kinds
    )


def applies_to(constraint: Mapping[str, Any] | None, namespace: str, labels: Mapping[str, str]) -> bool:
    """Whether a constraint judges the Pods of `namespace` (with these labels)."""
    if constraint is None:
        return False
    match = dig(constraint, "spec.match") or {}
    listed = match.get("namespaces")
    return (
        (not listed or any(_glob_matches(pattern, namespace) for pattern in listed))
        and not any(_glob_matches(pattern, namespace) for pattern in match.get("excludedNamespaces") or ())
        and selector_matches(match.get("namespaceSelector"), labels)
        and match.get("scope", "*") in ("*", "Namespaced")
        and _matches_pods(match)
    )


def _judged_namespaces(old: Render, new: Render) -> dict[str, dict[str, str]]:
    """Every model namespace (on either side) with its old labels, and a namespace with no labels."""
    found = {_BARE_NAMESPACE: {}}
    for name in sorted(old.model_namespaces() | new.model_namespaces()):
        labels = old.namespace_labels(name)
        found[name] = labels if labels is not None else (new.namespace_labels(name) or {})
    return found


def _match_weakenings(key: ObjectKey, old: dict[str, Any], new: dict[str, Any], judged: dict) -> Iterator[Finding]:
    subject = str(key)
    was, now = dig(old, "spec.match") or {}, dig(new, "spec.match") or {}
    for namespace, labels in judged.items():
        if applies_to(old, namespace, labels) and not applies_to(new, namespace, labels):
            where = "namespaces without the model labels" if namespace == _BARE_NAMESPACE else namespace
            changed = sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k))
            yield Finding(
                AREA,
                subject,
                "spec.match",
                f"applies to {where}",
                f"skips {where}",
                "changed: " + "; ".join(f"{k}: {short(was.get(k))} -> {short(now.get(k))}" for k in changed),
            )
    for field in ("labelSelector", "name"):
        if now.get(field) and now.get(field) != was.get(field):
            why = "the constraint now judges only the objects this names"
            yield Finding(AREA, subject, f"spec.match.{field}", short(was.get(field)), short(now.get(field)), why)


def _outside_models(constraint: Mapping[str, Any]) -> bool:
    """Whether a constraint judges the namespaces *without* the model labels (its registries are
    then the ones it refuses there, so dropping one loosens it)."""
    expressions = dig(constraint, "spec.match.namespaceSelector.matchExpressions") or ()
    return any(expression.get("operator") == "NotIn" for expression in expressions)


def _below(entry: Any, prefixes: list[Any]) -> bool:
    return any(str(entry) == str(prefix) or str(entry).startswith(f"{prefix}/") for prefix in prefixes)


def _parameter_weakenings(path: str, old: Any, new: Any, refuses: bool = False) -> Iterator[tuple[str, Any, Any, str]]:
    """(path, old, new, why) for every parameter that allows more than before (`refuses`: the
    constraint's registries are refused, not allowed)."""
    name = path.rsplit(".", 1)[-1]
    if isinstance(old, list) and isinstance(new, list) and name == "registries":
        if refuses:
            lost = [entry for entry in old if not _below(entry, new)]
            if lost:
                yield path, old, new, f"no longer refused: {short(lost)}"
            return
        # A prefix below an allowed one allows nothing new.
        grown = [entry for entry in new if not _below(entry, old)]
        if grown:
            yield path, old, new, f"allows more: {short(grown)}"
    elif isinstance(old, list) and isinstance(new, list):
        grown = added(old, new)
        if grown:
            yield path, old, new, f"allows more: {short(grown)}"
    elif isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            inner = f"{path}.{key}"
            if key not in new:
                if name in _REQUIREMENT_MAPS or path == "spec.parameters":
                    yield inner, old[key], None, "requirement dropped"
            elif key not in old:
                if name not in _REQUIREMENT_MAPS:
                    yield inner, None, new[key], "allows more"
            else:
                yield from _parameter_weakenings(inner, old[key], new[key], refuses)
    elif isinstance(old, bool) or isinstance(new, bool):
        if old is True and new is not True:
            yield path, old, new, "requirement dropped"
    elif isinstance(old, int | float) and isinstance(new, int | float):
        if (name.startswith("min") and new < old) or (name.startswith("max") and new > old):
            yield path, old, new, "bound loosened"
        elif not name.startswith(("min", "max")) and new != old:
            yield path, old, new, "changed"
    elif old != new:
        yield path, old, new, "changed"


def _constraint_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    judged = _judged_namespaces(old, new)
    before, after = constraints(old), constraints(new)
    for key in sorted(before):
        was, now = before[key], after.get(key)
        if now is None:
            yield removed_protection(AREA, key, "constraint deleted: its policy no longer applies")
            continue
        yield from _match_weakenings(key, was, now, judged)
        action_was = dig(was, "spec.enforcementAction") or _DEFAULT_ACTION
        action_now = dig(now, "spec.enforcementAction") or _DEFAULT_ACTION
        if lowered(_ACTION_RANK, action_was, action_now, default=_ACTION_RANK[_DEFAULT_ACTION]):
            yield Finding(
                AREA, str(key), "spec.enforcementAction", action_was, action_now, "violations no longer refused"
            )
        scoped = dig(now, "spec.scopedEnforcementActions")
        if scoped and scoped != dig(was, "spec.scopedEnforcementActions"):
            yield Finding(
                AREA, str(key), "spec.scopedEnforcementActions", "-", short(scoped), "review per-point actions"
            )
        old_parameters, new_parameters = dig(was, "spec.parameters") or {}, dig(now, "spec.parameters") or {}
        refuses = _outside_models(was)
        for path, a, b, why in _parameter_weakenings("spec.parameters", old_parameters, new_parameters, refuses):
            yield Finding(AREA, str(key), path, short(a), short(b), why)


def _version(template: Mapping[str, Any]) -> str | None:
    """A template's version (policy.yaml `version`, emitted as an annotation), None without one."""
    return (dig(template, "metadata.annotations") or {}).get(VERSION_ANNOTATION)


def _template_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "ConstraintTemplate"):
        if was is None:
            continue
        if now is None:
            yield removed_protection(AREA, key, "template deleted: its constraints are gone with it")
            continue
        if dig(was, "spec.targets") != dig(now, "spec.targets"):
            # The version says the Rego changed on purpose; the reviewer still reads the new rules.
            version_was, version_now = _version(was), _version(now)
            if version_was != version_now:
                field = f"metadata.annotations[{VERSION_ANNOTATION}]"
                yield Finding(AREA, str(key), field, short(version_was), short(version_now), _REGO_CHANGED)
            else:
                unbumped = f"{_REGO_CHANGED}; its version ({version_now}) was not raised"
                yield Finding(AREA, str(key), "spec.targets", "reviewed", "changed", unbumped)
        if dig(was, "spec.crd") != dig(now, "spec.crd"):
            yield Finding(AREA, str(key), "spec.crd", "reviewed", "changed", "parameters changed")


def _gvks(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, kind, version)
        for entry in dig(document, "spec.applyTo") or ()
        for group in entry.get("groups") or ()
        for kind in entry.get("kinds") or ()
        for version in entry.get("versions") or ()
    }


def _expansion_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "ExpansionTemplate"):
        if was is None:
            continue
        if now is None:
            yield removed_protection(AREA, key, "these workloads are no longer judged as the Pods they create")
            continue
        lost = sorted(_gvks(was) - _gvks(now))
        if lost:
            kinds = ", ".join(f"{kind} ({group or 'core'}/{version})" for group, kind, version in lost)
            yield Finding(AREA, str(key), "spec.applyTo", "judged", f"no longer judged: {kinds}", "workloads unjudged")
        for field in ("spec.templateSource", "spec.generatedGVK"):
            if dig(was, field) != dig(now, field):
                yield Finding(AREA, str(key), field, short(dig(was, field)), short(dig(now, field)), "review")
        action_was = dig(was, "spec.enforcementAction") or _DEFAULT_ACTION
        action_now = dig(now, "spec.enforcementAction") or _DEFAULT_ACTION
        if lowered(_ACTION_RANK, action_was, action_now, default=_ACTION_RANK[_DEFAULT_ACTION]):
            yield Finding(AREA, str(key), "spec.enforcementAction", action_was, action_now, "violations not refused")


def _config_exemptions(document: dict[str, Any] | None) -> set[tuple[str, str]]:
    if document is None or group_of(document) != _CONFIG_GROUP:
        return set()
    return {
        (namespace, process)
        for entry in dig(document, "spec.match") or ()
        for namespace in entry.get("excludedNamespaces") or ()
        for process in entry.get("processes") or ()
    }


def _exemption_weakenings(old: Render, new: Render) -> Iterator[Finding]:
    for key, was, now in pairs(old, new, "Config"):
        for namespace, process in sorted(_config_exemptions(now) - _config_exemptions(was)):
            why = "Gatekeeper ignores this namespace" + (" (a model namespace)" if namespace in _models(old) else "")
            yield Finding(AREA, str(key), "spec.match.excludedNamespaces", ABSENT, f"{namespace} ({process})", why)
    was, now = old.values("gatekeeper"), new.values("gatekeeper")
    if was is None or now is None:
        return
    for path in ("controllerManager.exemptNamespaces", "validatingWebhookExemptNamespacesLabels"):
        old_names, new_names = _names(dig(was, path)), _names(dig(now, path))
        for namespace in sorted(new_names - old_names):
            model = " (a model namespace)" if namespace in _models(old) else ""
            yield Finding(AREA, "Helm release gatekeeper", path, ABSENT, namespace, f"exempt from admission{model}")
    for path, secure in (
        ("enableGeneratorResourceExpansion", True),
        ("disableAudit", False),
        ("disableMutation", True),
        ("logDenies", True),
    ):
        if dig(was, path) == secure and dig(now, path) != secure:
            yield Finding(AREA, "Helm release gatekeeper", path, short(secure), short(dig(now, path)), "loosened")


def _names(value: Any) -> set[str]:
    """Namespace names in an exempt list, or in a {label: [values]} map of them."""
    if isinstance(value, dict):
        return {str(item) for items in value.values() for item in (items or ())}
    return {str(item) for item in value or ()}


def _models(render: Render) -> set[str]:
    return render.model_namespaces()


def weakenings(old: Render, new: Render) -> Iterator[Finding]:
    """Every admission weakening between two renders."""
    yield from release_lost(AREA, old, new, "gatekeeper", "no admission control: every policy is gone")
    yield from _template_weakenings(old, new)
    yield from _constraint_weakenings(old, new)
    yield from _expansion_weakenings(old, new)
    yield from _exemption_weakenings(old, new)
