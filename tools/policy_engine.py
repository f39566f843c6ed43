"""Offline Gatekeeper: judge Kubernetes objects against ConstraintTemplates and Constraints.

The engine reproduces what Gatekeeper's validating webhook decides for a
CREATE of each object, without a cluster:

* **Templates** (`templates.gatekeeper.sh`) are compiled once with regopy
  (rego-cpp). Only Rego v1 sources are accepted (`code[].source.version:
  v1`, or the legacy `rego` field holding v1 text); libs go in beside the
  template under `data.lib`.
* **Constraints** (group `constraints.gatekeeper.sh`) select objects with
  Gatekeeper's match semantics: `kinds` (with `*`), `scope`, `namespaces` and
  `excludedNamespaces` (with prefix/suffix `*` globs), `labelSelector`,
  `namespaceSelector` (labels of Namespace objects in the same manifest set),
  `name` and `source` (Original/Generated/All).
* **ExpansionTemplates** turn workloads into the mock resources Gatekeeper
  would judge (a Deployment into a Pod named `<deployment>-pod` in the
  Deployment's namespace); a violation of the mock resource is reported
  against the workload, tagged `[Implied by <template>]`.
* **Enforcement**: `enforcementAction` deny/warn/dryrun, and `scoped` with
  `scopedEnforcementActions` resolved for one enforcement point (the
  validating webhook by default).

Speed. rego-cpp parses the input document for every query, which costs
about as much as evaluating a policy, so the input is set once per object
rather than once per constraint: a generated hook module iterates the
matched constraints and evaluates each template's `violation` with
`input.parameters` replaced by the constraint's parameters (the way
Gatekeeper's own hook does it with `with input as`; rego-cpp mis-handles
replacing the whole input, so only `input.parameters` is replaced).
`hooks=False` evaluates one constraint per query instead, and the tests use
it to cross-check the fast path.

Failures fail closed. A query that errors, or whose output regopy cannot
read (rego-cpp emits unescaped quotes when `sprintf` formats a local
variable bound to a string literal), becomes a violation of the constraint
concerned; on the fast path the group is re-run constraint by constraint so
that the error lands on the constraint that caused it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ADMISSION_TARGET",
    "DEFAULT_ENFORCEMENT_POINT",
    "Constraint",
    "Expansion",
    "PolicyEngine",
    "PolicySet",
    "PolicySetError",
    "Report",
    "Template",
    "Violation",
    "engine_version",
    "split_policy_objects",
]

ADMISSION_TARGET = "admission.k8s.gatekeeper.sh"
DEFAULT_ENFORCEMENT_POINT = "validation.gatekeeper.sh"
TEMPLATE_GROUP = "templates.gatekeeper.sh"
CONSTRAINT_GROUP = "constraints.gatekeeper.sh"
EXPANSION_GROUP = "expansion.gatekeeper.sh"
ENFORCEMENT_ACTIONS = ("deny", "warn", "dryrun")
IGNORE_LABEL = "admission.gatekeeper.sh/ignore"
_HOOK_PACKAGE = "gatekeeper_offline_hooks"
_HOOK_ENTRYPOINT = f"{_HOOK_PACKAGE}/violations"
_MAX_EXPANSION_DEPTH = 4
_PACKAGE_RE = re.compile(r"^package\s+([A-Za-z_][\w.]*)\s*$", re.MULTILINE)


class PolicySetError(ValueError):
    """The policy objects cannot be used (bad template, constraint without template, ...)."""


# --- policy objects -----------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A ConstraintTemplate's admission target, reduced to what evaluation needs."""

    name: str
    kind: str
    package: str
    rego: str
    libs: tuple[str, ...]
    parameters_schema: Mapping[str, Any] | None

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Template:
        name = _meta(obj).get("name", "")
        spec = obj.get("spec") or {}
        kind = (((spec.get("crd") or {}).get("spec") or {}).get("names") or {}).get("kind")
        if not kind:
            raise PolicySetError(f"ConstraintTemplate {name}: spec.crd.spec.names.kind is missing")
        rego, libs = _rego_of_target(_admission_target(spec, name), name)
        package = _package_of(rego)
        if package is None:
            raise PolicySetError(f"ConstraintTemplate {name}: Rego has no package")
        validation = ((spec.get("crd") or {}).get("spec") or {}).get("validation") or {}
        return cls(name, kind, package, rego, tuple(libs), validation.get("openAPIV3Schema"))


