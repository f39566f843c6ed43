"""Nothing secret in state or in the render: a credential stays a Pulumi secret, secrets arrive as files.

Marker values stand in for secrets, given as `secure:` values (as the offline renderer sees a
stack file) or as decrypted values of keys the engine marks secret (as `pulumi up` hands them
over). The one credential setting, `alertUrl`, is accepted only that way: its marker must reach
the engine only inside Pulumi's secret wrapper (encrypted in state) and appear in no rendered
file. Every other setting ends up in plain text in Kubernetes objects, so a secret given for one
is refused before anything is created, its marker in no error, file or resource input. Markers
given in plain text do reach the render, and the wrapped one is found inside its wrapper, which
shows the searches able to find them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from secure_model_serving.program.run import run
from secure_model_serving.settings import SettingsError, parse_settings
from secure_model_serving.versions import KUBERNETES_TARGET
from tests.support.stacks import STACKS
from tools.mock_engine import PROJECT, RecordingMocks, cli_config, is_secret, run_with_mocks
from tools.render import REDACTED, render_config, stack_file, write_render
from tools.render import main as render_main

MARKER = "marker-7f3c9a"
# Each marker in a form its setting accepts, so the plain-text control case renders.
PLAIN = {
    "role": f"{MARKER}-role",
    "roleArn": f"arn:aws:iam::123456789012:role/{MARKER}",
    "serviceAccount": f"{MARKER}@ml-prod-1234.iam.gserviceaccount.com",
    "secretName": f"{MARKER}-alerts",
}


def stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load(stack_file(stack).read_text())["config"]


def with_markers(stack: str, secure: bool) -> tuple[dict[str, Any], list[str]]:
    """The stack's config with marker values in the settings a team would most want hidden.

    Returns the config and the dotted paths set (relative to the project namespace).
    """
    config = copy.deepcopy(stack_config(stack))
    secrets = config[f"{PROJECT}:secrets"]
    provider = secrets["provider"]
    field = {"vault": "role", "aws": "roleArn", "gcp": "serviceAccount"}[provider]
    values = {
        ("secrets", provider, field): PLAIN[field],
        ("runtime", "alerts", "secretName"): PLAIN["secretName"],
    }
    paths = []
    for (top, *rest), value in values.items():
        node = config.setdefault(f"{PROJECT}:{top}", {})
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node[rest[-1]] = {"secure": value} if secure else value
        paths.append(".".join([top, *rest]))
    # A tenant with its own identity at the store carries it in its entry.
    for index, entry in enumerate(config.get(f"{PROJECT}:models", [])):
        if provider in entry.get("secrets", {}):
            entry["secrets"][provider][field] = {"secure": PLAIN[field]} if secure else PLAIN[field]
            paths.append(f"models[{index}].secrets.{provider}.{field}")
    return config, paths


ALERT_URL_KEY = f"{PROJECT}:alertUrl"
ALERT_URL = f"https://hooks.example.com/services/{MARKER}"


def with_alert_url(stack: str, alert_url: Any) -> dict[str, Any]:
    """The stack's config forwarding alerts to a URL given in `alertUrl`, not an existing Secret."""
    config = copy.deepcopy(stack_config(stack))
    alerts = config.setdefault(f"{PROJECT}:runtime", {}).setdefault("alerts", {})
    alerts.pop("secretName", None)
    alerts["output"] = "webhook"
    config[ALERT_URL_KEY] = alert_url
    return config


def secret_key(stack: str) -> str:
    """The key of the URL in its Secret (`runtime.alerts.secretKey`)."""
    return stack_config(stack).get(f"{PROJECT}:runtime", {}).get("alerts", {}).get("secretKey", "url")


def unwrapped(value: Any) -> Any:
    """`value` with every secret the engine received left out: what state holds in plain text."""
    if is_secret(value):
        return "<secret>"
    if isinstance(value, dict):
        return {key: unwrapped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrapped(item) for item in value]
    return value


def files_containing(folder: Path, text: str) -> list[str]:
    return [str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file() and text in path.read_text()]


@pytest.mark.parametrize("stack", STACKS)
def test_secure_markers_reach_no_render_file(stack: str, tmp_path: Path) -> None:
    config, paths = with_markers(stack, secure=True)
    with pytest.raises(SettingsError) as caught:
        render_config(stack, config)
    message = str(caught.value)
    assert MARKER not in message
    assert any(f"{PROJECT}:{path}: is a secret" in message for path in paths), message
    # The CLI writes nothing at all for a refused stack file.
    bad = tmp_path / f"Pulumi.{stack}.yaml"
    bad.write_text(yaml.safe_dump({"config": config}))
    assert render_main(["--config-file", str(bad), "--out", str(tmp_path / "out"), "--stack", stack]) == 2
    assert not (tmp_path / "out").exists()
    assert files_containing(tmp_path, MARKER) == [bad.name]


