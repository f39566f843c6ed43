"""RuntimeDetection: Falco on every node, with rules tuned to the model server, alerts via Falcosidekick.

- Falco runs as a DaemonSet with the modern eBPF probe in least-privileged mode (a few
  capabilities instead of a privileged container) and tolerates the dedicated model node pool's
  taint, so the nodes that run the models are the ones watched.
- Its namespace is a system namespace: it must allow privileged pods (PSA `enforce: privileged`,
  with `restricted` audited so the exception stays visible) and the platform exempts it from
  the admission webhook.
- The model-serving rules live as data in `falco_rules.yaml` beside this module. The lists the
  rules are scoped by (the model namespaces, the processes the model server may start, the
  destinations it may reach) are filled from the stack's settings here, so the rules always
  follow the namespaces that exist. Upstream lists are extended with `override: append`; the
  process allow-list is the rule's `exceptions`, never a copy of an upstream rule.
- Falcosidekick forwards alerts. Its Slack or webhook URL is read by the pod from a Kubernetes
  Secret (`valueFrom.secretKeyRef`), never from a plain value: either an existing Secret
  (nothing in Pulumi state), or one this component writes from a Pulumi secret (encrypted in
  state, redacted in the render, never in the chart's values).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from ..formats import is_dns_label
from ..naming import MODEL_CONTAINER, TYPE_PREFIX
from ..options import child_options
from ..serving_vocabulary import AlertOutput, FalcoPriority, choices
from ..system import pinned_release, pod_security_labels_enforcing, system_namespace
from ..versions import FALCO, POD_SECURITY_VERSION

__all__ = [
    "ALERT_OUTPUTS",
    "RULES_FILE",
    "RULES_FILES",
    "UPSTREAM_RULESET_NAMES",
    "RuntimeDetection",
    "RuntimeDetectionArgs",
    "falco_values",
    "model_rules",
]

RULES_FILE = Path(__file__).with_name("falco_rules.yaml")
"""The model-serving rules, kept as data."""

UPSTREAM_RULESET_NAMES = frozenset(
    {
        "container",
        "open_read",
        "open_write",
        "package_mgmt_binaries",
        "sensitive_files",
        "shell_binaries",
        "spawned_process",
    }
)
"""Macros and lists of Falco's upstream stable ruleset (`falco_rules.yaml`) that our rules use
or extend. The chart loads that ruleset before `customRules`, so these names resolve."""

RULES_FILES = ("/etc/falco/falco_rules.yaml", "/etc/falco/falco_rules.local.yaml", "/etc/falco/rules.d")
"""Falco's `rules_files` (plural since Falco 0.38), in load order: the upstream stable ruleset, the
local overrides file, then the folder where the chart mounts `customRules` (our rules)."""

ALERT_OUTPUTS = {AlertOutput.SLACK: "SLACK_WEBHOOKURL", AlertOutput.WEBHOOK: "WEBHOOK_ADDRESS"}
"""Falcosidekick's environment variable holding each output's URL (AlertOutput.NONE has none)."""

_MINIMUM_PRIORITY = {AlertOutput.SLACK: "SLACK_MINIMUMPRIORITY", AlertOutput.WEBHOOK: "WEBHOOK_MINIMUMPRIORITY"}

_CONTROL_PLANE_TOLERATIONS = [
    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
]
"""Falco also watches control-plane nodes: the chart's own default tolerations, which a list of
ours would otherwise replace (Helm replaces lists)."""

_FILLED_LISTS = (
    "model_serving_namespaces",
    "model_container_names",
    "model_image_repositories",
    "model_allowed_egress_cidrs",
)
_PROCESS_RULE = "Unexpected process in model container"
_TENANT_MACRO = "model_tenant_image"
_PROCESS_EXCEPTION = "model_server_processes"
_RULES_KEY = "model-serving-rules.yaml"


@dataclass(frozen=True)
class AlertTarget:
    """Where Falcosidekick sends alerts; the URL is read from a Secret in Falco's namespace."""

    output: AlertOutput
    """`slack` or `webhook`."""
    secret_name: str = "falcosidekick-alert-url"
    """Name of the Secret (in Falco's namespace) holding the URL."""
    secret_key: str = "url"
    """Key of the URL in that Secret."""
    minimum_priority: FalcoPriority = FalcoPriority.WARNING
    """Lowest Falco priority forwarded."""
    url: pulumi.Input[str] | None = None
    """The URL itself: the component then writes the Secret `secret_name`, with the URL kept a
    Pulumi secret. None: that Secret already exists and is managed elsewhere."""


