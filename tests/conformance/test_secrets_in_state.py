"""Nothing secret in state or in the render: secure settings are refused, secrets arrive as files.

Marker values stand in for secrets. Given as `secure:` values (as the offline renderer sees
them) or as decrypted values of keys the engine marks secret (as `pulumi up` hands them over),
they must appear in no rendered file, no error message and no resource input handed to the
engine. The same markers given in plain text do reach the render, which shows the search able
to find them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.program import run
from components.settings import SettingsError
from tests.conftest import STACKS
from tools.mock_engine import PROJECT, RecordingMocks, cli_config, run_with_mocks
from tools.render import render_config, stack_file, write_render

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
    return config, paths


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
    from tools.render import main

    assert main(["--config-file", str(bad), "--out", str(tmp_path / "out"), "--stack", stack]) == 2
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
    (deployment,) = [document for document in objects if document["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    for container in pod["containers"]:
        assert "envFrom" not in container
        assert all("valueFrom" not in item for item in container.get("env", []))
    items = stack_config(stack)[f"{PROJECT}:secrets"]["items"]
    mounted = {volume["secret"]["secretName"] for volume in pod["volumes"] if "secret" in volume}
    assert mounted == {item["name"] for item in items}
    externals = {document["metadata"]["name"] for document in objects if document["kind"] == "ExternalSecret"}
    assert externals == mounted


@pytest.mark.parametrize("stack", STACKS)
def test_alert_urls_are_only_secret_references(render_dirs: dict[str, Path], stack: str) -> None:
    record = yaml.safe_load((render_dirs[stack] / "releases" / "release-runtime-falco.yaml").read_text())
    env = record["values"]["falcosidekick"]["config"]["extraEnv"]
    urls = [item for item in env if item["name"] in {"SLACK_WEBHOOKURL", "WEBHOOK_ADDRESS"}]
    assert all(set(item) == {"name", "valueFrom"} for item in urls)
    assert bool(urls) == (stack != "dev")  # dev keeps alerts in Falcosidekick's log
