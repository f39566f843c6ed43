"""Stack settings: every stack file is valid, and every validation rule refuses its bad case."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from secure_model_serving.policies.parameters import MIN_ID
from secure_model_serving.settings import (
    SHUTDOWN_MARGIN_SECONDS,
    Environment,
    SettingsError,
    StackSettings,
    parse_settings,
)
from secure_model_serving.versions import KUBERNETES_TARGET, POD_SECURITY_VERSION
from tests.support.stacks import STACKS, parse, stack_config, stack_environment
from tools.mock_engine import PROJECT, cli_config
from tools.render import stack_file

DIGEST = "@sha256:" + "ab" * 32
EC_KEY = yaml.safe_load(stack_file("dev").read_text())["config"]["secure-model-serving:model"]["signingPublicKey"]


def minimal() -> dict[str, Any]:
    return {
        f"{PROJECT}:environment": "dev",
        f"{PROJECT}:registries": ["registry.example.com/models"],
        f"{PROJECT}:model": {"image": "registry.example.com/models/fraud" + DIGEST, "signingPublicKey": EC_KEY},
        f"{PROJECT}:supplyChain": {"imageSigner": {"publicKey": EC_KEY}},
    }


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack: str) -> None:
    settings = parse(stack_config(stack))
    assert settings.environment == Environment(stack_environment(stack))
    assert settings.environment.value == stack or stack == "shared"  # the shared cluster is a prod stack


def test_minimal_config_gets_the_hardened_defaults() -> None:
    settings = parse(minimal())
    assert (settings.model.run_as_user, settings.model.run_as_group) == (MIN_ID, MIN_ID)
    assert settings.model.ingress_from == []  # nobody may call the model until named
    assert settings.model.port >= 1024
    assert settings.pod_security_version == f"v{KUBERNETES_TARGET}" == POD_SECURITY_VERSION
    assert settings.namespace.quota.persistent_volume_claims == 0
    assert settings.admission.enforcement_action == "deny" and settings.admission.failure_policy == "Fail"
    assert settings.admission.exempt_images == []


def test_secure_defaults_of_runtime_and_secrets() -> None:
    settings = parse(minimal())
    assert settings.runtime.enabled and settings.runtime.allowed_processes == ["python3", "gunicorn"]
    assert settings.runtime.allowed_egress == [] and settings.runtime.alerts.output == "none"
    assert settings.secrets.provider is None and settings.secrets.items == []


def test_each_provider_is_accepted_with_its_section() -> None:
    gcp = {**GCP_WITHOUT_PROJECT, "projectID": "ml-prod-1234"}
    aws = {"region": "eu-west-1", "roleArn": ROLE_ARN}
    for provider, section in (("vault", VAULT), ("aws", aws), ("gcp", gcp)):
        config = with_change("secrets", {"provider": provider, provider: section, "items": [SECRET_ITEM]})
        assert parse(config).secrets.provider == provider


def test_a_secret_setting_is_refused_without_showing_it() -> None:
    nested = with_change("secrets", {"provider": "vault", "vault": {**VAULT, "role": {"secure": "v1:MARKER"}}})
    with pytest.raises(SettingsError) as caught:
        parse(nested)
    assert f"{PROJECT}:secrets.vault.role: is a secret" in str(caught.value)
    assert "MARKER" not in str(caught.value)
    whole = with_change("secrets", {"provider": "vault", "vault": VAULT})
    raw = cli_config(whole)[0]
    with pytest.raises(SettingsError, match=f"{PROJECT}:secrets: is a secret"):
        parse_settings(raw, namespace=PROJECT, secret_keys=[f"{PROJECT}:secrets"])
    assert parse_settings(raw, namespace=PROJECT, secret_keys=["kubernetes:token"]).secrets.provider == "vault"


ALERT_URL = "https://hooks.slack.example.com/services/T000/B000/marker-5d1e"


def parse_secret(config: dict[str, Any], secret_keys: tuple[str, ...] = (f"{PROJECT}:alertUrl",)) -> StackSettings:
    """Parse as `pulumi up` hands a program its config: decrypted values, their keys marked secret."""
    return parse_settings(cli_config(config)[0], namespace=PROJECT, secret_keys=secret_keys)


def test_the_alert_url_is_accepted_only_as_a_secret_and_never_shown() -> None:
    config = with_change("alertUrl", ALERT_URL, with_change("runtime", {"alerts": {"output": "slack"}}))
    settings = parse_secret(config)
    assert settings.alert_url is not None and settings.alert_url.get_secret_value() == ALERT_URL
    assert "marker-5d1e" not in repr(settings) + str(settings)
    # The offline renderer cannot decrypt a `secure:` value: it stands in a placeholder, accepted as is.
    offline = with_change("alertUrl", {"secure": "v1:Zm9v"}, with_change("runtime", {"alerts": {"output": "slack"}}))
    raw, secret_keys = cli_config(offline)
    assert parse_settings(raw, namespace=PROJECT, secret_keys=secret_keys).alert_url is not None
    with pytest.raises(SettingsError) as plain:
        parse_secret(config, secret_keys=())  # written in the stack file as plain text
    with pytest.raises(SettingsError) as not_https:
        parse_secret(with_change("alertUrl", "http://hooks.example.com/marker-5d1e", config))
    for caught in (plain, not_https):
        message = str(caught.value)
        assert f"{PROJECT}:alertUrl: " in message and "marker-5d1e" not in message, message
    assert "pulumi config set --secret" in str(plain.value)


@pytest.mark.parametrize(
    ("alerts", "url", "problem"),
    [
        ({"output": "none"}, ALERT_URL, "alertUrl: is set but runtime.alerts.output is none"),
        ({"output": "slack", "secretName": "falco-alerts"}, ALERT_URL, "alertUrl: set either alertUrl or"),
        ({"output": "webhook"}, None, "runtime.alerts.secretName: output webhook needs its URL"),
    ],
)
def test_an_alert_output_needs_exactly_one_url_source(alerts: dict[str, Any], url: str | None, problem: str) -> None:
    config = with_change("runtime", {"alerts": alerts})
    if url is not None:
        config = with_change("alertUrl", url, config)
    with pytest.raises(SettingsError, match=re.escape(f"{PROJECT}:{problem}")):
        parse_secret(config)


def test_production_with_alerts_and_defaults_is_accepted() -> None:
    settings = parse(PROD_ALERTING)
    assert settings.mesh.enabled and not settings.mesh.gateway.enabled


def test_loosened_admission_is_accepted_outside_production() -> None:
    loose = with_change("admission", {"enforcementAction": "warn", "failurePolicy": "Ignore", "replicas": 1})
    admission = parse(loose).admission
    assert (admission.enforcement_action, admission.failure_policy, admission.replicas) == ("warn", "Ignore", 1)


def test_config_of_other_namespaces_is_left_to_its_provider() -> None:
    config = minimal() | {"kubernetes:context": "somewhere"}
    assert parse(config).environment is Environment.DEV


def test_cli_json_text_and_yaml_values_parse_the_same() -> None:
    raw = {key: value for key, value in minimal().items()}
    assert parse_settings(raw, namespace=PROJECT) == parse(minimal())


def with_change(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of `base` (default: the minimal config) with `top.nested.key` set (or removed)."""
    config = copy.deepcopy(base or minimal())
    top, *rest = path.split(".")
    key = f"{PROJECT}:{top}"
    if not rest:
        if value is _REMOVE:
            del config[key]
        else:
            config[key] = value
        return config
    node = config.setdefault(key, {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value
    return config


class _Removed:
    """Marks a key to delete; a stable repr keeps test ids equal across xdist workers."""

    def __repr__(self) -> str:
        return "<removed>"


_REMOVE = _Removed()
_ACME = {"enabled": True, "host": "m.example.com", "issuer": "acme", "acmeEmail": "a@b.c"}
_ROUTE53 = {"route53": {"region": "eu-west-1", "hostedZoneID": "Z0123", "roleArn": "arn:aws:iam::123456789012:role/cm"}}
_CLOUD_DNS = {
    "cloudDNS": {"project": "fraud-prod", "serviceAccount": "cert-manager@fraud-prod.iam.gserviceaccount.com"}
}
IMAGE = "registry.example.com/models/fraud" + DIGEST
PROD = with_change("environment", "prod")
# Production that passes every other production check, so a row fails for its own key only.
PROD_ALERTING = with_change(
    "runtime", {"alerts": {"output": "slack", "secretName": "falco-alerts", "secretKey": "url"}}, PROD
)
ROLE_ARN = "arn:aws:iam::123456789012:role/fraud-secrets"
VAULT = {"server": "https://vault.example.com", "role": "fraud-model"}
SECRET_ITEM = {"name": "db", "remoteKey": "fraud/db", "properties": ["password"]}
GCP_WITHOUT_PROJECT = {
    "serviceAccount": "fraud-secrets@ml-prod-1234.iam.gserviceaccount.com",
    "clusterLocation": "europe-west1",
    "clusterName": "models",
}

BAD_VALUES = [
    # (config key reported, path to change, bad value, base)
    ("model.image", "model.image", "registry.example.com/models/fraud:1.2", None),
    ("model.image", "model.image", "registry.example.com/models/fraud:latest", None),
    ("model.image", "model.image", "registry.example.com/models/fraud@sha256:abc", None),
    ("model.image", "model.image", "registry.example.com/models/fraud@sha256:" + "AB" * 32, None),
    ("model.image", "model.image", "fraud" + DIGEST, None),
    ("model.image", "model.image", "registry.example.com/models-evil/fraud" + DIGEST, None),
    ("model.image", "model.image", "registry.example.com/modelsx" + DIGEST, None),
    ("model.image", "model.image", "evil.example.com/registry.example.com/models/fraud" + DIGEST, None),
    ("model.image", "model", {"replicas": 2}, None),
    ("registries[0]", "registries", ["registry.example.com/models:v1"], None),
    ("registries[0]", "registries", ["registry.example.com/models/"], None),
    ("registries", "registries", [], None),
    ("model.replicas", "model.replicas", -1, None),
    ("model.replicas", "model.replicas", 0, None),
    ("model.replicas", "model.replicas", 1.5, None),
    ("model.replicas", "model.replicas", "3", None),
    ("model.replicas", "model.replicas", 1, PROD),
    ("model.autoscaling.minReplicas", "model.autoscaling", {"enabled": True, "minReplicas": 1}, PROD),
    ("model.autoscaling", "model.autoscaling", {"minReplicas": 5, "maxReplicas": 3}, None),
    (
        "model.resources.limits.cpu",
        "model.resources",
        {"limits": {"cpu": "1x", "memory": "1Gi", "ephemeralStorage": "1Gi"}},
        None,
    ),
    (
        "model.resources.limits.memory",
        "model.resources",
        {"limits": {"cpu": "1", "memory": "-1Gi", "ephemeralStorage": "1Gi"}},
        None,
    ),
    ("model.resources.limits.ephemeralStorage", "model.resources", {"limits": {"cpu": "1", "memory": "1Gi"}}, None),
    (
        "model.resources",
        "model.resources",
        {"requests": {"cpu": "4", "memory": "1Gi", "ephemeralStorage": "1Gi"}},
        None,
    ),
    ("model.tmpSizeLimit", "model.tmpSizeLimit", "64 MB", None),
    (
        "namespace.quota.requests.memory",
        "namespace.quota",
        {"requests": {"cpu": "1", "memory": "lots", "ephemeralStorage": "1Gi"}},
        None,
    ),
    ("namespace.quota.pods", "namespace.quota", {"pods": -3}, None),
    ("model.ingressFrom[0].cidr", "model.ingressFrom", [{"cidr": "10.0.0.1/8"}], None),
    ("model.ingressFrom[0].cidr", "model.ingressFrom", [{"cidr": "10.0.0.0/33"}], None),
    ("model.ingressFrom[0]", "model.ingressFrom", [{"cidr": "10.0.0.0/8", "namespace": "gateway"}], None),
    ("model.ingressFrom[0]", "model.ingressFrom", [{}], None),
    (
        "model.ingressFrom[0].podLabels",
        "model.ingressFrom",
        [{"namespace": "gw", "podLabels": {"app": "bad value"}}],
        None,
    ),
    ("namespace.name", "namespace.name", "Fraud_Model", None),
    ("namespace.name", "namespace.name", "x" * 64, None),
    ("model.name", "model.name", "-fraud", None),
    ("clusterDns.namespace", "clusterDns.namespace", "kube.system", None),
    ("model.port", "model.port", 80, None),
    ("model.runAsUser", "model.runAsUser", 0, None),
    ("model.runAsUser", "model.runAsUser", MIN_ID - 1, None),
    ("model.runAsGroup", "model.runAsGroup", MIN_ID - 1, None),
    ("model.runAsGroup", "model.runAsGroup", 1000, None),
    (
        "model.nodePool.tolerations[0].effect",
        "model.nodePool",
        {"nodeSelector": {"pool": "m"}, "tolerations": [{"key": "pool", "effect": "Sometimes"}]},
        None,
    ),
    ("model.nodePool.tolerations", "model.nodePool", {"nodeSelector": {"pool": "m"}, "tolerations": []}, None),
    ("model.health.readinessPath", "model.health", {"readinessPath": "readyz"}, None),
    ("rbac.deployerGroups[0]", "rbac.deployerGroups", ["ml team"], None),
    ("environment", "environment", "qa", None),
    ("environment", "environment", _REMOVE, None),
    ("kubernetesVersion", "kubernetesVersion", "1.20", None),
    ("kubernetesVersion", "kubernetesVersion", f"v{KUBERNETES_TARGET}", None),
    ("replicas", "replicas", 3, None),
    ("model.replicsa", "model.replicsa", 3, None),
    ("namespace.quota.cpu", "namespace.quota.cpu", "4", None),
    ("admission.enforcementAction", "admission.enforcementAction", "audit", None),
    ("admission.enforcementAction", "admission.enforcementAction", "warn", PROD),
    ("admission.enforcementAction", "admission.enforcementAction", "dryrun", PROD),
    ("admission.failurePolicy", "admission.failurePolicy", "fail", None),
    ("admission.failurePolicy", "admission.failurePolicy", "Ignore", PROD),
    ("admission.replicas", "admission.replicas", 0, None),
    ("admission.replicas", "admission.replicas", 1, PROD),
    ("admission.exemptImages[0]", "admission.exemptImages", ["docker.io/istio/proxyv2:1.31.1"], None),
    ("admission.exemptNamespaces[0]", "admission.exemptNamespaces", ["Kube-System"], None),
    ("admission.auditIntervalSeconds", "admission.auditIntervalSeconds", 1, None),
    ("admission.webhookTimeout", "admission.webhookTimeout", 3, None),
    ("mesh.enabled", "mesh.enabled", False, PROD_ALERTING),
    ("mesh.gateway.host", "mesh.gateway", {"enabled": True}, None),
    ("mesh.gateway.host", "mesh.gateway", {"enabled": True, "host": "localhost"}, None),
    ("mesh.gateway.acmeEmail", "mesh.gateway", {"enabled": True, "host": "m.example.com", "issuer": "acme"}, None),
    ("mesh.gateway.issuer", "mesh.gateway", {"enabled": True, "host": "m.example.com", "issuer": "letsencrypt"}, None),
    ("mesh.gateway.issuer", "mesh.gateway", {"enabled": True, "host": "m.example.com"}, PROD_ALERTING),
    (
        "mesh.gateway.acmeDns01",
        "mesh.gateway",
        {"enabled": True, "host": "m.example.com", "issuer": "acme", "acmeEmail": "a@b.c"},
        None,
    ),
    ("mesh.gateway.acmeDns01", "mesh.gateway", {**_ACME, "acmeDns01": {}}, None),
    ("mesh.gateway.acmeDns01", "mesh.gateway", {**_ACME, "acmeDns01": {**_ROUTE53, **_CLOUD_DNS}}, None),
    (
        "mesh.gateway.acmeDns01.route53.roleArn",
        "mesh.gateway",
        {**_ACME, "acmeDns01": {"route53": {**_ROUTE53["route53"], "roleArn": "admin"}}},
        None,
    ),
    (
        "mesh.gateway.acmeDns01.cloudDNS.serviceAccount",
        "mesh.gateway",
        {**_ACME, "acmeDns01": {"cloudDNS": {"project": "fraud-prod", "serviceAccount": "me@gmail.com"}}},
        None,
    ),
    (
        "mesh.gateway.acmeServer",
        "mesh.gateway",
        {"enabled": True, "host": "m.example.com", "issuer": "acme", "acmeEmail": "a@b.c", "acmeServer": "http://x"},
        None,
    ),
    ("mesh.callers[0].serviceAccount", "mesh.callers", [{"namespace": "payments", "serviceAccount": "*"}], None),
    ("mesh.externalHosts[0].cidrs", "mesh.externalHosts", [{"host": "api.example.com", "cidrs": []}], None),
    ("mesh.trustDomain", "mesh.trustDomain", "cluster local", None),
    ("model.signingPublicKey", "model.signingPublicKey", "not a key", None),
    ("model.signingPublicKey", "model", {"image": IMAGE}, None),
    ("supplyChain.imageSigner", "supplyChain", _REMOVE, None),
    ("supplyChain.imageSigner", "supplyChain", {"mode": "enforce"}, None),
    ("supplyChain.imageSigner", "supplyChain.imageSigner", {}, None),
    (
        "supplyChain.imageSigner.keyless.issuer",
        "supplyChain.imageSigner",
        {"keyless": {"issuer": "x", "subject": "ci"}},
        None,
    ),
    ("supplyChain.mode", "supplyChain.mode", "audit", None),
    ("supplyChain.mode", "supplyChain.mode", "warn", with_change("environment", "staging")),
    ("supplyChain.enabled", "supplyChain.enabled", False, with_change("environment", "staging")),
    ("secrets.provider", "secrets.provider", "azure", None),
    ("secrets.provider", "secrets.items", [{"name": "db", "remoteKey": "db", "properties": ["password"]}], None),
    ("secrets.vault", "secrets.provider", "vault", None),
    ("secrets.vault.role", "secrets", {"provider": "vault", "vault": {"server": "https://vault.example.com"}}, None),
    ("secrets.vault.server", "secrets", {"provider": "vault", "vault": {"server": "http://vault", "role": "r"}}, None),
    ("secrets.aws.region", "secrets", {"provider": "aws", "aws": {"roleArn": ROLE_ARN}}, None),
    ("secrets.aws.region", "secrets", {"provider": "aws", "aws": {"roleArn": ROLE_ARN, "region": "Europe"}}, None),
    ("secrets.aws.roleArn", "secrets", {"provider": "aws", "aws": {"region": "eu-west-1", "roleArn": "admin"}}, None),
    ("secrets.gcp.projectID", "secrets", {"provider": "gcp", "gcp": GCP_WITHOUT_PROJECT}, None),
    (
        "secrets.aws",
        "secrets",
        {"provider": "vault", "vault": VAULT, "aws": {"region": "eu-west-1", "roleArn": ROLE_ARN}},
        None,
    ),
    ("secrets.refreshInterval", "secrets.refreshInterval", "0s", None),
    ("secrets.items", "secrets", {"provider": "vault", "vault": VAULT, "items": [SECRET_ITEM, SECRET_ITEM]}, None),
    (
        "secrets.items[0].name",
        "secrets",
        {"provider": "vault", "vault": VAULT, "items": [{**SECRET_ITEM, "name": "DB"}]},
        None,
    ),
    (
        "secrets.items[0].properties",
        "secrets",
        {"provider": "vault", "vault": VAULT, "items": [{**SECRET_ITEM, "properties": []}]},
        None,
    ),
    ("runtime.alerts.secretName", "runtime.alerts", {"output": "slack"}, None),
    ("runtime.alerts.output", "runtime.alerts", {"output": "email", "secretName": "x"}, None),
    ("runtime.alerts.output", "runtime.enabled", True, PROD),
    ("runtime.enabled", "runtime.enabled", False, PROD),
    ("runtime.allowedProcesses", "runtime.allowedProcesses", [], None),
    ("runtime.allowedEgress[0]", "runtime.allowedEgress", ["10.0.0.1/8"], None),
    ("runtime.requests", "runtime.requests", {"cpu": "4", "memory": "4Gi", "ephemeralStorage": "4Gi"}, None),
    ("runtime.namespace", "runtime.namespace", "Falco", None),
    ("runtime.alerts.url", "runtime.alerts", {"output": "slack", "url": "https://hooks.example.com/x"}, None),
]


@pytest.mark.parametrize(
    ("key", "path", "value", "base"), BAD_VALUES, ids=[f"{row[0]}={row[2]!r}"[:60] for row in BAD_VALUES]
)
def test_bad_value_is_refused_naming_its_key(key: str, path: str, value: Any, base: dict[str, Any] | None) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(with_change(path, value, base))
    message = str(caught.value)
    assert f"  {PROJECT}:{key}: " in message, message


def test_all_problems_are_reported_together() -> None:
    config = with_change("model.replicas", -1, with_change("namespace.name", "Bad_Name"))
    with pytest.raises(SettingsError) as raised:
        parse(config)
    message = str(raised.value)
    assert f"{PROJECT}:model.replicas" in message and f"{PROJECT}:namespace.name" in message


def test_an_unknown_or_secret_key_does_not_hide_the_other_problems() -> None:
    """A typo'd key, a secret given for a plain setting and a bad value: three lines, one error;
    the refused keys are not reported a second time as missing."""
    config = with_change("model.replicas", -1)
    config[f"{PROJECT}:modle"] = {"replicas": 2}
    config[f"{PROJECT}:namespace"] = {"name": "fraud-model"}
    raw, _ = cli_config(config)
    with pytest.raises(SettingsError) as raised:
        parse_settings(raw, namespace=PROJECT, secret_keys=(f"{PROJECT}:namespace",))
    lines = str(raised.value).splitlines()[1:]
    assert [line.split(": ")[0].strip() for line in lines] == [
        f"{PROJECT}:model.replicas",
        f"{PROJECT}:modle",
        f"{PROJECT}:namespace",
    ], lines


def test_a_settings_error_prints_without_a_traceback_under_the_cli() -> None:
    import pulumi

    assert issubclass(SettingsError, pulumi.RunError)


def test_the_bare_registry_prefix_is_refused_as_no_signature_glob_covers_it() -> None:
    with pytest.raises(SettingsError) as caught:
        parse(with_change("model.image", "registry.example.com/models" + DIGEST))
    assert f"  {PROJECT}:model.image: registry.example.com/models is not under any allowed registry" in str(
        caught.value
    )


def test_the_good_neighbours_of_the_registry_boundary_are_accepted() -> None:
    for image in (
        "registry.example.com/models/team/fraud" + DIGEST,
        "registry.example.com/models/fraud:1.2" + DIGEST,
    ):
        assert parse(with_change("model.image", image)).model.image == image
    assert parse(
        with_change(
            "registries",
            ["registry.example.com:5000/models"],
            with_change("model.image", "registry.example.com:5000/models/f" + DIGEST),
        )
    )


# Every setting that names a namespace the admission webhook skips; none may name the model's.
EXEMPTING_KEYS = [
    ("admission.exemptNamespaces[0]", "admission.exemptNamespaces", ["fraud-model"]),
    ("clusterDns.namespace", "clusterDns.namespace", "fraud-model"),
    ("admission.namespace", "admission.namespace", "fraud-model"),
    ("runtime.namespace", "runtime.namespace", "fraud-model"),
    ("secrets.namespace", "secrets.namespace", "fraud-model"),
    ("mesh.namespace", "mesh.namespace", "fraud-model"),
    ("mesh.cniNamespace", "mesh.cniNamespace", "fraud-model"),
    ("mesh.gateway.namespace", "mesh.gateway.namespace", "fraud-model"),
    ("supplyChain.namespace", "supplyChain.namespace", "fraud-model"),
]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize(("key", "path", "value"), EXEMPTING_KEYS, ids=[row[0] for row in EXEMPTING_KEYS])
def test_no_setting_exempts_the_model_namespace_from_admission(stack: str, key: str, path: str, value: Any) -> None:
    config = stack_config(stack)
    assert parse(config).namespace.name == "fraud-model"
    with pytest.raises(SettingsError) as caught:
        parse(with_change(path, value, config))
    message = str(caught.value)
    assert f"  {PROJECT}:{key}: fraud-model is the model namespace" in message, message


def test_the_exempt_namespaces_are_the_ones_the_webhook_skips() -> None:
    settings = parse(stack_config("prod"))
    exempt = set(settings.webhook_exempt_namespaces().values())
    assert settings.namespace.name not in exempt
    assert {"kube-system", "gatekeeper-system", "istio-system", "falco"} <= exempt


def test_the_quota_must_hold_the_autoscalers_maximum_plus_a_surge_sidecars_included() -> None:
    config = stack_config("prod")
    settings = parse(config)
    assert settings.peak_pods() == 10 + 1
    # Prod's limits before the review: 24 cpu, but 11 pods of 2 (model) + 0.5 (sidecar) need 27.5.
    short = with_change("namespace.quota.limits", {"cpu": "24", "memory": "32Gi", "ephemeralStorage": "16Gi"}, config)
    with pytest.raises(SettingsError) as caught:
        parse(short)
    assert f"{PROJECT}:namespace.quota.limits: cpu 24 cannot hold 11 model pods" in str(caught.value)
    # The sidecar is what tips it: without the mesh the same quota holds 11 x 2 cpu.
    assert parse(with_change("mesh.enabled", False, with_change("environment", "staging", short)))


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ("namespace.quota.pods", 10, "namespace.quota.pods"),
        ("model.autoscaling.maxReplicas", 20, "namespace.quota.requests"),
    ],
)
def test_a_quota_too_small_for_the_peak_is_refused_naming_the_key(path: str, value: Any, key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(with_change(path, value, stack_config("prod")))
    assert f"  {PROJECT}:{key}: " in str(caught.value)


# --- graceful shutdown: the preStop sleep and the drain fit in the grace period ----------------


def test_the_default_shutdown_fits_its_grace_period() -> None:
    shutdown = parse(minimal()).model.shutdown
    assert shutdown.pre_stop_seconds + shutdown.drain_seconds + SHUTDOWN_MARGIN_SECONDS <= (
        shutdown.termination_grace_period_seconds
    )


def test_a_shutdown_that_fits_exactly_is_accepted() -> None:
    shutdown = {"preStopSeconds": 15, "drainSeconds": 30, "terminationGracePeriodSeconds": 45 + SHUTDOWN_MARGIN_SECONDS}
    assert parse(with_change("model.shutdown", shutdown)).model.shutdown.drain_seconds == 30


@pytest.mark.parametrize(
    "shutdown",
    [
        {"preStopSeconds": 30},  # 30 + 20 + margin > 40
        {"drainSeconds": 40},
        {"terminationGracePeriodSeconds": 30},
        {"preStopSeconds": 15, "drainSeconds": 30, "terminationGracePeriodSeconds": 44 + SHUTDOWN_MARGIN_SECONDS},
    ],
)
def test_a_shutdown_longer_than_its_grace_period_is_refused_naming_the_key(shutdown: dict[str, int]) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(with_change("model.shutdown", shutdown))
    assert f"{PROJECT}:model.shutdown" in str(caught.value)
    assert "terminationGracePeriodSeconds" in str(caught.value)


@pytest.mark.parametrize("value", [0, 121, "10"])
def test_the_request_read_timeout_is_bounded(value: Any) -> None:
    with pytest.raises(SettingsError, match=f"{PROJECT}:model.requestReadTimeoutSeconds"):
        parse(with_change("model.requestReadTimeoutSeconds", value))


def test_a_stack_without_any_secret_loads_as_the_language_host_hands_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The language host writes PULUMI_CONFIG_SECRET_KEYS=null for a stack with no secret at all
    (the real `pulumi up` tier found it: every such stack failed with a TypeError)."""
    import json

    import pulumi

    from secure_model_serving.settings import load_settings

    config, _ = cli_config(stack_config("dev"))
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", "null")
    pulumi.runtime.set_all_config(dict(config), [])  # what an earlier test of this process set is replaced
    monkeypatch.setattr("pulumi.get_project", lambda: PROJECT)
    assert load_settings().environment is Environment.DEV
