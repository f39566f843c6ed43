"""Every rendered stack and the model server agree: what the pods and the mesh let through is what
the server serves, on the port it listens on, with settings it accepts.

Nothing here compares two copies of a constant: the server is built (app.server.create_app) and
asked which routes it has, and the rendered objects are read as the cluster would read them.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app.config import Settings
from app.server import create_app
from secure_model_serving.serving_contract import WRITABLE_TMP_DIR
from tests.support.stacks import STACKS
from tools.render import Rendered

MODEL = "fraud-detector"


@pytest.fixture(scope="module")
def served() -> set[tuple[str, str]]:
    """(method, path) of every route the server answers (it stays not-ready without a model)."""
    app: Flask = create_app(Settings())
    return {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods or ()}


def _documents(items: list[Rendered], kind: str) -> list[dict[str, Any]]:
    return [item.document for item in items if item.document and item.document.get("kind") == kind]


def _model_container(items: list[Rendered]) -> dict[str, Any]:
    (deployment,) = [doc for doc in _documents(items, "Deployment") if doc["metadata"]["name"] == MODEL]
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "model"]
    return container


@pytest.mark.parametrize("stack", STACKS)
def test_the_pod_probes_routes_the_server_serves_on_the_port_it_listens_on(
    rendered: dict[str, list[Rendered]], served: set[tuple[str, str]], stack: str
) -> None:
    container = _model_container(rendered[stack])
    settings = Settings.from_env({item["name"]: item["value"] for item in container.get("env", [])})
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http_get = container[probe]["httpGet"]
        assert http_get["port"] == port["name"]
        assert ("GET", http_get["path"]) in served, (probe, http_get["path"])
    # The server writes only there; the read-only pod must give it that.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert WRITABLE_TMP_DIR in {mount["mountPath"] for mount in container["volumeMounts"]}


@pytest.mark.parametrize("stack", STACKS)
def test_the_mesh_lets_callers_reach_only_routes_the_server_serves(
    rendered: dict[str, list[Rendered]], served: set[tuple[str, str]], stack: str
) -> None:
    container = _model_container(rendered[stack])
    (port,) = container["ports"]
    operations = {
        (method, path, tuple(target["operation"].get("ports", ())))
        for policy in _documents(rendered[stack], "AuthorizationPolicy")
        if policy["metadata"]["namespace"] == "fraud-model"
        for rule in policy["spec"].get("rules", [])
        for target in rule.get("to", [])
        for method in target["operation"]["methods"]
        for path in target["operation"]["paths"]
    }
    assert operations, "the mesh admits no caller at all"
    for method, path, ports in operations:
        assert (method, path) in served, (method, path)
        assert ports == (str(port["containerPort"]),)