@dataclass(frozen=True)
class RuntimeDetectionArgs:
    """Inputs of RuntimeDetection. Defaults are the hardened posture."""

    model_namespaces: Sequence[str]
    """Namespaces the model-serving rules watch (at least one)."""
    model_image_repositories: Sequence[str] = ()
    """Registry prefixes of the model images: the rules watch the model container, by its name and
    its image, never the injected mesh proxy (at least one)."""
    tenant_repositories: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Per model namespace, its own tenant's registries: a model container there running an image
    from elsewhere alerts. A namespace not listed is paired with every model_image_repositories."""
    namespace: str = "falco"
    """Falco's own namespace (privileged PSA, exempt from admission)."""
    requests: dict[str, str] = field(
        default_factory=lambda: {"cpu": "100m", "memory": "512Mi", "ephemeral-storage": "256Mi"}
    )
    """Resource requests of the Falco container."""
    limits: dict[str, str] = field(default_factory=lambda: {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"})
    """Resource limits of the Falco container."""
    tolerations: Sequence[dict[str, str]] = ()
    """Taints of dedicated node pools to run on too (the model pool's)."""
    allowed_processes: Sequence[str] = ("python3", "gunicorn")
    """Process names the model container may start; anything else alerts."""
    allowed_egress: Sequence[str] = ()
    """CIDR blocks model containers may connect to (loopback and DNS always)."""
    alerts: AlertTarget | None = None
    """Falcosidekick's output; None keeps alerts in Falcosidekick's log only."""
    pod_security_version: str = POD_SECURITY_VERSION
    """Pinned Pod Security Standards version of the namespace labels."""
    protect: bool = False
    """Protect the namespace and release from deletion (production)."""
    preinstalled: bool = False
    """Falco already runs in `namespace` (the cluster's platform installed it): create neither its
    namespace nor its Helm release, only the alert URL's Secret when the stack holds the URL."""

    def __post_init__(self) -> None:
        problems = []
        if not self.model_namespaces:
            problems.append("model_namespaces must name at least one namespace")
        if not self.model_image_repositories:
            problems.append("model_image_repositories must name the registries of the model images")
        for name in (*self.model_namespaces, self.namespace):
            if not is_dns_label(name):
                problems.append(f"namespace {name!r} is not a DNS label")
        strangers = sorted(set(self.tenant_repositories) - set(self.model_namespaces))
        if strangers:
            problems.append(f"tenant_repositories names namespaces that are not model namespaces: {strangers}")
        if self.namespace in self.model_namespaces:
            problems.append("Falco's namespace must not be a model namespace")
        if not self.allowed_processes:
            problems.append("allowed_processes must name the model server's processes")
        if self.alerts is not None and self.alerts.output not in ALERT_OUTPUTS:
            problems.append(f"alerts.output must be one of {', '.join(ALERT_OUTPUTS)}")
        if self.alerts is not None and self.alerts.minimum_priority not in set(FalcoPriority):
            problems.append(f"alerts.minimum_priority must be one of {choices(FalcoPriority)}")
        for kind, amounts in (("requests", self.requests), ("limits", self.limits)):
            if not {"cpu", "memory"} <= set(amounts):
                problems.append(f"{kind} must set cpu and memory")
        if problems:
            raise ValueError("RuntimeDetectionArgs: " + "; ".join(problems))


def model_rules(args: RuntimeDetectionArgs) -> list[dict[str, Any]]:
    """The rules file's documents with the settings-driven lists and exception filled in."""
    documents = copy.deepcopy(yaml.safe_load(RULES_FILE.read_text()))
    fill = {
        "model_serving_namespaces": sorted(args.model_namespaces),
        "model_container_names": [MODEL_CONTAINER],
        "model_image_repositories": sorted(args.model_image_repositories),
        "model_allowed_egress_cidrs": None,  # keep the file's loopback, add the allowed ones
    }
    for document in documents:
        name = document.get("list")
        if name in _FILLED_LISTS:
            items = fill[name]
            document["items"] = items if items is not None else [*document["items"], *args.allowed_egress]
        if document.get("rule") == _PROCESS_RULE:
            for exception in document["exceptions"]:
                if exception["name"] == _PROCESS_EXCEPTION:
                    exception["values"] = [[process] for process in args.allowed_processes]
        if document.get("macro") == _TENANT_MACRO:
            document["condition"] = _tenant_condition(args)
    return documents


def _tenant_condition(args: RuntimeDetectionArgs) -> str:
    """Each model namespace and its own registries, as one Falco condition."""
    clauses = [
        f"(k8s.ns.name = {namespace} and container.image.repository pmatch ({', '.join(sorted(repositories))}))"
        for namespace in sorted(args.model_namespaces)
        for repositories in [args.tenant_repositories.get(namespace, args.model_image_repositories)]
    ]
    return "(" + " or ".join(clauses) + ")"


def falco_values(args: RuntimeDetectionArgs) -> dict[str, Any]:
    """Helm values of the Falco chart."""
    rules_text = yaml.safe_dump(model_rules(args), sort_keys=False, width=120)
    sidekick_env: list[dict[str, Any]] = []
    if args.alerts is not None:
        sidekick_env = [
            {
                "name": ALERT_OUTPUTS[args.alerts.output],
                "valueFrom": {"secretKeyRef": {"name": args.alerts.secret_name, "key": args.alerts.secret_key}},
            },
            {"name": _MINIMUM_PRIORITY[args.alerts.output], "value": args.alerts.minimum_priority},
        ]
    return {
        "driver": {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}},
        "tolerations": [*_CONTROL_PLANE_TOLERATIONS, *(dict(item) for item in args.tolerations)],
        "resources": {"requests": dict(args.requests), "limits": dict(args.limits)},
        "customRules": {_RULES_KEY: rules_text},
        "falco": {
            "json_output": True,
            "json_include_output_property": True,
            # Our rules extend upstream lists and macros, so the upstream ruleset must load first;
            # the chart mounts `customRules` at /etc/falco/rules.d. Said here, not left to a default.
            "rules_files": list(RULES_FILES),
        },
        "falcosidekick": {
            "enabled": True,
            "replicaCount": 2,
            "webui": {"enabled": False},
            "config": {"extraEnv": sidekick_env},
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"},
            },
        },
    }


