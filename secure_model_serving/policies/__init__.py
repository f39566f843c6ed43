"""Admission policy library: Gatekeeper ConstraintTemplates kept as files.

Each policy lives in its own folder, named after what it forbids::

    secure_model_serving/policies/<kebab-name>/
        policy.yaml          kind, version, description, parameters (openAPIV3Schema), match_kinds,
                             and the facts the tools read: namespaces, level, bundles,
                             image_exemptible, skipped_containers (see Policy)
        src.rego             Rego v1; package = lowercase kind; `violation contains {"msg": msg} if {...}`
        template.yaml        the ConstraintTemplate, generated from the two above (`python -m
                             secure_model_serving.policies`),
                             the facts and a digest of its Rego as annotations
        constraint.yaml      the as-deployed sample: the prod stack's constraint, generated
                             (`python -m secure_model_serving.policies`, secure_model_serving/policies/deployed.py)
        suite.yaml           the `gator verify` suite: each fixture and its exact number of violations,
                             under the as-deployed constraint and under each extra sample's
        fixtures/allowed/    objects the as-deployed constraint admits (one per file)
        fixtures/denied/     objects the as-deployed constraint rejects (one per file)
        samples/<setting>/   an extra sample: constraint.yaml with other parameters (hand-written,
                             named after the setting it shows) and its own allowed/ and denied/
    policies/lib/<name>.rego shared Rego helpers, `package lib.<name>` (unit tests: `opa test
                             secure_model_serving/policies/lib`)
    secure_model_serving/policies/expansion-templates.yaml   the ExpansionTemplates (workloads judged as their Pods)

A policy that writes `import data.lib.<name>` gets `lib/<name>.rego` (and the
libs that one imports) as the `libs` of its ConstraintTemplate: Gatekeeper
compiles libs next to the template and requires their packages to live under
`lib.` (see the Rego driver of the constraint framework).

The ConstraintTemplates are `templates.gatekeeper.sh/v1` and carry the Rego
in `spec.targets[0].code[0]` as `{engine: Rego, source: {version: v1, rego,
libs}}`. The legacy `spec.targets[].rego` / `spec.targets[].libs` fields are
deliberately left out: the CRD lets Rego be given in one place only, and only
the `code` form can say `version: v1` (the legacy field is parsed as Rego v0
first).

A template's `version` (policy.yaml, emitted as `metadata.gatekeeper.sh/version`,
the gatekeeper-library annotation) must grow whenever its Rego does: the
template also carries the sha256 of its Rego and libs, so `python -m secure_model_serving.policies`
refuses to regenerate a template whose Rego changed under the same version, and
the render diff (tools/posture) names the version change.

This module is pure Python (PyYAML only, no Pulumi) so that the Pulumi
components, the policy pack, the offline checker and the tests share it, as is
parameters.py. Only the generator (`__main__.py` with deployed.py, which renders
the prod stack) needs the development environment.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = [
    "ADMISSION_TARGET",
    "ANNOTATION_PREFIX",
    "CONSTRAINT_API_VERSION",
    "CONTAINER_LISTS",
    "DIGEST_ANNOTATION",
    "EXPANSION_FILE",
    "POLICY_DIR",
    "TEMPLATE_API_VERSION",
    "TEMPLATE_FILE",
    "VERSION_ANNOTATION",
    "Bundle",
    "Level",
    "NamespaceScope",
    "Policy",
    "PolicyError",
    "constraint",
    "constraint_template",
    "expansion_templates",
    "load_policies",
    "parse_version",
    "rego_digest",
    "render_template",
    "template_annotations",
    "version_problem",
]

POLICY_DIR = Path(__file__).resolve().parent
ADMISSION_TARGET = "admission.k8s.gatekeeper.sh"
TEMPLATE_API_VERSION = "templates.gatekeeper.sh/v1"
CONSTRAINT_API_VERSION = "constraints.gatekeeper.sh/v1beta1"

_LIB_DIR_NAME = "lib"
_NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_KIND_RE = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PACKAGE_RE = re.compile(r"^package\s+([A-Za-z_][\w.]*)\s*$", re.MULTILINE)
_LIB_IMPORT_RE = re.compile(r"^import\s+data\.lib\.([A-Za-z_]\w*)\b", re.MULTILINE)
_VIOLATION_RE = re.compile(r"^violation\s+contains\s", re.MULTILINE)
_FIXTURE_SUFFIXES = (".yaml", ".yml")
_VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_FIELDS = frozenset(
    {
        "kind",
        "version",
        "description",
        "parameters",
        "match_kinds",
        "namespaces",
        "level",
        "bundles",
        "image_exemptible",
        "skipped_containers",
    }
)

VERSION_ANNOTATION = "metadata.gatekeeper.sh/version"
"""The template's version, under the gatekeeper-library's annotation."""
ANNOTATION_PREFIX = "secure-model-serving/"
"""Prefix of the annotations carrying a policy's facts in its ConstraintTemplate."""
DIGEST_ANNOTATION = ANNOTATION_PREFIX + "rego-sha256"
"""The sha256 of the template's Rego and libs (rego_digest): what a version bump must follow."""
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
"""The pod spec's container lists (what `skipped_containers` may name)."""

