"""RuntimeDetection: Falco pinned and least-privileged, model rules scoped and complete, URL only from a Secret."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from secure_model_serving.cluster.runtime import (
    RULES_FILE,
    UPSTREAM_RULESET_NAMES,
    AlertTarget,
    RuntimeDetection,
    RuntimeDetectionArgs,
    falco_values,
    model_rules,
)
from secure_model_serving.naming import MODEL_CONTAINER
from secure_model_serving.versions import FALCO
from tests.support.stacks import STACKS
from tools.mock_engine import Registration, is_secret
from tools.render import Rendered

POOL_TAINT = {"key": "workload-class", "operator": "Equal", "value": "sensitive-models", "effect": "NoSchedule"}
PRIORITIES = {"EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG"}
# Words of Falco's condition language that are not macro or list names.
KEYWORDS = {
    "and",
    "or",
    "not",
    "in",
    "pmatch",
    "startswith",
    "endswith",
    "contains",
    "icontains",
    "exists",
    "glob",
    "intersects",
}


REGISTRY = "registry.example.com/models"


def args(**changes: Any) -> RuntimeDetectionArgs:
    values: dict[str, Any] = {"model_namespaces": ["fraud-model"], "model_image_repositories": [REGISTRY]}
    return RuntimeDetectionArgs(**(values | changes))


def release(registrations: list[Registration], chart: str = "falco") -> Registration:
    (found,) = [
        item for item in registrations if item.type == "kubernetes:helm.sh/v3:Release" and item.inputs["chart"] == chart
    ]
    return found


def referenced_names(condition: str) -> set[str]:
    """Macro and list names a Falco condition refers to (fields have dots; compared values are dropped)."""
    text = re.sub(r'"[^"]*"', " ", condition)
    text = re.sub(r"(!=|<=|>=|=|<|>)\s*[^\s()]+", " ", text)
    tokens = re.split(r"[\s(),]+", text)
    return {token for token in tokens if re.fullmatch(r"[a-z_][a-z0-9_]*", token) and token not in KEYWORDS}


def undefined_names(documents: list[dict[str, Any]]) -> set[str]:
    defined = {document.get("macro") or document.get("list") for document in documents} - {None}
    used: set[str] = set()
    for document in documents:
        if "condition" in document:
            used |= referenced_names(document["condition"])
    return used - defined - UPSTREAM_RULESET_NAMES


def rules(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [document for document in documents if "rule" in document]


@pytest.fixture
def installed(run_program) -> list[Registration]:
    return run_program(
        lambda: RuntimeDetection(
            "runtime",
            args(
                tolerations=[POOL_TAINT],
                alerts=AlertTarget(output="slack", secret_name="falcosidekick-slack", secret_key="webhook-url"),
            ),
        )
    )


def test_release_is_pinned_least_privileged_with_requests(installed: list[Registration]) -> None:
    inputs = release(installed).inputs
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
        FALCO.name,
        FALCO.version,
        FALCO.repository,
    )
    assert inputs["version"].count(".") == 2
    values = inputs["values"]
    assert values["driver"] == {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}}
    assert values["resources"]["requests"]["cpu"] and values["resources"]["requests"]["memory"]
    assert values["resources"]["limits"]["memory"]
    assert values["falcosidekick"]["enabled"] is True


def test_upstream_ruleset_loads_before_the_model_rules(installed: list[Registration]) -> None:
    falco = release(installed).inputs["values"]["falco"]
    assert "rules_file" not in falco  # the singular key is deprecated since Falco 0.38
    rules_files = falco["rules_files"]
    # customRules are mounted at /etc/falco/rules.d; they extend upstream lists, so load after them.
    assert rules_files.index("/etc/falco/falco_rules.yaml") < rules_files.index("/etc/falco/rules.d")
    assert release(installed).inputs["values"]["customRules"]


def test_falco_also_runs_on_the_model_node_pool(installed: list[Registration], run_program) -> None:
    tolerations = release(installed).inputs["values"]["tolerations"]
    assert POOL_TAINT in tolerations
    # Our list replaces the chart's default, so its control-plane tolerations are carried over.
    assert {t["key"] for t in tolerations} >= {
        "node-role.kubernetes.io/master",
        "node-role.kubernetes.io/control-plane",
    }
    plain = release(run_program(lambda: RuntimeDetection("runtime", args())))
    assert POOL_TAINT not in plain.inputs["values"]["tolerations"]


def test_alert_url_comes_from_an_existing_secret(installed: list[Registration]) -> None:
    env = release(installed).inputs["values"]["falcosidekick"]["config"]["extraEnv"]
    (url,) = [item for item in env if item["name"] == "SLACK_WEBHOOKURL"]
    assert url == {
        "name": "SLACK_WEBHOOKURL",
        "valueFrom": {"secretKeyRef": {"name": "falcosidekick-slack", "key": "webhook-url"}},
    }
    assert "value" not in url
    assert "https://" not in json.dumps(release(installed).inputs["values"])


def test_an_existing_secret_is_only_referenced_never_created(installed: list[Registration]) -> None:
    assert not [item for item in installed if item.inputs.get("kind") == "Secret"]


def test_a_given_url_is_written_to_a_secret_kept_secret_and_read_from_it(run_program) -> None:
    url = "https://hooks.example.com/marker-0c4f"
    installed = run_program(lambda: RuntimeDetection("runtime", args(alerts=AlertTarget(output="webhook", url=url))))
    (secret,) = [item for item in installed if item.inputs.get("kind") == "Secret"]
    assert secret.inputs["metadata"] == {"name": "falcosidekick-alert-url", "namespace": "falco"}
    # Handed to the engine as a secret (encrypted in state), even though a plain string was given.
    assert is_secret(secret.inputs["stringData"]) and secret.inputs["stringData"]["value"] == {"url": url}
    assert "marker-0c4f" not in json.dumps({key: v for key, v in secret.inputs.items() if key != "stringData"})
    falco = release(installed)
    assert "marker-0c4f" not in json.dumps(falco.inputs)
    env = falco.inputs["values"]["falcosidekick"]["config"]["extraEnv"]
    assert {
        "name": "WEBHOOK_ADDRESS",
        "valueFrom": {"secretKeyRef": {"name": "falcosidekick-alert-url", "key": "url"}},
    } in env
    assert secret.urn in falco.options.depends_on  # the pods never start before their URL exists


def test_without_alerts_no_output_is_configured(run_program) -> None:
    values = falco_values(args())
    assert values["falcosidekick"]["config"]["extraEnv"] == []
    webhook = falco_values(args(alerts=AlertTarget(output="webhook", secret_name="hook")))
    names = {item["name"] for item in webhook["falcosidekick"]["config"]["extraEnv"]}
    assert names == {"WEBHOOK_ADDRESS", "WEBHOOK_MINIMUMPRIORITY"}


def test_namespace_allows_the_probe_and_audits_restricted(installed: list[Registration]) -> None:
    (namespace,) = [item for item in installed if item.inputs.get("kind") == "Namespace"]
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert namespace.urn in release(installed).options.depends_on


def test_custom_rules_are_the_rules_file_filled_from_settings(installed: list[Registration]) -> None:
    assert RULES_FILE.suffix == ".yaml" and RULES_FILE.is_file()
    (text,) = release(installed).inputs["values"]["customRules"].values()
    delivered = yaml.safe_load(text)
    assert delivered == model_rules(args())
    source_rules = [d["rule"] for d in yaml.safe_load(RULES_FILE.read_text()) if "rule" in d]
    assert [d["rule"] for d in rules(delivered)] == source_rules


def test_every_rule_is_complete() -> None:
    found = rules(model_rules(args()))
    assert len(found) >= 6
    for rule in found:
        for key in ("rule", "desc", "condition", "output", "priority"):
            assert isinstance(rule.get(key), str) and rule[key].strip(), f"{rule.get('rule')}: {key}"
        assert rule["priority"] in PRIORITIES


def test_every_macro_and_list_used_is_defined_or_upstream() -> None:
    assert undefined_names(model_rules(args())) == set()


def test_an_undefined_macro_is_caught() -> None:
    documents = model_rules(args())
    documents.append(
        {"rule": "x", "desc": "x", "output": "x", "priority": "ERROR", "condition": "model_container and made_up"}
    )
    assert undefined_names(documents) == {"made_up"}
    assert referenced_names('fd.l4proto = udp and proc.name in (shell_binaries) and fd.name = "a b"') == {
        "shell_binaries"
    }


def test_rules_are_scoped_to_the_model_namespaces(run_program) -> None:
    documents = model_rules(args(model_namespaces=["fraud-model", "churn-model"]))
    (namespaces,) = [d for d in documents if d.get("list") == "model_serving_namespaces"]
    assert namespaces["items"] == ["churn-model", "fraud-model"]
    (macro,) = [d for d in documents if d.get("macro") == "model_container"]
    assert "k8s.ns.name in (model_serving_namespaces)" in macro["condition"]
    for rule in rules(documents):
        assert "model_container" in referenced_names(rule["condition"]), rule["rule"]


def test_the_process_allow_list_is_the_rule_exception() -> None:
    documents = model_rules(args(allowed_processes=["python3", "gunicorn", "uvicorn"]))
    (rule,) = [d for d in rules(documents) if d["rule"] == "Unexpected process in model container"]
    (exception,) = rule["exceptions"]
    assert exception["fields"] == ["proc.name"]
    assert exception["values"] == [["python3"], ["gunicorn"], ["uvicorn"]]
    assert "gunicorn" not in rule["condition"]


def test_egress_allow_list_extends_loopback() -> None:
    documents = model_rules(args(allowed_egress=["10.30.0.0/16"]))
    (allowed,) = [d for d in documents if d.get("list") == "model_allowed_egress_cidrs"]
    assert allowed["items"] == ["127.0.0.0/8", "10.30.0.0/16"]


def test_upstream_names_are_only_extended_never_redefined() -> None:
    for document in model_rules(args()):
        name = document.get("macro") or document.get("list") or document.get("rule")
        if name in UPSTREAM_RULESET_NAMES:
            assert set(document.get("override", {}).values()) == {"append"}, name


def test_the_file_declares_the_engine_version_its_overrides_need() -> None:
    documents = yaml.safe_load(RULES_FILE.read_text())
    assert any("override" in document for document in documents)
    (declared,) = [d["required_engine_version"] for d in documents if "required_engine_version" in d]
    # Selective overrides came with engine 0.31.0 (Falco 0.37).
    assert tuple(int(part) for part in str(declared).split(".")) >= (0, 31, 0)


def test_private_destinations_are_not_left_out_of_the_egress_rule() -> None:
    # Upstream's `outbound` macro skips RFC 1918 addresses: lateral movement would go unseen.
    documents = model_rules(args())
    (rule,) = [d for d in rules(documents) if d["rule"] == "Unexpected outbound connection from model container"]
    names = referenced_names(rule["condition"])
    assert "outbound" not in names and "model_outbound_connection" in names
    (macro,) = [d for d in documents if d.get("macro") == "model_outbound_connection"]
    assert "rfc_1918" not in macro["condition"] and "evt.type = connect" in macro["condition"]


@pytest.mark.parametrize(
    "changes",
    [
        {"model_namespaces": []},
        {"model_namespaces": ["Fraud"]},
        {"namespace": "fraud-model"},
        {"allowed_processes": []},
        {"alerts": AlertTarget(output="pager", secret_name="x")},
        {"requests": {"cpu": "100m"}},
    ],
)
def test_bad_args_are_refused_before_anything_is_created(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RuntimeDetectionArgs"):
        args(**changes)


@pytest.mark.parametrize("stack", STACKS)
def test_falco_namespace_is_exempt_from_admission(rendered: dict[str, list[Rendered]], stack: str) -> None:
    registrations = [item.registration for item in rendered[stack]]
    gatekeeper = release(registrations, chart="gatekeeper").inputs["values"]
    exempt = gatekeeper["validatingWebhookExemptNamespacesLabels"]["kubernetes.io/metadata.name"]
    assert release(registrations).inputs["namespace"] in exempt
    assert "fraud-model" not in exempt


def test_stack_pool_tolerations_reach_falco(rendered: dict[str, list[Rendered]]) -> None:
    def tolerations(stack: str) -> list[dict[str, Any]]:
        registrations = [item.registration for item in rendered[stack]]
        return release(registrations).inputs["values"]["tolerations"]

    assert POOL_TAINT in tolerations("prod") and POOL_TAINT in tolerations("staging")
    assert POOL_TAINT not in tolerations("dev")  # dev has no dedicated pool


def test_the_rules_watch_the_model_container_never_the_injected_proxy() -> None:
    documents = {d.get("list") or d.get("macro") or d.get("rule"): d for d in model_rules(args())}
    assert documents["model_container_names"]["items"] == [MODEL_CONTAINER]
    assert documents["model_image_repositories"]["items"] == [REGISTRY]
    condition = " ".join(documents["model_container"]["condition"].split())
    # Every model rule goes through this macro: it selects by the container's name and its image's
    # repository, so istio-proxy and istio-validation (another name, the proxy's image) never match.
    assert "container.name in (model_container_names)" in condition
    assert "container.image.repository pmatch (model_image_repositories)" in condition
    rules = [d for d in documents.values() if "rule" in d]
    assert rules and all("model_container" in rule["condition"] for rule in rules)


def test_the_rules_need_the_model_registries() -> None:
    with pytest.raises(ValueError, match="model_image_repositories must name"):
        args(model_image_repositories=[])
