"""What the sandbox installs for one stack: its rendered objects, in apply order, and the
Gatekeeper settings its Helm release would give the manager and the webhook configuration.

The stack is rendered in process (the same program as `tools.render`). Helm releases (and the
cert-manager component) are records, not objects: the sandbox itself stands in for the
Gatekeeper release (and, when asked, the policy-controller release: tools/sandbox/policy_controller.py)
and skips the others, naming them. The CRDs come from the shared upstream
folder (`../shared/crds` beside the checkout, or `$SMS_CRDS_DIR`): every CRD one of the stack's
objects needs, and all of Gatekeeper's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.manifests import POD_CONTROLLER_KINDS, load_yaml_all
from tools.mock_engine import REPO_ROOT
from tools.sandbox.policy_controller import POLICY_CONTROLLER_CHART, PolicyControllerRelease

if TYPE_CHECKING:
    from tools.render import Rendered

__all__ = [
    "GATEKEEPER_CRD_GROUPS",
    "CrdIndex",
    "GatekeeperRelease",
    "StackPlan",
    "apply_phase",
    "crd_folder",
    "load_plan",
    "plan_from_render",
    "without_conversion_webhook",
]

GATEKEEPER_CRD_GROUPS = frozenset(
    {
        "templates.gatekeeper.sh",
        "config.gatekeeper.sh",
        "expansion.gatekeeper.sh",
        "mutations.gatekeeper.sh",
        "externaldata.gatekeeper.sh",
        "status.gatekeeper.sh",
        "syncset.gatekeeper.sh",
        "connection.gatekeeper.sh",
    }
)
"""API groups of the CRDs the Gatekeeper chart installs: all of them are installed."""

_GATEKEEPER_CHART = "gatekeeper"
# Apply order: what others refer to first, workloads (judged by the webhook) last.
_PHASES: tuple[tuple[str, ...], ...] = (
    ("Namespace",),
    ("ConstraintTemplate",),
    ("ExpansionTemplate",),
    (),  # constraints: every kind of the constraints.gatekeeper.sh group
    ("ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"),
    ("ConfigMap", "Secret", "ResourceQuota", "LimitRange", "NetworkPolicy", "Service"),
    (),  # custom resources and anything else
    POD_CONTROLLER_KINDS,
    ("HorizontalPodAutoscaler", "PodDisruptionBudget"),
)
CONSTRAINT_PHASE = 3
_OTHER_PHASE = 6


def apply_phase(obj: Mapping[str, Any]) -> int:
    """The phase (0-based, ascending) in which an object is applied."""
    if str(obj.get("apiVersion", "")).startswith("constraints.gatekeeper.sh/"):
        return CONSTRAINT_PHASE
    kind = obj.get("kind")
    for index, kinds in enumerate(_PHASES):
        if kind in kinds:
            return index
    return _OTHER_PHASE


def crd_folder() -> Path:
    """The shared folder of upstream CRDs."""
    explicit = os.environ.get("SMS_CRDS_DIR")
    return Path(explicit) if explicit else REPO_ROOT.parent / "shared" / "crds"


@dataclass(frozen=True)
class GatekeeperRelease:
    """The Gatekeeper chart values that shape the manager's flags and its webhook configuration."""

    namespace: str
    exempt_namespaces: tuple[str, ...]
    webhook_exempt_labels: Mapping[str, tuple[str, ...]]
    failure_policy: str
    timeout_seconds: int
    expansion: bool
    audit_interval: int
    log_denies: bool

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> GatekeeperRelease:
        """Read a rendered Helm release record of the Gatekeeper chart (chart defaults where unset)."""
        values = record.get("values") or {}
        if not values.get("disableMutation", False):
            raise ValueError("the sandbox runs Gatekeeper without mutation; the release enables it")
        manager = values.get("controllerManager") or {}
        labels = values.get("validatingWebhookExemptNamespacesLabels") or {}
        return cls(
            namespace=str(record.get("namespace") or "gatekeeper-system"),
            exempt_namespaces=tuple(manager.get("exemptNamespaces") or ()),
            webhook_exempt_labels={str(key): tuple(value) for key, value in labels.items()},
            failure_policy=str(values.get("validatingWebhookFailurePolicy", "Ignore")),
            timeout_seconds=int(values.get("validatingWebhookTimeoutSeconds", 3)),
            expansion=bool(values.get("enableGeneratorResourceExpansion", True)),
            audit_interval=int(values.get("auditInterval", 60)),
            log_denies=bool(values.get("logDenies", False)),
        )