@dataclass(frozen=True)
class Constraint:
    """A Constraint: its kind (= template), match criteria, parameters and action."""

    kind: str
    name: str
    match: Mapping[str, Any]
    parameters: Mapping[str, Any]
    enforcement_action: str
    scoped_actions: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Constraint:
        spec = obj.get("spec") or {}
        return cls(
            kind=obj.get("kind", ""),
            name=_meta(obj).get("name", ""),
            match=spec.get("match") or {},
            parameters=spec.get("parameters") or {},
            enforcement_action=spec.get("enforcementAction") or "deny",
            scoped_actions=tuple(spec.get("scopedEnforcementActions") or ()),
        )

    def action_at(self, point: str) -> str | None:
        """The enforcement action at an enforcement point, None when not enforced there.

        With several scoped actions for the point the strictest wins
        (deny > warn > dryrun). An unknown action is treated as deny, the way
        Gatekeeper's webhook fails closed on it.
        """
        if self.enforcement_action != "scoped":
            return self.enforcement_action if self.enforcement_action in ENFORCEMENT_ACTIONS else "deny"
        actions = {
            entry.get("action")
            for entry in self.scoped_actions
            if any(p.get("name") in (point, "*") for p in entry.get("enforcementPoints") or ())
        }
        for action in ENFORCEMENT_ACTIONS:
            if action in actions:
                return action
        return "deny" if actions else None


@dataclass(frozen=True)
class Expansion:
    """An ExpansionTemplate: which workloads become which mock resource."""

    name: str
    apply_to: tuple[Mapping[str, Any], ...]
    template_source: str
    generated: tuple[str, str, str]
    enforcement_action: str | None

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Expansion:
        name = _meta(obj).get("name", "")
        spec = obj.get("spec") or {}
        gvk = spec.get("generatedGVK") or {}
        if not spec.get("templateSource") or not gvk.get("kind"):
            raise PolicySetError(f"ExpansionTemplate {name}: templateSource and generatedGVK are required")
        return cls(
            name=name,
            apply_to=tuple(spec.get("applyTo") or ()),
            template_source=spec["templateSource"],
            generated=(gvk.get("group", ""), gvk.get("version", ""), gvk["kind"]),
            enforcement_action=spec.get("enforcementAction") or None,
        )

    def applies_to(self, group: str, version: str, kind: str) -> bool:
        """ApplyTo matching: exact group, version and kind, no globs (as Gatekeeper)."""
        return any(
            group in (rule.get("groups") or ())
            and version in (rule.get("versions") or ())
            and kind in (rule.get("kinds") or ())
            for rule in self.apply_to
        )


@dataclass
class PolicySet:
    """Templates, constraints and expansions gathered from manifests."""

    templates: list[Template] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    expansions: list[Expansion] = field(default_factory=list)

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> PolicySet:
        policy_set = cls()
        for obj in objects:
            policy_set.add(obj)
        return policy_set

    def add(self, obj: Mapping[str, Any]) -> bool:
        """Add a policy object; False when the object is not one."""
        group = _group_of(obj)
        kind = obj.get("kind")
        if group == TEMPLATE_GROUP and kind == "ConstraintTemplate":
            self.templates.append(Template.from_object(obj))
        elif group == CONSTRAINT_GROUP:
            self.constraints.append(Constraint.from_object(obj))
        elif group == EXPANSION_GROUP and kind == "ExpansionTemplate":
            self.expansions.append(Expansion.from_object(obj))
        else:
            return False
        return True


