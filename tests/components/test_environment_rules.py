"""The environment rules table: each rule refuses its loosening where it applies, and only there;
each HTTPS-URL check keeps its own meaning."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from secure_model_serving.settings import ENVIRONMENT_RULES, Environment, SettingsError, parse_settings
from tests.support.stacks import parse
from tools.mock_engine import PROJECT, cli_config
from tools.render import stack_file

DIGEST = "@sha256:" + "ab" * 32
EC_KEY = yaml.safe_load(stack_file("dev").read_text())["config"][f"{PROJECT}:model"]["signingPublicKey"]


def strict(environment: Environment) -> dict[str, Any]:
    """A stack of `environment` that meets every rule: production's alerts forwarded, the rest defaults."""
    return {
        f"{PROJECT}:environment": environment.value,
        f"{PROJECT}:registries": ["registry.example.com/models"],
        f"{PROJECT}:model": {"image": "registry.example.com/models/fraud" + DIGEST, "signingPublicKey": EC_KEY},
        f"{PROJECT}:supplyChain": {"imageSigner": {"publicKey": EC_KEY}},
        f"{PROJECT}:runtime": {"alerts": {"output": "slack", "secretName": "falco-alerts"}},
    }


def changed(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `config` with `top.nested.key` set to `value`."""
    config = copy.deepcopy(config)
    top, *rest = path.split(".")
    if not rest:
        return config | {f"{PROJECT}:{top}": value}
    node = config.setdefault(f"{PROJECT}:{top}", {})
    for part in rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value
    return config


LOOSENINGS: dict[str, tuple[str, Any]] = {
    # rule key -> (path, value) that breaks only that rule
    "model.replicas": ("model.replicas", 1),
    "model.autoscaling.minReplicas": ("model.autoscaling", {"enabled": True, "minReplicas": 1, "maxReplicas": 3}),
    "admission.enforcementAction": ("admission.enforcementAction", "warn"),
    "admission.failurePolicy": ("admission.failurePolicy", "Ignore"),
    "admission.replicas": ("admission.replicas", 1),
    "runtime.enabled": ("runtime.enabled", False),
    "runtime.alerts.output": ("runtime.alerts", {"output": "none"}),
    "mesh.enabled": ("mesh.enabled", False),
    "mesh.gateway.issuer": ("mesh.gateway", {"enabled": True, "host": "models.example.com"}),
    "supplyChain.enabled": ("supplyChain.enabled", False),
    "supplyChain.mode": ("supplyChain.mode", "warn"),
}


def test_every_rule_has_its_loosening_here() -> None:
    assert [rule.key for rule in ENVIRONMENT_RULES] == list(LOOSENINGS)


@pytest.mark.parametrize("environment", list(Environment))
def test_the_strict_stack_meets_every_rule(environment: Environment) -> None:
    assert parse(strict(environment)).environment is environment


@pytest.mark.parametrize("rule", ENVIRONMENT_RULES, ids=[rule.key for rule in ENVIRONMENT_RULES])
@pytest.mark.parametrize("environment", list(Environment))
def test_a_rule_refuses_its_loosening_where_it_applies_and_only_there(rule: Any, environment: Environment) -> None:
    config = changed(strict(environment), *LOOSENINGS[rule.key])
    if environment not in rule.environments:
        parse(config)
        return
    with pytest.raises(SettingsError) as caught:
        parse(config)
    assert f"{PROJECT}:{rule.key}: {rule.message}" in str(caught.value)


def test_production_and_staging_are_the_strict_environments() -> None:
    production = {rule.key for rule in ENVIRONMENT_RULES if Environment.PROD in rule.environments}
    staging = {rule.key for rule in ENVIRONMENT_RULES if Environment.STAGING in rule.environments}
    assert production == set(LOOSENINGS)
    assert staging == {"supplyChain.enabled", "supplyChain.mode"}
    assert not any(Environment.DEV in rule.environments for rule in ENVIRONMENT_RULES)


def parse_with_secret(config: dict[str, Any]) -> Any:
    return parse_settings(cli_config(config)[0], namespace=PROJECT, secret_keys=(f"{PROJECT}:alertUrl",))


def alert_url(url: str) -> dict[str, Any]:
    config = changed(strict(Environment.DEV), "runtime.alerts", {"output": "webhook"})
    return config | {f"{PROJECT}:alertUrl": url}


def vault_server(url: str) -> dict[str, Any]:
    return changed(strict(Environment.DEV), "secrets", {"provider": "vault", "vault": {"server": url, "role": "r"}})


def acme_server(url: str) -> dict[str, Any]:
    gateway = {"enabled": True, "host": "models.example.com", "acmeServer": url}
    return changed(strict(Environment.DEV), "mesh.gateway", gateway)


# Each check's meaning: the alert webhook takes any path (and stays secret), the Vault server
# is an origin without a path, an ACME directory or OIDC issuer is an endpoint with a plain path.
URLS = [
    (alert_url, "alertUrl", "https://hooks.example.com/services/T0?token=abc", True),
    (alert_url, "alertUrl", "http://hooks.example.com/services/T0", False),
    (vault_server, "secrets.vault.server", "https://vault.example.com:8200", True),
    (vault_server, "secrets.vault.server", "https://vault.example.com/v1/secret", False),
    (vault_server, "secrets.vault.server", "http://vault.example.com", False),
    (acme_server, "mesh.gateway.acmeServer", "https://acme.example.com/directory", True),
    (acme_server, "mesh.gateway.acmeServer", "https://acme.example.com/dir?x=1", False),
    (acme_server, "mesh.gateway.acmeServer", "http://acme.example.com/directory", False),
]


@pytest.mark.parametrize(("build", "key", "url", "accepted"), URLS, ids=[f"{row[1]}-{row[2]}" for row in URLS])
def test_each_https_url_check_keeps_its_meaning(build: Any, key: str, url: str, accepted: bool) -> None:
    config = build(url)
    if accepted:
        parse_with_secret(config)
        return
    with pytest.raises(SettingsError) as caught:
        parse_with_secret(config)
    assert f"{PROJECT}:{key}: " in str(caught.value)
