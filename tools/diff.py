"""Render diff: compare two render directories and say first what weakens the security posture.

    python -m tools.render diff OLD_DIR NEW_DIR [--fail-on-weakening]

Both directories are as `python -m tools.render` writes them (one object per YAML file, Helm
release records under releases/). The report opens with a "Weakens security posture" section
(the table WEAKENING_CHECKS below: one small named check per rule), then lists the files added,
removed and changed, with a compact field-level diff for each changed file.

A check gets the old and new document of one file (None when the file is absent on that side)
and returns what it finds weaker; it must stay silent on the equivalent hardening or no-op.

Exit status: 0, or 1 with `--fail-on-weakening` when anything weakens the posture (CI uses it),
2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "WEAKENING_CHECKS",
    "Finding",
    "RenderDiff",
    "diff_dirs",
    "field_changes",
    "format_report",
    "main",
    "pod_spec",
    "weakenings",
]

_YAML_SUFFIXES = (".yaml", ".yml")
_MAX_VALUE = 80


_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
_ACTION_RANK = {"dryrun": 0, "warn": 1, "deny": 2}
_PSA_RANK = {"privileged": 0, "baseline": 1, "restricted": 2}
_PSA_MODES = ("enforce", "audit", "warn")
_SECCOMP_CONFINED = ("RuntimeDefault", "Localhost")
_WEAK_MTLS = ("PERMISSIVE", "DISABLE")
_CONSTRAINT_GROUP = "constraints.gatekeeper.sh/"
_FAILURE_POLICY = "validatingWebhookFailurePolicy"

Document = dict[str, Any] | None


@dataclass(frozen=True)
class Finding:
    """One weakening: the rule that flagged it, the file, and what changed."""

    rule: str
    file: str
    detail: str


def _kind(document: Document) -> str | None:
    return document.get("kind") if isinstance(document, dict) else None


def pod_spec(document: Document) -> dict[str, Any] | None:
    """The pod spec of a Pod or of a workload's pod template (CronJobs through their job template)."""
    if not isinstance(document, dict) or "kind" not in document:
        return None
    spec = document.get("spec") or {}
    if document["kind"] == "Pod":
        return spec
    if document["kind"] == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return (template.get("spec") or {}) if isinstance(template, dict) else None