def split_policy_objects(objects: Iterable[Mapping[str, Any]]) -> tuple[PolicySet, list[dict[str, Any]]]:
    """Separate policy objects from the objects under review."""
    policy_set = PolicySet()
    others = [dict(obj) for obj in objects if not policy_set.add(obj)]
    return policy_set, others


# --- results ------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One violation, reported against the object the user wrote."""

    action: str
    kind: str
    namespace: str
    name: str
    constraint_kind: str
    constraint_name: str
    message: str
    expansion: str | None = None

    def format(self) -> str:
        """`<action> <Kind>/<ns>/<name> [<ConstraintKind>/<constraint>]: <msg>`."""
        message = f"[Implied by {self.expansion}] {self.message}" if self.expansion else self.message
        return (
            f"{self.action} {self.kind}/{self.namespace}/{self.name} "
            f"[{self.constraint_kind}/{self.constraint_name}]: {message}"
        )


@dataclass
class Report:
    """The outcome of judging a set of objects."""

    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    objects: int = 0
    generated: int = 0
    constraints: int = 0

    def count(self, action: str) -> int:
        return sum(1 for v in self.violations if v.action == action)

    @property
    def denied(self) -> bool:
        return self.count("deny") > 0

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(a)} {a}" for a in ENFORCEMENT_ACTIONS)
        return (
            f"{self.objects} objects ({self.generated} generated by expansion) checked "
            f"against {self.constraints} constraints: {counts}"
        )


# --- the engine ---------------------------------------------------------------


@dataclass
class _Subject:
    """An object to judge, with the context Gatekeeper would have for it."""

    obj: dict[str, Any]
    namespace: str
    generated: bool
    parent: dict[str, Any]
    expansion: str | None
    action_override: str | None


class _Group:
    """Templates compiled together into one rego-cpp bundle (distinct packages, consistent libs)."""

    def __init__(self) -> None:
        self.templates: dict[str, Template] = {}
        self.libs: dict[str, str] = {}
        self.bundle: Any = None
        self.interpreter: Any = None

    def accepts(self, template: Template) -> bool:
        packages = {t.package for t in self.templates.values()}
        if template.package in packages or template.package.startswith(_HOOK_PACKAGE):
            return False
        return all(self.libs.get(_package_of(lib) or "", lib) == lib for lib in template.libs)

    def add(self, template: Template) -> None:
        self.templates[template.kind] = template
        for lib in template.libs:
            self.libs[_package_of(lib) or ""] = lib

    def compile(self) -> None:
        import regopy

        builder = regopy.Interpreter()
        for index, lib in enumerate(self.libs.values()):
            builder.add_module(f"lib_{index}.rego", lib)
        for template in self.templates.values():
            builder.add_module(f"{template.name or template.kind}.rego", template.rego)
        builder.add_module("hooks.rego", _hook_module(self.templates.values()))
        entrypoints = [_HOOK_ENTRYPOINT] + [_entrypoint(t.package) for t in self.templates.values()]
        self.bundle = builder.build(None, entrypoints)
        if not self.bundle.ok():
            raise PolicySetError(f"Rego of {sorted(self.templates)} does not compile")
        self.interpreter = regopy.Interpreter()