EXPANSION_FILE = POLICY_DIR / "expansion-templates.yaml"
"""The ExpansionTemplates, as data: deployed by the components and used by every policy suite."""
TEMPLATE_FILE = "template.yaml"
"""Each policy folder's generated ConstraintTemplate (what `gator verify` loads); kept in sync by
`python -m secure_model_serving.policies` and checked by the tests, the gatekeeper-library way."""


class NamespaceScope(StrEnum):
    """Where the platform applies a policy (`namespaces:` in policy.yaml), and with what parameters."""

    MODEL = "model"
    """Every model namespace (by its isolation label), with the stack's parameters."""
    EACH_MODEL = "each-model"
    """One constraint per model namespace, with that model's pod shape as its parameters."""
    OUTSIDE_MODEL = "outside-model"
    """Every namespace without the isolation label, with the stack's parameters."""


_Choice = TypeVar("_Choice", bound=StrEnum)


class Level(StrEnum):
    """What a policy judges (`level:` in policy.yaml): where its messages point."""

    CONTAINER = "container"
    """Each container (its own settings, or the pod's it inherits): a message names the container."""
    POD = "pod"
    """Pod-level fields only: no message is about one container."""
    OBJECT = "object"
    """Another kind of object (e.g. a Service)."""


class Bundle(StrEnum):
    """A named set of policies (`bundles:` in policy.yaml)."""

    POD_SECURITY_BASELINE = "pod-security-baseline"
    """A rule of the Pod Security Standards' baseline profile (restricted includes baseline)."""
    POD_SECURITY_RESTRICTED = "pod-security-restricted"
    """A rule of the Pod Security Standards' restricted profile: mandatory in the policy pack."""


class PolicyError(ValueError):
    """A policy folder is incomplete or inconsistent."""