class RuntimeDetection(pulumi.ComponentResource):
    """Falco (Helm) and its namespace.

    Outputs:
        namespace: Falco's namespace.
        release_name: the Helm release's name (None when Falco is preinstalled).
    """

    namespace: pulumi.Output[str]
    release_name: pulumi.Output[str] | None

    def __init__(self, name: str, args: RuntimeDetectionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:runtime:RuntimeDetection", name, None, opts)
        if args.preinstalled:
            self._alert_url_secret(name, args, child_options(self, opts))
            self.namespace = pulumi.Output.from_input(args.namespace)
            self.release_name = None
            self.register_outputs({"namespace": self.namespace})
            return
        namespace = system_namespace(
            f"{name}-namespace",
            args.namespace,
            # The eBPF probe needs host access no restricted pod has; audit and warn keep it visible.
            pod_security_labels_enforcing(args.pod_security_version, "privileged"),
            child_options(self, opts, protect=args.protect),
        )
        alert_secret = self._alert_url_secret(name, args, child_options(self, opts, depends_on=[namespace]))
        release = pinned_release(
            f"{name}-falco",
            FALCO,
            args.namespace,
            falco_values(args),
            child_options(self, opts, depends_on=[namespace, *alert_secret], protect=args.protect),
        )
        self.namespace = namespace.metadata.name
        self.release_name = release.name
        self.register_outputs({"namespace": self.namespace, "release_name": self.release_name})

    @staticmethod
    def _alert_url_secret(
        name: str, args: RuntimeDetectionArgs, opts: pulumi.ResourceOptions
    ) -> list[k8s.core.v1.Secret]:
        """The Secret holding Falcosidekick's URL, when the URL is given rather than an existing Secret."""
        alerts = args.alerts
        if alerts is None or alerts.url is None:
            return []
        secret = k8s.core.v1.Secret(
            f"{name}-alert-url",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=alerts.secret_name, namespace=args.namespace),
            type="Opaque",
            # Secret even for a plain string a caller passes (pulumi-kubernetes also marks Secret data
            # secret; said here so the guarantee does not rest on that): encrypted in state, redacted in renders.
            string_data={alerts.secret_key: pulumi.Output.secret(alerts.url)},
            opts=opts,
        )
        return [secret]
