"""Split ownership: a platform stack and a tenant stack joined by a StackReference.

The shared cluster is rendered two ways: as one stack (stacks/Pulumi.shared.yaml) and as a platform
stack plus the churn team's tenant stack (shared-platform, shared-churn), the platform's outputs
standing in for the StackReference. The tenant's objects must be the same either way, the
platform must hold no tenant's objects, and a tenant stack must not reach past what the platform
registered for it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from secure_model_serving.program.split import PLATFORM_OUTPUT, with_platform_config
from secure_model_serving.settings import SettingsError
from tools.mock_engine import PROJECT
from tools.render import Rendered, render_config, render_stack, render_with_outputs, stack_file
from tools.render import main as render_main


def config_of(stack: str) -> dict[str, Any]:
    return yaml.safe_load(stack_file(stack).read_text())["config"]


def files(rendered: list[Rendered]) -> dict[str, dict[str, Any]]:
    return {item.file: item.document for item in rendered if item.file and item.document}


@pytest.fixture(scope="module")
def platform_outputs() -> dict[str, Any]:
    _, outputs = render_with_outputs("shared-platform", config_of("shared-platform"))
    return outputs


@pytest.fixture(scope="module")
def split(platform_outputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    platform = files(render_stack("shared-platform"))
    tenant = files(render_stack("shared-churn", platform_outputs=platform_outputs))
    return platform, tenant


def test_the_tenant_stack_builds_what_the_one_stack_builds_for_that_tenant(split: tuple[dict, dict]) -> None:
    _, tenant = split
    whole = files(render_stack("shared"))
    own = {file for file in whole if file.startswith("churn-model/") or "churn-model" in file}
    assert own and set(tenant) == own
    for file in own:
        assert tenant[file] == whole[file], file


def test_the_platform_stack_holds_no_tenant_and_every_addon_once(split: tuple[dict, dict]) -> None:
    platform, _ = split
    namespaces = ("fraud-model", "churn-model", "credit-model")
    assert not [file for file in platform if any(namespace in file for namespace in namespaces)]
    kinds = {document.get("kind") for document in platform.values()}
    assert {"ConstraintTemplate", "K8sDenyUntrustedRegistries"} <= kinds
    assert "Deployment" not in kinds and "K8sDenyModelPodWidening" not in kinds
    releases = [file for file in platform if file.startswith("releases/")]
    assert len(releases) == len(set(releases)) >= 4
    # Falco and the secrets operator follow the registrations: every tenant namespace is watched.
    falco = next(document for file, document in platform.items() if "falco" in file and file.startswith("releases/"))
    rules = " ".join(falco["values"]["customRules"]["model-serving-rules.yaml"].split())
    assert all(f"k8s.ns.name = {namespace} and" in rules for namespace in namespaces), rules


def test_the_platform_exports_its_settings_but_no_secret(platform_outputs: dict[str, Any]) -> None:
    exported = json.loads(platform_outputs[PLATFORM_OUTPUT])
    assert exported["environment"] == "prod" and len(exported["tenants"]) == 3
    assert "role" not in exported and "alertUrl" not in exported


def tenant_with(change: Any) -> dict[str, Any]:
    config = copy.deepcopy(config_of("shared-churn"))
    change(config)
    return config


BAD_TENANT_STACKS = [
    ("admission", lambda c: c.update({f"{PROJECT}:admission": {"enforcementAction": "warn"}})),
    ("environment", lambda c: c.update({f"{PROJECT}:environment": "dev"})),
    ("mesh.gateway", lambda c: c[f"{PROJECT}:mesh"].update(gateway={"enabled": True})),
    ("secrets.provider", lambda c: c[f"{PROJECT}:secrets"].update(provider="vault")),
    ("supplyChain.mode", lambda c: c[f"{PROJECT}:supplyChain"].update(mode="warn")),
    ("namespace.name", lambda c: c[f"{PROJECT}:namespace"].update(name="not-registered")),
    ("registries[1]", lambda c: c[f"{PROJECT}:registries"].append("registry.example.com/models/fraud")),
    (
        "model.nodePool.tolerations",
        lambda c: c[f"{PROJECT}:model"]["nodePool"]["tolerations"][0].update(value="another-pool"),
    ),
    ("models", lambda c: c.update({f"{PROJECT}:models": [c[f"{PROJECT}:model"]]})),
]


@pytest.mark.parametrize(
    ("key", "change"), BAD_TENANT_STACKS, ids=[f"{row[0]}-{i}" for i, row in enumerate(BAD_TENANT_STACKS)]
)
def test_a_tenant_stack_cannot_reach_past_its_registration(
    platform_outputs: dict[str, Any], key: str, change: Any
) -> None:
    with pytest.raises(SettingsError) as caught:
        render_config("shared-churn", tenant_with(change), platform_outputs=platform_outputs)
    assert f"  {PROJECT}:{key}: " in str(caught.value), str(caught.value)


def test_a_tenant_stack_needs_its_platform_stack() -> None:
    config = tenant_with(lambda c: c.pop(f"{PROJECT}:platformStack"))
    with pytest.raises(SettingsError, match="platformStack: is required"):
        with_platform_config(config, PROJECT, read=lambda stack: {})
    with pytest.raises(SettingsError, match="has no output platformConfig"):
        render_config("shared-churn", config_of("shared-churn"), platform_outputs={"environment": "prod"})


def platform_with(change: Any) -> dict[str, Any]:
    config = copy.deepcopy(config_of("shared-platform"))
    change(config)
    return config


TENANTS = f"{PROJECT}:tenants"
BAD_PLATFORM_STACKS = [
    ("tenants", lambda c: c.pop(TENANTS)),
    ("tenants[1].namespace", lambda c: c[TENANTS][1].update(namespace="fraud-model")),
    (
        "tenants[2].registries[0]",
        lambda c: c[TENANTS][2].update(registries=["registry.example.com/models"]),
    ),
    ("tenants[0].registries[0]", lambda c: c[TENANTS][0].update(registries=["elsewhere.example.com/x"])),
    ("mesh.gateway.enabled", lambda c: c[f"{PROJECT}:mesh"].update(gateway={"enabled": True, "host": "m.example.com"})),
    ("model", lambda c: c.update({f"{PROJECT}:model": config_of("shared-churn")[f"{PROJECT}:model"]})),
    ("platformStack", lambda c: c.update({f"{PROJECT}:platformStack": "o/p/s"})),
]


@pytest.mark.parametrize(
    ("key", "change"), BAD_PLATFORM_STACKS, ids=[f"{row[0]}-{i}" for i, row in enumerate(BAD_PLATFORM_STACKS)]
)
def test_a_platform_stack_refuses_overlapping_or_misplaced_settings(key: str, change: Any) -> None:
    with pytest.raises(SettingsError) as caught:
        render_config("shared-platform", platform_with(change))
    assert f"  {PROJECT}:{key}: " in str(caught.value), str(caught.value)


def test_the_render_cli_writes_the_platform_outputs_and_reads_them_for_a_tenant(tmp_path: Path, call_main) -> None:
    outputs = tmp_path / "platform.json"
    done = call_main(render_main, "--stack", "shared-platform", "--out", tmp_path / "p", "--outputs", outputs)
    assert done.returncode == 0, done.stderr
    done = call_main(render_main, "--stack", "shared-churn", "--out", tmp_path / "t", "--platform-outputs", outputs)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "t" / "churn-model").is_dir()
    done = call_main(render_main, "--stack", "shared-churn", "--out", tmp_path / "u")
    assert done.returncode == 2 and "--platform-outputs" in done.stderr


def test_a_platform_whose_alert_url_is_a_secret_still_serves_its_tenants() -> None:
    """The alertUrl secret stays in the platform stack; its tenants do not need it (the real
    `pulumi up` tier found tenants of such a platform refused for a missing alert URL)."""
    config = platform_with(lambda c: c[f"{PROJECT}:runtime"]["alerts"].pop("secretName"))
    config[f"{PROJECT}:alertUrl"] = "https://hooks.example.com/services/T0/B0/x"
    _, outputs = render_with_outputs("shared-platform", config, secret_keys=[f"{PROJECT}:alertUrl"])
    assert "hooks.example.com" not in outputs[PLATFORM_OUTPUT]
    rendered = files(render_stack("shared-churn", platform_outputs=outputs))
    assert any(file.startswith("churn-model/") for file in rendered)