@dataclass(frozen=True)
class Policy:
    """One admission policy, read from its folder.

    Attributes:
        name: folder name, kebab-case, saying what the policy forbids.
        kind: the Constraint kind (CamelCase) the template defines.
        description: what the policy forbids and why.
        rego: the Rego v1 source of the template (src.rego).
        libs: sources of the shared lib modules it imports, dependencies first.
        parameters_schema: openAPIV3Schema of the constraint's spec.parameters.
        match_kinds: the `spec.match.kinds` a constraint uses by default.
        namespaces: where the platform's constraints of the policy apply (NamespaceScope).
        version: MAJOR.MINOR.PATCH, raised whenever the Rego (or a lib it imports) changes.
        level: what it judges: each container, the pod, or another object (Level).
        bundles: the named sets it belongs to (Bundle).
        image_exemptible: whether the stack's exempt images (the mesh proxy, pinned by
            digest) are excused from it; only where that image cannot meet the rule.
        skipped_containers: container lists it leaves alone by design, each with the reason.
    """

    name: str
    kind: str
    description: str
    rego: str
    libs: tuple[str, ...]
    parameters_schema: dict[str, Any]
    match_kinds: tuple[dict[str, Any], ...]
    namespaces: NamespaceScope = NamespaceScope.MODEL
    version: str = "1.0.0"
    level: Level = Level.CONTAINER
    bundles: tuple[Bundle, ...] = ()
    image_exemptible: bool = False
    skipped_containers: Mapping[str, str] = field(default_factory=dict)

    @property
    def directory(self) -> Path:
        """The policy's folder."""
        return POLICY_DIR / self.name

    @property
    def template_name(self) -> str:
        """metadata.name of the ConstraintTemplate (Gatekeeper requires the lowercase kind)."""
        return self.kind.lower()


def load_policies(directory: Path | None = None, *, require_fixtures: bool = True) -> list[Policy]:
    """Read and validate every policy folder, sorted by name.

    Args:
        directory: the policy library (defaults to this package's folder).
        require_fixtures: also require fixtures/allowed and fixtures/denied to
            hold at least one YAML file each.

    Raises:
        PolicyError: naming the folder and what is wrong with it.
    """
    root = Path(directory) if directory is not None else POLICY_DIR
    lib_dir = root / _LIB_DIR_NAME
    policies = [
        _load_policy(folder, lib_dir, require_fixtures=require_fixtures)
        for folder in sorted(root.iterdir())
        if _is_policy_folder(folder)
    ]
    _check_unique_kinds(policies)
    return policies


def rego_digest(policy: Policy) -> str:
    """sha256 of the policy's Rego and of the libs it imports, in order."""
    return hashlib.sha256(json.dumps([policy.rego, *policy.libs]).encode("utf-8")).hexdigest()


