"""components.versions: every pin inside its upstream's support window, the matrix checked end to end.

The targets (the default `kubernetesVersion` and every stack's) must lie inside the Kubernetes range
each pinned add-on's upstream declares, and no pin may be older than the oldest release line its
upstream still supports. Each check is also shown able to fail, and the settings refuse a target
outside the range of an add-on the stack installs, naming the add-on and its range.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from secure_model_serving import versions
from secure_model_serving.settings import SettingsError, parse_settings
from secure_model_serving.versions import (
    CERT_MANAGER_SUPPORT,
    DISTROLESS_PYTHON_SUPPORT,
    ISTIO_PROXY_IMAGE,
    ISTIO_SUPPORT,
    KUBERNETES_MAINTAINED,
    KUBERNETES_TARGET,
    SUPPORT_MATRIX,
    HelmChart,
    MinorRange,
    kubernetes_minor,
    outdated,
    unsupported,
)
from tests.support.stacks import STACKS
from tools.mock_engine import PROJECT, cli_config
from tools.render import stack_file
from tools.toolchain import TOOLS

VERSION_KEY = f"{PROJECT}:kubernetesVersion"


def stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load(stack_file(stack).read_text())["config"]


def targets() -> dict[str, str]:
    """Every Kubernetes minor the project targets: the default and each stack's."""
    return {"default": KUBERNETES_TARGET} | {
        stack: stack_config(stack).get(VERSION_KEY, KUBERNETES_TARGET) for stack in STACKS
    }


def refusal(version: str) -> str:
    """The settings' error for a stack that installs every add-on (prod) at `version`."""
    config = stack_config("prod") | {VERSION_KEY: version}
    with pytest.raises(SettingsError) as caught:
        parse_settings(cli_config(config)[0], namespace=PROJECT)
    return str(caught.value)


@pytest.mark.parametrize(("where", "version"), targets().items())
def test_every_target_is_inside_every_pinned_addons_range(where: str, version: str) -> None:
    outside = [f"{entry.label} supports Kubernetes {entry.kubernetes}" for entry in unsupported(version)]
    assert outside == [], f"{where} targets Kubernetes {version}, outside: {outside}"


def test_the_target_is_a_kubernetes_minor_upstream_maintains() -> None:
    assert kubernetes_minor(KUBERNETES_TARGET) in KUBERNETES_MAINTAINED


def test_no_pin_is_older_than_the_oldest_line_its_upstream_supports() -> None:
    behind = [f"{entry.label}: oldest supported line {entry.oldest_supported}" for entry in outdated()]
    assert behind == []


@pytest.mark.parametrize(
    ("version", "refused_by"),
    [
        # 1.33 has left upstream maintenance (Gatekeeper follows it) and is not in ESO's tests.
        ("1.33", {"OPA Gatekeeper", "External Secrets Operator"}),
        # No cert-manager release supports 1.37 yet.
        ("1.37", {"cert-manager", "External Secrets Operator"}),
    ],
)
def test_a_target_outside_an_addons_range_fails_naming_the_addon(version: str, refused_by: set[str]) -> None:
    assert {entry.name for entry in unsupported(version)} == refused_by
    message = refusal(version)
    assert f"{VERSION_KEY}: {version} is not supported" in message
    for entry in unsupported(version):
        assert f"{entry.label} supports Kubernetes {entry.kubernetes}" in message
    assert message.count("\n") == 1  # one line: the key, the add-ons, their ranges


def test_only_the_addons_a_stack_installs_bound_its_version() -> None:
    minimal = {
        f"{PROJECT}:environment": "dev",
        f"{PROJECT}:registries": ["registry.example.com/models"],
        f"{PROJECT}:model": stack_config("dev")[f"{PROJECT}:model"],
        f"{PROJECT}:supplyChain": stack_config("dev")[f"{PROJECT}:supplyChain"],
        VERSION_KEY: "1.37",
    }
    # No gateway (no cert-manager) and no secrets provider (no ESO): nothing installed refuses 1.37.
    assert parse_settings(cli_config(minimal)[0], namespace=PROJECT).kubernetes_version == "1.37"
    gateway = minimal | {f"{PROJECT}:mesh": {"gateway": {"enabled": True, "host": "m.example.com"}}}
    with pytest.raises(SettingsError, match=f"1.37 is not supported: {CERT_MANAGER_SUPPORT.label}"):
        parse_settings(cli_config(gateway)[0], namespace=PROJECT)


def test_the_checks_can_fail() -> None:
    narrower = dataclasses.replace(ISTIO_SUPPORT, kubernetes=MinorRange(32, 35))
    assert unsupported(KUBERNETES_TARGET, [narrower]) == [narrower]
    for entry, old in ((CERT_MANAGER_SUPPORT, "v1.19.1"), (DISTROLESS_PYTHON_SUPPORT, "python3-debian12")):
        assert outdated([dataclasses.replace(entry, version=old)]) != []
    assert outdated([dataclasses.replace(CERT_MANAGER_SUPPORT, version="v1.20.3")]) == []


def test_minor_ranges_read_as_upstream_declares_them() -> None:
    assert (36 in MinorRange(33, 36), 37 in MinorRange(33, 36), 32 in MinorRange(33, 36)) == (True, False, False)
    assert 99 in MinorRange(27, None) and 26 not in MinorRange(27, None) and 1 in MinorRange()
    ranges = (MinorRange(33, 36), MinorRange(36, 36), MinorRange(27, None), MinorRange(None, 29), MinorRange())
    assert [str(r) for r in ranges] == ["1.33-1.36", "1.36", "1.27 and newer", "up to 1.29", "none declared"]
    with pytest.raises(ValueError, match="Kubernetes minor version"):
        kubernetes_minor("v1.36")


def test_every_pinned_chart_has_a_row_with_a_source() -> None:
    charts = [value for value in vars(versions).values() if isinstance(value, HelmChart)]
    assert len(charts) >= 9
    assert {chart.version for chart in charts} <= {entry.version for entry in SUPPORT_MATRIX}
    for entry in SUPPORT_MATRIX:
        assert entry.source.startswith("https://") and entry.basis, entry.name
    assert len({entry.name for entry in SUPPORT_MATRIX}) == len(SUPPORT_MATRIX)


def test_the_sidecar_image_is_the_pinned_istio_release() -> None:
    assert f"/proxyv2:{ISTIO_SUPPORT.version}@sha256:" in ISTIO_PROXY_IMAGE


def test_the_api_server_tier_runs_the_targeted_minor() -> None:
    # tools/toolchain.py pins the real kube-apiserver the admission tier runs against.
    major, minor, _patch = TOOLS["kube-apiserver"].version.removeprefix("v").split(".")
    assert f"{major}.{minor}" == KUBERNETES_TARGET