@dataclass(frozen=True)
class StackPlan:
    """One stack as the sandbox installs it."""

    stack: str
    objects: tuple[dict[str, Any], ...]
    """Every rendered Kubernetes object, in apply order."""
    skipped: tuple[str, ...]
    """`type name` of each Helm release or remote component the sandbox does not install."""
    gatekeeper: GatekeeperRelease
    policy_controller: PolicyControllerRelease | None = None
    """The policy-controller release's settings, when the stack installs it."""

    @property
    def namespaces(self) -> list[str]:
        """Names of the namespaces the stack creates."""
        return [obj["metadata"]["name"] for obj in self.objects if obj.get("kind") == "Namespace"]

    def namespaces_with_label(self, key: str, value: str) -> list[str]:
        """Names of the stack's namespaces whose label `key` is `value`."""
        return [
            obj["metadata"]["name"]
            for obj in self.objects
            if obj.get("kind") == "Namespace" and (obj["metadata"].get("labels") or {}).get(key) == value
        ]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj.get("kind") == kind]


def load_plan(stack: str, config_file: Path | None = None) -> StackPlan:
    """Render `stack` (or `config_file`) and sort its output into what the sandbox applies."""
    from tools.render import render_stack

    return plan_from_render(stack, render_stack(stack, config_file))


def plan_from_render(stack: str, rendered: Iterable[Rendered]) -> StackPlan:
    """Sort a render into the objects the sandbox applies, the records it skips, Gatekeeper's values."""
    from tools.render import _is_kubernetes_object

    objects: list[dict[str, Any]] = []
    skipped: list[str] = []
    gatekeeper: GatekeeperRelease | None = None
    policy_controller: PolicyControllerRelease | None = None
    for item in rendered:
        if item.document is None:
            continue  # a component resource: nothing of its own to apply
        if _is_kubernetes_object(item.registration):
            objects.append(item.document)
            continue
        skipped.append(f"{item.registration.type} {item.registration.name}")
        if item.document.get("chart") == _GATEKEEPER_CHART:
            gatekeeper = GatekeeperRelease.from_record(item.document)
        elif item.document.get("chart") == POLICY_CONTROLLER_CHART:
            policy_controller = PolicyControllerRelease.from_record(item.document)
    if gatekeeper is None:
        raise ValueError(f"stack {stack!r} renders no Gatekeeper release: nothing would enforce its constraints")
    objects.sort(key=apply_phase)  # stable: the render's order within a phase
    return StackPlan(stack, tuple(objects), tuple(sorted(skipped)), gatekeeper, policy_controller)


class CrdIndex:
    """The CRDs of the shared folder, by (group, kind)."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise FileNotFoundError(
                f"no CRD folder at {folder}: the upstream CRDs are expected in ../shared/crds beside the "
                "checkout (or name the folder with SMS_CRDS_DIR)"
            )
        self.folder = folder
        self.crds: dict[tuple[str, str], dict[str, Any]] = {}
        self.addon: dict[tuple[str, str], str] = {}
        """The add-on (the shared folder's first level) each CRD comes from."""
        for path in sorted(folder.rglob("*.y*ml")):
            for document in load_yaml_all(path.read_text(encoding="utf-8")):
                if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                    spec = document["spec"]
                    key = (spec["group"], spec["names"]["kind"])
                    self.crds[key] = document
                    self.addon[key] = path.relative_to(folder).parts[0]

    def needed(self, objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Gatekeeper's CRDs and every CRD of each add-on whose kinds `objects` use, by name: an
        add-on's chart installs its whole set, so a kind the stack does not render is still served
        (an auditor's right to list ServiceEntries means something only if the API knows them)."""
        addons = {addon for key, addon in self.addon.items() if key[0] in GATEKEEPER_CRD_GROUPS}
        for obj in objects:
            key = (str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind")))
            if key in self.addon:
                addons.add(self.addon[key])
        chosen = {crd["metadata"]["name"]: crd for key, crd in self.crds.items() if self.addon[key] in addons}
        return [without_conversion_webhook(chosen[name]) for name in sorted(chosen)]


def without_conversion_webhook(crd: dict[str, Any]) -> dict[str, Any]:
    """A CRD whose conversion webhook belongs to a release the sandbox skips, converting with `None`.

    Allowed only when every version has the same schema (then `None`, which relabels the version,
    loses nothing the schema keeps); otherwise the CRD is returned unchanged and its objects fail
    to convert, visibly.
    """
    conversion = (crd.get("spec") or {}).get("conversion") or {}
    if conversion.get("strategy") != "Webhook":
        return crd
    schemas = [version.get("schema") for version in crd["spec"]["versions"]]
    if any(schema != schemas[0] for schema in schemas):
        return crd
    return {**crd, "spec": {**crd["spec"], "conversion": {"strategy": "None"}}}