def template_annotations(policy: Policy) -> dict[str, str]:
    """The ConstraintTemplate's annotations: the description, the version, the Rego's digest and
    the policy's facts, so a cluster's templates say what the tools know about them."""
    annotations = {
        "description": policy.description,
        VERSION_ANNOTATION: policy.version,
        DIGEST_ANNOTATION: rego_digest(policy),
        ANNOTATION_PREFIX + "namespaces": policy.namespaces.value,
        ANNOTATION_PREFIX + "level": policy.level.value,
        ANNOTATION_PREFIX + "image-exemptible": str(policy.image_exemptible).lower(),
    }
    if policy.bundles:
        annotations[ANNOTATION_PREFIX + "bundles"] = ",".join(policy.bundles)
    if policy.skipped_containers:
        annotations[ANNOTATION_PREFIX + "skipped-containers"] = ",".join(policy.skipped_containers)
    return annotations


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a MAJOR.MINOR.PATCH version, None for anything else."""
    match = _VERSION_RE.match(text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def version_problem(policy: Policy, committed: Mapping[str, Any] | None) -> str | None:
    """Why the policy's template may not replace `committed` (the template as it stands), or None.

    Its Rego changed (another digest) while its version did not grow, or its version went down.
    """
    if committed is None:
        return None
    annotations = (committed.get("metadata") or {}).get("annotations") or {}
    old_version = parse_version(str(annotations.get(VERSION_ANNOTATION, "")))
    new_version = parse_version(policy.version)
    assert new_version is not None, "load_policies validates the version"
    if old_version is None:
        return None  # a template from before versions (or a hand-broken one: the sync check says so)
    where = f"{policy.name}/policy.yaml"
    if new_version < old_version:
        return f"{where}: version {policy.version} is below the template's {annotations[VERSION_ANNOTATION]}"
    if annotations.get(DIGEST_ANNOTATION) != rego_digest(policy) and new_version == old_version:
        return f"{where}: its Rego (src.rego or a lib it imports) changed: raise `version` (now {policy.version})"
    return None


def constraint_template(policy: Policy) -> dict[str, Any]:
    """The `templates.gatekeeper.sh/v1` ConstraintTemplate for a policy."""
    source: dict[str, Any] = {"version": "v1", "rego": policy.rego}
    if policy.libs:
        source["libs"] = list(policy.libs)
    return {
        "apiVersion": TEMPLATE_API_VERSION,
        "kind": "ConstraintTemplate",
        "metadata": {
            "name": policy.template_name,
            "annotations": template_annotations(policy),
        },
        "spec": {
            "crd": {
                "spec": {
                    "names": {"kind": policy.kind},
                    "validation": {"openAPIV3Schema": policy.parameters_schema},
                },
            },
            "targets": [
                {
                    "target": ADMISSION_TARGET,
                    "code": [{"engine": "Rego", "source": source}],
                },
            ],
        },
    }


def expansion_templates() -> list[dict[str, Any]]:
    """The ExpansionTemplates that let Gatekeeper judge workloads as the Pods they create
    (secure_model_serving/policies/expansion-templates.yaml)."""
    return [doc for doc in yaml.safe_load_all(EXPANSION_FILE.read_text(encoding="utf-8")) if doc]


def render_template(policy: Policy) -> str:
    """The text of a policy's generated template.yaml, its Rego written as literal blocks.

    PyYAML never writes a string with tabs (Rego's indentation) as a block, so each Rego source
    is dumped as a placeholder and replaced by a literal block afterwards.
    """
    template = constraint_template(policy)
    source = template["spec"]["targets"][0]["code"][0]["source"]
    sources = [source["rego"], *source.get("libs", [])]
    source["rego"] = "REGO_SOURCE_0"
    if "libs" in source:
        source["libs"] = [f"REGO_SOURCE_{index}" for index in range(1, len(sources))]
    text = yaml.safe_dump(template, sort_keys=False, width=120)
    for index, rego in enumerate(sources):
        placeholder = re.search(rf"^( *)(- |rego: )REGO_SOURCE_{index}$", text, re.MULTILINE)
        assert placeholder is not None, "the dump writes each placeholder as a plain scalar"
        indent = " " * (len(placeholder.group(1)) + 2)
        block = "\n".join(indent + line if line else "" for line in rego.rstrip("\n").split("\n"))
        start, end = placeholder.span()
        text = text[:start] + placeholder.group(1) + placeholder.group(2) + "|\n" + block + text[end:]
    header = (
        f"# Generated from {policy.name}/policy.yaml, src.rego and lib/ by"
        " `python -m secure_model_serving.policies`: do not edit.\n"
    )
    return header + text


def constraint(
    policy: Policy,
    name: str | None = None,
    *,
    parameters: dict[str, Any] | None = None,
    enforcement_action: str = "deny",
    match: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Constraint of the policy's kind (a convenience for tests and tools).

    Args:
        policy: the policy whose template defines the kind.
        name: metadata.name; defaults to the policy's folder name.
        parameters: spec.parameters (omitted when None).
        enforcement_action: deny, dryrun or warn.
        match: spec.match; defaults to `{"kinds": policy.match_kinds}`.
    """
    spec: dict[str, Any] = {
        "enforcementAction": enforcement_action,
        "match": match if match is not None else {"kinds": [dict(k) for k in policy.match_kinds]},
    }
    if parameters is not None:
        spec["parameters"] = parameters
    return {
        "apiVersion": CONSTRAINT_API_VERSION,
        "kind": policy.kind,
        "metadata": {"name": name or policy.name},
        "spec": spec,
    }


def _is_policy_folder(path: Path) -> bool:
    return path.is_dir() and path.name != _LIB_DIR_NAME and not path.name.startswith((".", "_"))


def _load_policy(folder: Path, lib_dir: Path, *, require_fixtures: bool) -> Policy:
    name = folder.name
    if not _NAME_RE.match(name):
        raise PolicyError(f"{folder}: folder name must be kebab-case")
    meta = _read_policy_yaml(folder / "policy.yaml")
    rego = _read_text(folder / "src.rego")
    kind = _require_kind(meta, folder)
    _check_rego(rego, kind, folder)
    if require_fixtures:
        _check_fixtures(folder)
    schema = _require_schema(meta, folder)
    level = _require_choice(meta, "level", Level, folder)
    return Policy(
        name=name,
        kind=kind,
        description=_require_str(meta, "description", folder),
        rego=rego,
        libs=_resolve_libs(rego, lib_dir, folder),
        parameters_schema=schema,
        match_kinds=_require_match_kinds(meta, folder),
        namespaces=_require_choice(meta, "namespaces", NamespaceScope, folder, NamespaceScope.MODEL),
        version=_require_version(meta, folder),
        level=level,
        bundles=_require_bundles(meta, folder),
        image_exemptible=_require_exemptible(meta, schema, folder),
        skipped_containers=_require_skipped(meta, level, folder),
    )


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise PolicyError(f"{path}: missing")
    return path.read_text(encoding="utf-8")


def _read_policy_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(_read_text(path))
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: must be a mapping")
    unknown = set(data) - _FIELDS
    if unknown:
        raise PolicyError(f"{path}: unknown fields {sorted(unknown)}")
    return data


def _require_str(meta: dict[str, Any], field: str, folder: Path) -> str:
    value = meta.get(field)
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{folder}/policy.yaml: `{field}` must be a non-empty string")
    return value.strip()


def _require_kind(meta: dict[str, Any], folder: Path) -> str:
    kind = _require_str(meta, "kind", folder)
    if not _KIND_RE.match(kind):
        raise PolicyError(f"{folder}/policy.yaml: kind {kind!r} must be CamelCase")
    return kind


def _require_schema(meta: dict[str, Any], folder: Path) -> dict[str, Any]:
    schema = meta.get("parameters")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise PolicyError(f"{folder}/policy.yaml: `parameters` must be an openAPIV3Schema of type object")
    return schema


def _require_choice(
    meta: dict[str, Any], field: str, choices: type[_Choice], folder: Path, default: _Choice | None = None
) -> _Choice:
    """One of an enum's values (`default` when absent, required when there is none)."""
    value = meta.get(field, default.value if default is not None else None)
    allowed = [item.value for item in choices]
    if value not in allowed:
        raise PolicyError(f"{folder}/policy.yaml: `{field}` must be one of {allowed}")
    return choices(value)


def _require_version(meta: dict[str, Any], folder: Path) -> str:
    version = meta.get("version")
    if not isinstance(version, str) or parse_version(version) is None:
        raise PolicyError(f'{folder}/policy.yaml: `version` must be a quoted MAJOR.MINOR.PATCH string, e.g. "1.0.0"')
    return version


def _require_bundles(meta: dict[str, Any], folder: Path) -> tuple[Bundle, ...]:
    bundles = meta.get("bundles", [])
    allowed = [item.value for item in Bundle]
    if not isinstance(bundles, list) or any(b not in allowed for b in bundles) or len(set(bundles)) != len(bundles):
        raise PolicyError(f"{folder}/policy.yaml: `bundles` must list distinct names of {allowed}")
    # The restricted profile includes every baseline rule.
    if Bundle.POD_SECURITY_BASELINE in bundles and Bundle.POD_SECURITY_RESTRICTED not in bundles:
        raise PolicyError(
            f"{folder}/policy.yaml: `bundles`: a {Bundle.POD_SECURITY_BASELINE} rule is also "
            f"{Bundle.POD_SECURITY_RESTRICTED} (the restricted profile includes the baseline)"
        )
    return tuple(Bundle(b) for b in bundles)


def _require_exemptible(meta: dict[str, Any], schema: dict[str, Any], folder: Path) -> bool:
    exemptible = meta.get("image_exemptible", False)
    if not isinstance(exemptible, bool):
        raise PolicyError(f"{folder}/policy.yaml: `image_exemptible` must be true or false")
    if exemptible and "exemptImages" not in schema.get("properties", {}):
        raise PolicyError(f"{folder}/policy.yaml: `image_exemptible` needs an `exemptImages` parameter")
    return exemptible


def _require_skipped(meta: dict[str, Any], level: Level, folder: Path) -> dict[str, str]:
    skipped = meta.get("skipped_containers", {})
    valid = isinstance(skipped, dict) and all(
        key in CONTAINER_LISTS and isinstance(why, str) and why.strip() for key, why in skipped.items()
    )
    if not valid:
        raise PolicyError(
            f"{folder}/policy.yaml: `skipped_containers` must map container lists of {list(CONTAINER_LISTS)} "
            "to the reason each is left alone"
        )
    if skipped and level is not Level.CONTAINER:
        raise PolicyError(f"{folder}/policy.yaml: `skipped_containers` needs `level: container`")
    return {key: why.strip() for key, why in skipped.items()}


def _require_match_kinds(meta: dict[str, Any], folder: Path) -> tuple[dict[str, Any], ...]:
    kinds = meta.get("match_kinds")
    valid = (
        isinstance(kinds, list)
        and kinds
        and all(
            isinstance(k, dict)
            and isinstance(k.get("apiGroups"), list)
            and isinstance(k.get("kinds"), list)
            and k["kinds"]
            for k in kinds
        )
    )
    if not valid:
        raise PolicyError(f"{folder}/policy.yaml: `match_kinds` must list {{apiGroups, kinds}} entries")
    return tuple(kinds)


def _check_rego(rego: str, kind: str, folder: Path) -> None:
    package = _package_of(rego)
    if package != kind.lower():
        raise PolicyError(f"{folder}/src.rego: package must be {kind.lower()!r}, found {package!r}")
    if not _VIOLATION_RE.search(rego):
        raise PolicyError(f"{folder}/src.rego: needs a Rego v1 `violation contains ...` rule")


def _package_of(rego: str) -> str | None:
    match = _PACKAGE_RE.search(rego)
    return match.group(1) if match else None


def _check_fixtures(folder: Path) -> None:
    for outcome in ("allowed", "denied"):
        fixtures = folder / "fixtures" / outcome
        if not fixtures.is_dir() or not any(p.suffix in _FIXTURE_SUFFIXES for p in fixtures.iterdir()):
            raise PolicyError(f"{fixtures}: needs at least one fixture")


def _resolve_libs(rego: str, lib_dir: Path, folder: Path) -> tuple[str, ...]:
    """Lib sources imported by `rego`, transitively, dependencies first."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(source: str, importer: Path) -> None:
        for lib in _LIB_IMPORT_RE.findall(source):
            if lib in seen:
                continue
            seen.add(lib)
            path = lib_dir / f"{lib}.rego"
            if not path.is_file():
                raise PolicyError(f"{importer}: imports data.lib.{lib} but {path} is missing")
            lib_source = path.read_text(encoding="utf-8")
            if _package_of(lib_source) != f"lib.{lib}":
                raise PolicyError(f"{path}: package must be lib.{lib}")
            visit(lib_source, path)
            ordered.append(lib_source)

    visit(rego, folder / "src.rego")
    return tuple(ordered)


def _check_unique_kinds(policies: list[Policy]) -> None:
    seen: dict[str, str] = {}
    for policy in policies:
        if policy.kind in seen:
            raise PolicyError(f"kind {policy.kind} is used by both {seen[policy.kind]} and {policy.name}")
        seen[policy.kind] = policy.name
