"""preinstalledAddons: an add-on the cluster already runs gets neither a Helm release nor a
namespace from the stack, and the stack's own configuration of it is still created."""

from __future__ import annotations

from typing import Any

import pytest

from secure_model_serving.settings import Addon, SettingsError
from tests.support.stacks import parse, stack_config
from tools.mock_engine import PROJECT
from tools.render import Rendered, render_config

RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
CERT_MANAGER = "kubernetes-cert-manager:index:CertManager"
ADDON_NAMESPACES = {"gatekeeper-system", "falco", "external-secrets", "istio-system", "istio-cni", "cosign-system"}


def prod_with(addons: list[str], gateway: bool = False) -> dict[str, Any]:
    """The prod stack with `addons` preinstalled; its edge gateway (and so cert-manager) only if asked."""
    config = stack_config("prod")
    if not gateway:
        config[f"{PROJECT}:mesh"]["gateway"] = {"enabled": False}
    config[f"{PROJECT}:preinstalledAddons"] = addons
    return config


def of_type(items: list[Rendered], type_token: str) -> list[Rendered]:
    return [item for item in items if item.registration.type == type_token]


def namespaces(items: list[Rendered]) -> set[str]:
    return {item.document["metadata"]["name"] for item in of_type(items, NAMESPACE) if item.document}


def test_by_default_the_stack_installs_every_addon() -> None:
    items = render_config("prod", prod_with([]))
    charts = {item.document["chart"] for item in of_type(items, RELEASE) if item.document}
    assert {"gatekeeper", "falco", "external-secrets", "istiod", "cni", "base", "policy-controller"} <= charts
    assert namespaces(items) >= ADDON_NAMESPACES


def test_preinstalled_addons_get_no_release_and_no_namespace_but_their_configuration() -> None:
    items = render_config("prod", prod_with([addon.value for addon in Addon], gateway=True))
    # The gateway's own release and namespace are the stack's: only the add-ons are adopted.
    assert {item.document["chart"] for item in of_type(items, RELEASE) if item.document} == {"gateway"}
    assert namespaces(items) == {"fraud-model", "istio-ingress"}
    assert of_type(items, CERT_MANAGER) == []
    assert {"ClusterIssuer", "Certificate"} <= {
        item.document["kind"] for item in items if item.document and "kind" in item.document
    }
    kinds = {item.document["kind"] for item in items if item.document and "kind" in item.document}
    assert {"ConstraintTemplate", "ExpansionTemplate", "ClusterImagePolicy", "SecretStore", "Deployment"} <= kinds
    templates = of_type(items, "kubernetes:templates.gatekeeper.sh/v1:ConstraintTemplate")
    assert templates and all(item.registration.options.protect for item in templates)


def test_cert_manager_is_installed_unless_adopted() -> None:
    installed = render_config("prod", prod_with([], gateway=True))
    assert len(of_type(installed, CERT_MANAGER)) == 1 and "cert-manager" in namespaces(installed)
    adopted = render_config("prod", prod_with(["cert-manager"], gateway=True))
    assert of_type(adopted, CERT_MANAGER) == [] and "cert-manager" not in namespaces(adopted)


def test_one_preinstalled_addon_leaves_the_others_installed() -> None:
    items = render_config("prod", prod_with(["falco"]))
    charts = {item.document["chart"] for item in of_type(items, RELEASE) if item.document}
    assert "falco" not in charts and {"gatekeeper", "istiod", "policy-controller"} <= charts
    assert "falco" not in namespaces(items) and "gatekeeper-system" in namespaces(items)


@pytest.mark.parametrize(
    ("addons", "change", "problem"),
    [
        (["falco"], {"runtime": {"enabled": False}}, r"preinstalledAddons\[0\]: falco is not used"),
        (["gatekeeper", "gatekeeper"], {}, r"preinstalledAddons\[1\]: gatekeeper is listed twice"),
        (["helm"], {}, r"preinstalledAddons\[0\]"),
    ],
)
def test_a_preinstalled_addon_the_stack_does_not_use_is_refused(
    addons: list[str], change: dict[str, Any], problem: str
) -> None:
    config = stack_config("dev")
    config[f"{PROJECT}:preinstalledAddons"] = addons
    for key, value in change.items():
        config[f"{PROJECT}:{key}"] = {**config.get(f"{PROJECT}:{key}", {}), **value}
    with pytest.raises(SettingsError, match=problem):
        parse(config)