@pytest.mark.parametrize("stack", STACKS)
def test_decrypted_secret_keys_reach_no_resource_input(stack: str) -> None:
    config, _ = with_markers(stack, secure=False)
    raw, _ = cli_config(config)
    mocks = RecordingMocks()
    with pytest.raises(SettingsError) as caught:
        run_with_mocks(run, stack, raw, secret_keys=[f"{PROJECT}:secrets", f"{PROJECT}:runtime"], mocks=mocks)
    assert MARKER not in str(caught.value)
    assert mocks.registrations == []  # refused before the first resource
    assert MARKER not in json.dumps([item.inputs for item in mocks.registrations])


@pytest.mark.parametrize("stack", STACKS)
def test_the_alert_url_reaches_the_engine_only_as_a_secret_and_no_render_file(stack: str, tmp_path: Path) -> None:
    rendered = render_config(stack, with_alert_url(stack, ALERT_URL), secret_keys=[ALERT_URL_KEY])
    inputs = [item.registration.inputs for item in rendered]
    assert MARKER in json.dumps(inputs)  # handed over, inside the secret wrapper ...
    assert MARKER not in json.dumps(unwrapped(inputs))  # ... and nowhere else
    (secret,) = [item.registration for item in rendered if item.document and item.document.get("kind") == "Secret"]
    assert is_secret(secret.inputs["stringData"])
    write_render(rendered, tmp_path / "out")
    assert files_containing(tmp_path / "out", MARKER) == []
    written = yaml.safe_load((tmp_path / "out" / "falco" / "secret-falcosidekick-alert-url.yaml").read_text())
    assert written["stringData"] == {secret_key(stack): REDACTED}


def test_a_secure_alert_url_in_a_stack_file_renders_redacted(tmp_path: Path) -> None:
    # The offline path; the engine's path (above) runs for every stack.
    stack = "prod"
    stack_path = tmp_path / f"Pulumi.{stack}.yaml"
    stack_path.write_text(yaml.safe_dump({"config": with_alert_url(stack, {"secure": f"v1:{MARKER}"})}))
    assert render_main(["--config-file", str(stack_path), "--out", str(tmp_path / "out")]) == 0
    assert files_containing(tmp_path / "out", MARKER) == []
    written = yaml.safe_load((tmp_path / "out" / "falco" / "secret-falcosidekick-alert-url.yaml").read_text())
    assert written["stringData"] == {secret_key(stack): REDACTED}
    kubernetes_validate.validate(written, KUBERNETES_TARGET, strict=True)  # redacted, still a valid object


def test_a_plain_text_alert_url_is_refused_before_anything_is_created() -> None:
    raw, _ = cli_config(with_alert_url("prod", ALERT_URL))
    mocks = RecordingMocks()
    with pytest.raises(SettingsError) as caught:
        run_with_mocks(run, "prod", raw, secret_keys=[], mocks=mocks)
    assert f"{ALERT_URL_KEY}: is a credential" in str(caught.value)
    assert MARKER not in str(caught.value)
    assert mocks.registrations == []


@pytest.mark.parametrize("stack", STACKS)
def test_plain_markers_do_reach_the_render(stack: str, tmp_path: Path) -> None:
    config, _ = with_markers(stack, secure=False)
    write_render(render_config(stack, config), tmp_path / "out")
    found = files_containing(tmp_path / "out", MARKER)
    assert any(file.startswith("fraud-model/") for file in found), found
    alerts = config[f"{PROJECT}:runtime"]["alerts"].get("output", "none") != "none"
    assert alerts == any(file.startswith("releases/release-runtime-falco") for file in found), found


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_are_mounted_as_files_and_never_rendered(render_dirs: dict[str, Path], stack: str) -> None:
    documents = [yaml.safe_load(path.read_text()) for path in render_dirs[stack].rglob("*.yaml")]
    objects = [document for document in documents if "kind" in document]
    assert not [document for document in objects if document["kind"] == "Secret"]
    tenants = parse_settings(cli_config(stack_config(stack))[0], namespace=PROJECT).tenants()
    deployments = {
        document["metadata"]["namespace"]: document for document in objects if document["kind"] == "Deployment"
    }
    assert set(deployments) == {tenant.namespace.name for tenant in tenants}
    for tenant in tenants:
        pod = deployments[tenant.namespace.name]["spec"]["template"]["spec"]
        for container in pod["containers"]:
            assert "envFrom" not in container
            assert all("valueFrom" not in item for item in container.get("env", []))
        mounted = {volume["secret"]["secretName"] for volume in pod["volumes"] if "secret" in volume}
        assert mounted == {item.name for item in tenant.secrets.items}
        externals = {
            document["metadata"]["name"]
            for document in objects
            if document["kind"] == "ExternalSecret" and document["metadata"]["namespace"] == tenant.namespace.name
        }
        assert externals == mounted


@pytest.mark.parametrize("stack", STACKS)
def test_alert_urls_are_only_secret_references(render_dirs: dict[str, Path], stack: str) -> None:
    record = yaml.safe_load((render_dirs[stack] / "releases" / "release-runtime-falco.yaml").read_text())
    env = record["values"]["falcosidekick"]["config"]["extraEnv"]
    urls = [item for item in env if item["name"] in {"SLACK_WEBHOOKURL", "WEBHOOK_ADDRESS"}]
    assert all(set(item) == {"name", "valueFrom"} for item in urls)
    assert bool(urls) == (stack != "dev")  # dev keeps alerts in Falcosidekick's log
