"""The temporary Pulumi project of the real `pulumi up` tier, and its production-configured stack.

The project is the repository's (its name, so the same config keys; the program of
`tests.e2e_pulumi.program`), written into a temporary folder with the development virtualenv.
Its one stack starts from `stacks/Pulumi.prod.yaml` and changes only what the sandbox cannot
serve: Helm charts cannot be downloaded, so every add-on the stack uses is `preinstalledAddons`
(the sandbox runs Gatekeeper for real and serves the others' CRDs); the External Secrets sync and
the edge gateway (cert-manager's component) are off; the alert URL is given as a Pulumi secret.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from secure_model_serving.settings import Addon, StackSettings, parse_settings
from tools.mock_engine import PROJECT, REPO_ROOT, cli_config

__all__ = [
    "MAIN",
    "PROJECT",
    "STACK",
    "addon_namespaces",
    "e2e_stack_config",
    "production_config",
    "settings_of",
    "write_project",
]

STACK = "prod"
MAIN = "from tests.e2e_pulumi.program import main\n\nmain()\n"
_PREINSTALLED = [Addon.GATEKEEPER, Addon.FALCO, Addon.ISTIO, Addon.POLICY_CONTROLLER]


def _key(name: str) -> str:
    return f"{PROJECT}:{name}"


def e2e_stack_config(prod: dict[str, Any], kubeconfig: Path) -> dict[str, Any]:
    """The stack file's `config:` map: production's, changed only where the sandbox cannot serve it.

    The alert URL itself is not here: it is set with `pulumi config set --secret`."""
    config = copy.deepcopy(prod)
    config.pop("kubernetes:context", None)
    config["kubernetes:kubeconfig"] = str(kubeconfig)
    config[_key("preinstalledAddons")] = [addon.value for addon in _PREINSTALLED]
    config.pop(_key("secrets"), None)  # an ExternalSecret waits for an operator that is not running
    config[_key("mesh")]["gateway"] = {"enabled": False}  # cert-manager's component is a plugin
    alerts = config[_key("runtime")]["alerts"]
    alerts.pop("secretName", None)  # the URL comes from the alertUrl Pulumi secret instead
    return config


def settings_of(config: dict[str, Any]) -> StackSettings:
    """The validated settings of a stack file's `config:` map (a `secure:` value as a placeholder)."""
    cli, secret_keys = cli_config(config)
    return parse_settings(cli, namespace=PROJECT, secret_keys=secret_keys)


def addon_namespaces(settings: StackSettings) -> list[str]:
    """The namespaces of the preinstalled add-ons: they exist before the stack, as on a cluster
    whose platform installed them (the sandbox creates them)."""
    by_addon = {
        Addon.GATEKEEPER: [settings.admission.namespace],
        Addon.FALCO: [settings.runtime.namespace],
        Addon.EXTERNAL_SECRETS: [settings.secrets.namespace],
        Addon.ISTIO: [settings.mesh.namespace, settings.mesh.cni_namespace],
        Addon.POLICY_CONTROLLER: [settings.supply_chain.namespace] if settings.supply_chain else [],
    }
    return sorted({name for addon in settings.preinstalled_addons for name in by_addon[addon]})


def write_project(folder: Path, venv: Path) -> Path:
    """Write the project (Pulumi.yaml, its `__main__.py`) into `folder`; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    project = {
        "name": PROJECT,
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": str(venv)}},
    }
    (folder / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False), encoding="utf-8")
    (folder / "__main__.py").write_text(MAIN, encoding="utf-8")
    return folder


def production_config(tree: Path = REPO_ROOT) -> dict[str, Any]:
    """`stacks/Pulumi.prod.yaml`'s `config:` map, of the checkout or of an older tree of it."""
    document = yaml.safe_load((tree / "stacks" / "Pulumi.prod.yaml").read_text(encoding="utf-8"))
    return dict(document["config"])