def _containers(spec: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not spec:
        return {}
    return {f"{field_}/{c.get('name', '?')}": c for field_ in _CONTAINER_LISTS for c in spec.get(field_) or ()}


def _effective(spec: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A container's security setting, falling back to the pod's securityContext."""
    own = (container.get("securityContext") or {}).get(key)
    return own if own is not None else (spec.get("securityContext") or {}).get(key)


def _paired_containers(old: Document, new: Document) -> Iterator[tuple[str, dict, dict, dict, dict]]:
    """(name, old pod spec, old container, new pod spec, new container); a new container pairs with {}."""
    old_spec, new_spec = pod_spec(old) or {}, pod_spec(new)
    if new_spec is None:
        return
    before = _containers(old_spec)
    for name, container in _containers(new_spec).items():
        yield name, old_spec, before.get(name, {}), new_spec, container


def check_capability_added(old: Document, new: Document) -> list[str]:
    found = []
    for name, _, before, _, after in _paired_containers(old, new):
        had = set((before.get("securityContext") or {}).get("capabilities", {}).get("add") or ())
        has = set((after.get("securityContext") or {}).get("capabilities", {}).get("add") or ())
        found += [f"{name}: capability {cap} added" for cap in sorted(has - had)]
    return found


def check_privilege_loosened(old: Document, new: Document) -> list[str]:
    found = []
    for name, old_spec, before, new_spec, after in _paired_containers(old, new):
        was = {key: _effective(old_spec, before, key) for key in ("privileged", "allowPrivilegeEscalation")}
        now = {key: _effective(new_spec, after, key) for key in was}
        if now["privileged"] is True and was["privileged"] is not True:
            found.append(f"{name}: privileged")
        # A missing allowPrivilegeEscalation means true.
        if now["allowPrivilegeEscalation"] is not False and was["allowPrivilegeEscalation"] is False:
            found.append(f"{name}: allowPrivilegeEscalation no longer false")
        for key in ("runAsNonRoot", "readOnlyRootFilesystem"):
            if _effective(old_spec, before, key) is True and _effective(new_spec, after, key) is not True:
                found.append(f"{name}: {key} no longer true")
    return found


def check_host_access(old: Document, new: Document) -> list[str]:
    old_spec, new_spec = pod_spec(old) or {}, pod_spec(new)
    if new_spec is None:
        return []
    found = [f"{key} enabled" for key in _HOST_NAMESPACES if new_spec.get(key) and not old_spec.get(key)]
    had_paths = {(v.get("hostPath") or {}).get("path") for v in old_spec.get("volumes") or () if "hostPath" in v}
    for volume in new_spec.get("volumes") or ():
        path = (volume.get("hostPath") or {}).get("path") if "hostPath" in volume else None
        if "hostPath" in volume and path not in had_paths:
            found.append(f"hostPath volume {volume.get('name')} mounts {path}")
    for name, _, before, _, after in _paired_containers(old, new):
        had = {p.get("hostPort") for p in before.get("ports") or () if p.get("hostPort")}
        found += [
            f"{name}: hostPort {p['hostPort']}"
            for p in after.get("ports") or ()
            if p.get("hostPort") not in (None, 0, *had)
        ]
    return found


def check_seccomp_loosened(old: Document, new: Document) -> list[str]:
    found = []
    for name, old_spec, before, new_spec, after in _paired_containers(old, new):
        was = (_effective(old_spec, before, "seccompProfile") or {}).get("type")
        now = (_effective(new_spec, after, "seccompProfile") or {}).get("type")
        if was in _SECCOMP_CONFINED and now not in _SECCOMP_CONFINED:
            found.append(f"{name}: seccomp {was} -> {now or 'unset'}")
    return found


def _is_constraint(document: Document) -> bool:
    return isinstance(document, dict) and str(document.get("apiVersion", "")).startswith(_CONSTRAINT_GROUP)


def check_constraint_relaxed(old: Document, new: Document) -> list[str]:
    if not _is_constraint(old):
        return []
    if new is None:
        return [f"constraint {old['kind']}/{old['metadata']['name']} removed"]
    was = (old.get("spec") or {}).get("enforcementAction") or "deny"
    now = (new.get("spec") or {}).get("enforcementAction") or "deny"
    if _ACTION_RANK.get(now, 2) < _ACTION_RANK.get(was, 2):
        return [f"enforcementAction {was} -> {now}"]
    return []


def check_template_changed(old: Document, new: Document) -> list[str]:
    if _kind(old) != "ConstraintTemplate":
        return []
    if new is None:
        return [f"ConstraintTemplate {old['metadata']['name']} removed"]
    if (old.get("spec") or {}).get("targets") != (new.get("spec") or {}).get("targets"):
        return ["Rego changed: review the policy change"]
    return []


def check_webhook_fail_open(old: Document, new: Document) -> list[str]:
    if not isinstance(old, dict) or _FAILURE_POLICY not in (old.get("values") or {}):
        return []
    was = old["values"][_FAILURE_POLICY]
    # The chart's default is Ignore, so a dropped value fails open too.
    now = ((new or {}).get("values") or {}).get(_FAILURE_POLICY, "Ignore")
    return [f"Gatekeeper webhook failurePolicy {was} -> {now}"] if was == "Fail" and now != "Fail" else []


def _rule_covers(wide: dict[str, Any], narrow: dict[str, Any], peers: str) -> bool:
    """Whether every connection `narrow` allows is allowed by `wide` (absent peers/ports = all)."""
    wide_peers, narrow_peers = wide.get(peers), narrow.get(peers)
    wide_ports, narrow_ports = wide.get("ports"), narrow.get("ports")
    peers_ok = not wide_peers or (bool(narrow_peers) and all(p in wide_peers for p in narrow_peers))
    ports_ok = not wide_ports or (bool(narrow_ports) and all(p in wide_ports for p in narrow_ports))
    return peers_ok and ports_ok


def check_network_policy_widened(old: Document, new: Document) -> list[str]:
    if _kind(old) != "NetworkPolicy" and _kind(new) != "NetworkPolicy":
        return []
    if new is None:
        selector = (old.get("spec") or {}).get("podSelector")
        return ["default-deny NetworkPolicy removed" if not selector else "NetworkPolicy removed"]
    if old is None:
        return []
    found = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if old_spec.get("podSelector") != new_spec.get("podSelector"):
        found.append("podSelector changed: review which pods it now confines")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        policy_type = direction.capitalize()
        if policy_type in (old_spec.get("policyTypes") or ()) and policy_type not in (
            new_spec.get("policyTypes") or ()
        ):
            found.append(f"{direction} no longer restricted ({policy_type} dropped from policyTypes)")
        before = old_spec.get(direction) or []
        for rule in new_spec.get(direction) or []:
            if not any(_rule_covers(old_rule, rule, peers) for old_rule in before):
                found.append(f"{direction} rule added or broadened: {_short(rule)}")
    return found


def _psa_levels(document: Document) -> dict[str, str]:
    labels = ((document or {}).get("metadata") or {}).get("labels") or {}
    return {mode: labels.get(f"pod-security.kubernetes.io/{mode}", "privileged") for mode in _PSA_MODES}


def check_psa_lowered(old: Document, new: Document) -> list[str]:
    if _kind(old) != "Namespace" or new is None:
        return []
    was, now = _psa_levels(old), _psa_levels(new)
    return [
        f"pod-security {mode} {was[mode]} -> {now[mode]}"
        for mode in _PSA_MODES
        if _PSA_RANK.get(now[mode], 0) < _PSA_RANK.get(was[mode], 0)
    ]


def _mtls_modes(document: Document) -> set[str]:
    spec = (document or {}).get("spec") or {}
    modes = {(spec.get("mtls") or {}).get("mode", "UNSET")}
    modes |= {(level or {}).get("mode", "UNSET") for level in (spec.get("portLevelMtls") or {}).values()}
    return modes


def check_peer_authentication_weak(old: Document, new: Document) -> list[str]:
    if _kind(new) != "PeerAuthentication":
        if _kind(old) == "PeerAuthentication" and new is None and "STRICT" in _mtls_modes(old):
            return ["STRICT PeerAuthentication removed"]
        return []
    weak = sorted(
        (_mtls_modes(new) & set(_WEAK_MTLS)) - _mtls_modes(old if _kind(old) == "PeerAuthentication" else None)
    )
    return [f"mTLS mode {mode}" for mode in weak]


def check_authorization_allow_widened(old: Document, new: Document) -> list[str]:
    if _kind(new) != "AuthorizationPolicy":
        return []
    spec = new.get("spec") or {}
    if spec.get("action", "ALLOW") != "ALLOW":
        return []
    before = ((old or {}).get("spec") or {}).get("rules") or []
    found = [f"ALLOW rule added or widened: {_short(rule)}" for rule in spec.get("rules") or [] if rule not in before]
    if old is not None and (old.get("spec") or {}).get("selector") and not spec.get("selector"):
        found.append("selector removed: the ALLOW now applies to the whole namespace")
    return found


WEAKENING_CHECKS: tuple[tuple[str, Callable[[Document, Document], list[str]]], ...] = (
    ("capability added", check_capability_added),
    ("privilege loosened", check_privilege_loosened),
    ("host access introduced", check_host_access),
    ("seccomp loosened", check_seccomp_loosened),
    ("constraint removed or relaxed", check_constraint_relaxed),
    ("ConstraintTemplate removed or changed", check_template_changed),
    ("admission webhook fails open", check_webhook_fail_open),
    ("NetworkPolicy widened", check_network_policy_widened),
    ("Pod Security admission lowered", check_psa_lowered),
    ("mTLS weakened", check_peer_authentication_weak),
    ("AuthorizationPolicy ALLOW widened", check_authorization_allow_widened),
)
"""Every rule: (name shown in the report, check). Each check looks at one file's two sides."""


def weakenings(before: dict[str, Any], after: dict[str, Any]) -> list[Finding]:
    """Run every check on every file present on either side."""
    findings = []
    for name in sorted(before.keys() | after.keys()):
        for rule, check in WEAKENING_CHECKS:
            findings += [Finding(rule, name, detail) for detail in check(before.get(name), after.get(name))]
    return findings


@dataclass
class RenderDiff:
    """What changed between two renders, keyed by relative file path."""

    added: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, Any] = field(default_factory=dict)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_dir(root: Path) -> dict[str, Any]:
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    documents: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix in _YAML_SUFFIXES and p.is_file()):
        # The C loader, where built, reads a whole render several times faster.
        documents[path.relative_to(root).as_posix()] = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    return documents