class PolicyEngine:
    """Compiled policy set; `review()` judges objects and returns a Report."""

    def __init__(
        self,
        policy_set: PolicySet,
        *,
        enforcement_point: str = DEFAULT_ENFORCEMENT_POINT,
        hooks: bool = True,
    ) -> None:
        self.policy_set = policy_set
        self.enforcement_point = enforcement_point
        self.hooks = hooks
        self._groups = _compile_groups(policy_set.templates)
        self._group_of_kind = {kind: g for g in self._groups for kind in g.templates}
        self._check_constraints()

    def review(self, objects: Iterable[Mapping[str, Any]], namespaces: Iterable[Mapping[str, Any]] = ()) -> Report:
        """Judge objects as CREATE requests.

        Args:
            objects: the objects under review (policy objects must be removed).
            namespaces: extra Namespace objects whose labels namespaceSelector
                may use; Namespaces among `objects` count as well.
        """
        objects = [dict(o) for o in objects]
        labels = _namespace_labels([*namespaces, *objects])
        report = Report(constraints=len(self.policy_set.constraints))
        warned: set[str] = set()
        for obj in objects:
            report.objects += 1
            for subject in self._subjects(obj):
                report.generated += subject.generated
                # A Namespace is judged by its own labels, as the webhook's namespaceSelector does.
                if _ignored_namespace(_namespace_for_match(subject.obj, subject.namespace) or "", labels):
                    continue
                report.violations.extend(self._judge(subject, labels, report, warned))
        return report

    # -- expansion ------------------------------------------------------------

    def _subjects(self, obj: dict[str, Any]) -> Iterator[_Subject]:
        namespace = _meta(obj).get("namespace", "") or ""
        yield _Subject(obj, namespace, False, obj, None, None)
        yield from self._expand(obj, obj, namespace, None, None, depth=0)

    def _expand(
        self,
        obj: dict[str, Any],
        parent: dict[str, Any],
        namespace: str,
        via: str | None,
        override: str | None,
        depth: int,
    ) -> Iterator[_Subject]:
        if depth >= _MAX_EXPANSION_DEPTH:
            return
        group, version = _group_version(obj)
        for expansion in self.policy_set.expansions:
            if not expansion.applies_to(group, version, obj.get("kind", "")):
                continue
            generated = _expand_resource(obj, expansion, namespace)
            if generated is None:
                continue
            name = via or expansion.name
            action = override or expansion.enforcement_action
            yield _Subject(generated, namespace, True, parent, name, action)
            yield from self._expand(generated, parent, namespace, name, action, depth + 1)

    # -- evaluation -----------------------------------------------------------

    def _judge(
        self, subject: _Subject, labels: Mapping[str, Mapping[str, str]], report: Report, warned: set[str]
    ) -> list[Violation]:
        matched: list[tuple[Constraint, str]] = []
        for constraint in self.policy_set.constraints:
            action = constraint.action_at(self.enforcement_point)
            if action is None:
                continue
            outcome = _matches(constraint.match, subject, labels)
            if outcome is None:
                _warn_missing_namespace(subject, constraint, report, warned)
                continue
            if outcome:
                matched.append((constraint, subject.action_override or action))
        if not matched:
            return []
        review = _review_of(subject)
        results = self._evaluate(review, [c for c, _ in matched])
        actions = {(c.kind, c.name): a for c, a in matched}
        return [
            Violation(
                action=actions[(kind, name)],
                kind=subject.parent.get("kind", ""),
                namespace=subject.namespace,
                name=_meta(subject.parent).get("name", "") or "<unnamed>",
                constraint_kind=kind,
                constraint_name=name,
                message=message,
                expansion=subject.expansion,
            )
            for kind, name, message in results
        ]

    def _evaluate(self, review: dict[str, Any], constraints: list[Constraint]) -> list[tuple[str, str, str]]:
        by_group: dict[int, list[Constraint]] = {}
        for constraint in constraints:
            by_group.setdefault(id(self._group_of_kind[constraint.kind]), []).append(constraint)
        results: list[tuple[str, str, str]] = []
        for group in self._groups:
            members = by_group.get(id(group))
            if members:
                run = self._run_hooks if self.hooks else self._run_each
                results.extend(run(group, review, members))
        return sorted(results)

    def _run_hooks(
        self, group: _Group, review: dict[str, Any], constraints: list[Constraint]
    ) -> list[tuple[str, str, str]]:
        table: dict[str, dict[str, Any]] = {}
        for constraint in constraints:
            table.setdefault(constraint.kind, {})[constraint.name] = dict(constraint.parameters)
        rows = _query(group, {"review": review, "constraints": table}, _HOOK_ENTRYPOINT)
        if isinstance(rows, str):
            # One failing template spoils the whole hook query: evaluate the constraints one
            # by one, so that the error denies only where it arises.
            return self._run_each(group, review, constraints)
        return [(kind, name, _message(result)) for kind, name, result in rows]

    def _run_each(
        self, group: _Group, review: dict[str, Any], constraints: list[Constraint]
    ) -> list[tuple[str, str, str]]:
        results: list[tuple[str, str, str]] = []
        for constraint in constraints:
            template = group.templates[constraint.kind]
            document = {"review": review, "parameters": dict(constraint.parameters)}
            rows = _query(group, document, _entrypoint(template.package))
            if isinstance(rows, str):
                results.append((constraint.kind, constraint.name, rows))
            else:
                results.extend((constraint.kind, constraint.name, _message(r)) for r in rows)
        return results

    def _check_constraints(self) -> None:
        for constraint in self.policy_set.constraints:
            if constraint.kind not in self._group_of_kind:
                raise PolicySetError(f"constraint {constraint.kind}/{constraint.name} has no ConstraintTemplate")
            template = self._group_of_kind[constraint.kind].templates[constraint.kind]
            _validate_parameters(constraint, template)