def diff_dirs(old: Path, new: Path) -> RenderDiff:
    """Compare two render directories file by file."""
    before, after = _load_dir(old), _load_dir(new)
    result = RenderDiff(
        added={name: after[name] for name in sorted(after.keys() - before.keys())},
        removed={name: before[name] for name in sorted(before.keys() - after.keys())},
        changed={
            name: (before[name], after[name])
            for name in sorted(before.keys() & after.keys())
            if before[name] != after[name]
        },
    )
    result.findings = weakenings(before, after)
    return result


def field_changes(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; a missing side is None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys(), key=str):
            yield from field_changes(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from field_changes(a, b, f"{path}[{index}]")
    elif old != new:
        yield path, old, new


def _short(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("...").strip()
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _label(name: str, document: Any) -> str:
    if isinstance(document, dict) and "kind" in document:
        metadata = document.get("metadata") or {}
        where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
        return f"{name} ({document['kind']} {where}{metadata.get('name', '?')})"
    if isinstance(document, dict) and "type" in document:
        return f"{name} ({document['type']} {document.get('name', '?')})"
    return name


def format_report(result: RenderDiff) -> str:
    """The human-readable report: weakenings first, then added, removed, changed."""
    lines = ["## Weakens security posture", ""]
    if result.findings:
        lines += [f"- **{finding.rule}** `{finding.file}`: {finding.detail}" for finding in result.findings]
    else:
        lines.append("Nothing flagged.")
    lines += ["", f"## Added ({len(result.added)})", ""]
    lines += [f"- {_label(name, document)}" for name, document in result.added.items()] or ["None."]
    lines += ["", f"## Removed ({len(result.removed)})", ""]
    lines += [f"- {_label(name, document)}" for name, document in result.removed.items()] or ["None."]
    lines += ["", f"## Changed ({len(result.changed)})", ""]
    for name, (old, new) in result.changed.items():
        lines.append(f"- {_label(name, new)}")
        lines += [f"  - `{path}`: {_short(a)} -> {_short(b)}" for path, a, b in field_changes(old, new)]
    if not result.changed:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.render diff", description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the render before the change")
    parser.add_argument("new", type=Path, help="the render after the change")
    parser.add_argument("--fail-on-weakening", action="store_true", help="exit 1 when anything is flagged")
    arguments = parser.parse_args(argv)
    try:
        result = diff_dirs(arguments.old, arguments.new)
    except (ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(result), end="")
    return 1 if arguments.fail_on_weakening and result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