def engine_version() -> str:
    """Name and version of the Rego engine, e.g. `regopy 1.5.2 (rego-cpp)`."""
    import regopy

    return f"regopy {regopy.__version__} (rego-cpp)"


# --- helpers: templates and Rego ----------------------------------------------


def _admission_target(spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for target in spec.get("targets") or ():
        if target.get("target") == ADMISSION_TARGET:
            return target
    raise PolicySetError(f"ConstraintTemplate {name}: no {ADMISSION_TARGET} target")


def _rego_of_target(target: Mapping[str, Any], name: str) -> tuple[str, list[str]]:
    for code in target.get("code") or ():
        if code.get("engine") == "Rego":
            source = code.get("source") or {}
            if source.get("version", "v0") != "v1":
                raise PolicySetError(f"ConstraintTemplate {name}: only Rego v1 sources are supported offline")
            return source.get("rego", ""), list(source.get("libs") or ())
    if target.get("rego"):
        return target["rego"], list(target.get("libs") or ())
    raise PolicySetError(f"ConstraintTemplate {name}: no Rego source")


def _package_of(rego: str) -> str | None:
    match = _PACKAGE_RE.search(rego)
    return match.group(1) if match else None


def _entrypoint(package: str) -> str:
    return package.replace(".", "/") + "/violation"


def _hook_module(templates: Iterable[Template]) -> str:
    """Rego that evaluates every matched constraint against the one input set per object."""
    rules = [
        f"""violations contains [kind, name, result] if {{
\tkind := {json.dumps(t.kind)}
\tsome name, params in object.get(input.constraints, kind, {{}})
\tsome result in data.{t.package}.violation with input.parameters as params
}}
"""
        for t in templates
    ]
    return f"package {_HOOK_PACKAGE}\n\n" + "\n".join(rules)


def _compile_groups(templates: Iterable[Template]) -> list[_Group]:
    groups: list[_Group] = []
    kinds: set[str] = set()
    for template in templates:
        if template.kind in kinds:
            raise PolicySetError(f"two ConstraintTemplates define kind {template.kind}")
        kinds.add(template.kind)
        group = next((g for g in groups if g.accepts(template)), None)
        if group is None:
            group = _Group()
            groups.append(group)
        group.add(template)
    for group in groups:
        group.compile()
    return groups


def _query(group: _Group, document: Mapping[str, Any], entrypoint: str) -> list[Any] | str:
    """Run one entrypoint; the result list, or an error text when evaluation failed."""
    # JSON text, never a Python value: regopy's value conversion mangles backslashes. Non-ASCII
    # text goes in as UTF-8, not as \u escapes: rego-cpp keeps escapes as written, so count()
    # and indexof() would see six characters for one.
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    try:
        group.interpreter.set_input_term(text)
        output = group.interpreter.query_bundle_entrypoint(group.bundle, entrypoint)
    except ValueError as error:
        # regopy parses rego-cpp's output text as JSON, and rego-cpp can emit a string with
        # unescaped quotes (sprintf of a variable bound to a string literal). Fail closed.
        return f"policy evaluation error: rego-cpp returned unreadable output ({error})"
    if not output.ok():
        return f"policy evaluation error: {output}"
    if not output.results or not output.results[0].expressions:
        return []
    value = output.results[0].expressions[0]
    return value if isinstance(value, list) else []


def _message(result: Any) -> str:
    if isinstance(result, Mapping):
        return str(result.get("msg", result))
    return str(result)


def _validate_parameters(constraint: Constraint, template: Template) -> None:
    """Check parameters against the template schema, as the constraint CRD would."""
    if not isinstance(constraint.parameters, Mapping):
        raise PolicySetError(f"constraint {constraint.kind}/{constraint.name}: spec.parameters must be an object")
    if not template.parameters_schema:
        return
    try:
        import jsonschema
    except ImportError:  # the checker still works, it just cannot pre-validate
        return
    schema = _strip_kubernetes_extensions(template.parameters_schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(dict(constraint.parameters)), key=str)
    if errors:
        raise PolicySetError(f"constraint {constraint.kind}/{constraint.name}: invalid parameters: {errors[0].message}")


def _strip_kubernetes_extensions(schema: Any) -> Any:
    if isinstance(schema, Mapping):
        return {k: _strip_kubernetes_extensions(v) for k, v in schema.items() if not str(k).startswith("x-kubernetes-")}
    if isinstance(schema, list):
        return [_strip_kubernetes_extensions(v) for v in schema]
    return schema


# --- helpers: objects ---------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _group_version(obj: Mapping[str, Any]) -> tuple[str, str]:
    api_version = str(obj.get("apiVersion", ""))
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _group_of(obj: Mapping[str, Any]) -> str:
    return _group_version(obj)[0]


def _is_namespace(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == "Namespace" and _group_of(obj) == ""


def _namespace_labels(objects: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, str]]:
    return {_meta(o).get("name", ""): _meta(o).get("labels") or {} for o in objects if _is_namespace(o)}


def _ignored_namespace(namespace: str, labels: Mapping[str, Mapping[str, str]]) -> bool:
    """Gatekeeper's webhook skips namespaces labelled admission.gatekeeper.sh/ignore."""
    return bool(namespace) and IGNORE_LABEL in labels.get(namespace, {})


def _expand_resource(obj: Mapping[str, Any], expansion: Expansion, namespace: str) -> dict[str, Any] | None:
    source: Any = obj
    for part in expansion.template_source.split("."):
        source = source.get(part) if isinstance(source, Mapping) else None
    if not isinstance(source, Mapping):
        return None
    group, version, kind = expansion.generated
    generated = copy.deepcopy(dict(source))
    metadata = dict(generated.get("metadata") or {})
    metadata["name"] = f"{_meta(obj).get('name', '')}-{kind}".lower()
    if namespace:
        metadata["namespace"] = namespace
    generated["metadata"] = metadata
    generated["apiVersion"] = f"{group}/{version}" if group else version
    generated["kind"] = kind
    return generated


def _review_of(subject: _Subject) -> dict[str, Any]:
    group, version = _group_version(subject.obj)
    review: dict[str, Any] = {
        "kind": {"group": group, "version": version, "kind": subject.obj.get("kind", "")},
        "name": _meta(subject.obj).get("name", ""),
        "operation": "CREATE",
        "object": subject.obj,
    }
    if subject.namespace:
        review["namespace"] = subject.namespace
    return review


def _warn_missing_namespace(subject: _Subject, constraint: Constraint, report: Report, warned: set[str]) -> None:
    key = f"{subject.namespace}/{constraint.kind}/{constraint.name}"
    if key in warned:
        return
    warned.add(key)
    report.warnings.append(
        f"namespace {subject.namespace!r} is not among the manifests; its labels are unknown, so "
        f"{constraint.kind}/{constraint.name} (namespaceSelector) does not match objects in it"
    )


# --- match semantics ------------------------------------------------------------


def _matches(match: Mapping[str, Any], subject: _Subject, labels: Mapping[str, Mapping[str, str]]) -> bool | None:
    """Gatekeeper's match; None when it hinges on labels of a namespace we do not have."""
    obj = subject.obj
    checks = (
        _source_matches(match, subject),
        _kinds_match(match, obj),
        _scope_matches(match, obj, subject.namespace),
        _namespaces_match(match, obj, subject.namespace),
        _excluded_namespaces_match(match, obj, subject.namespace),
        _selector_matches(match.get("labelSelector"), _meta(obj).get("labels") or {}),
        _name_matches(match, obj),
    )
    if not all(checks):
        return False
    return _namespace_selector_matches(match, obj, subject.namespace, labels)


def _source_matches(match: Mapping[str, Any], subject: _Subject) -> bool:
    source = match.get("source") or "All"
    if source == "Generated":
        return subject.generated
    if source == "Original":
        return not subject.generated
    return True


def _kinds_match(match: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    entries = match.get("kinds") or []
    if not entries:
        return True
    group, kind = _group_of(obj), obj.get("kind", "")
    for entry in entries:
        kinds = entry.get("kinds") or []
        groups = entry.get("apiGroups") or []
        kind_ok = not kinds or "*" in kinds or kind in kinds
        group_ok = not groups or "*" in groups or group in groups
        if kind_ok and group_ok:
            return True
    return False


def _scope_matches(match: Mapping[str, Any], obj: Mapping[str, Any], namespace: str) -> bool:
    scope = match.get("scope") or "*"
    if scope == "Cluster":
        return _is_namespace(obj) or not namespace
    if scope == "Namespaced":
        return not _is_namespace(obj) and bool(namespace)
    return True


def _namespace_for_match(obj: Mapping[str, Any], namespace: str) -> str | None:
    if _is_namespace(obj):
        return _meta(obj).get("name", "")
    return namespace or None


def _namespaces_match(match: Mapping[str, Any], obj: Mapping[str, Any], namespace: str) -> bool:
    patterns = match.get("namespaces") or []
    target = _namespace_for_match(obj, namespace)
    if not patterns or target is None:
        return True
    return any(wildcard_matches(p, target) for p in patterns)


def _excluded_namespaces_match(match: Mapping[str, Any], obj: Mapping[str, Any], namespace: str) -> bool:
    patterns = match.get("excludedNamespaces") or []
    target = _namespace_for_match(obj, namespace)
    if not patterns or target is None:
        return True
    return not any(wildcard_matches(p, target) for p in patterns)


def _name_matches(match: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    pattern = match.get("name")
    return not pattern or wildcard_matches(pattern, _meta(obj).get("name", ""))


def _namespace_selector_matches(
    match: Mapping[str, Any], obj: Mapping[str, Any], namespace: str, labels: Mapping[str, Mapping[str, str]]
) -> bool | None:
    selector = match.get("namespaceSelector")
    if selector is None:
        return True
    if _is_namespace(obj):
        return _selector_matches(selector, _meta(obj).get("labels") or {})
    if not namespace:
        return True  # cluster-scoped objects are not filtered by namespaceSelector
    if namespace not in labels:
        return None
    return _selector_matches(selector, labels[namespace])


def wildcard_matches(pattern: str, candidate: str) -> bool:
    """Gatekeeper's namespace/name glob: `*` allowed at the start and/or end only."""
    if pattern.startswith("*") and pattern.endswith("*") and len(pattern) > 1:
        return pattern[1:-1] in candidate
    if pattern.startswith("*"):
        return candidate.endswith(pattern[1:])
    if pattern.endswith("*"):
        return candidate.startswith(pattern[:-1])
    return pattern == candidate


def _selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector; nil matches everything, as does an empty one."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or ())


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator")
    values = expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise PolicySetError(f"label selector operator {operator!r} is not supported")
