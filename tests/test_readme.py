"""The README's config reference and commands stay true to the code."""

from __future__ import annotations

import re
import typing

from pydantic import BaseModel

from components.settings import StackSettings
from components.versions import KUBERNETES_TARGET, support_matrix_markdown
from serving_contract import ServerEnv
from tools.mock_engine import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def setting_paths(model: type[BaseModel] = StackSettings, prefix: str = "", leaves: bool = False) -> set[str]:
    """Every key path of the settings (only the leaves with `leaves`); a list is one leaf."""
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        sections = (
            []
            if typing.get_origin(field.annotation) is list
            else [
                candidate
                for candidate in (field.annotation, *typing.get_args(field.annotation))
                if isinstance(candidate, type) and issubclass(candidate, BaseModel)
            ]
        )
        if not (leaves and sections):
            paths.add(path)
        for section in sections:
            paths |= setting_paths(section, path + ".", leaves)
    return paths


def documented_keys() -> set[str]:
    """Keys named in the first column of the configuration reference (`.x` is relative)."""
    section = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    keys: set[str] = set()
    for row in re.findall(r"^\| (`[^|]+) \|", section, flags=re.MULTILINE):
        names = re.findall(r"`([^`]+)`", row)
        base = names[0].rsplit(".", 1)[0]
        keys |= {base + name if name.startswith(".") else name for name in names}
    return keys


def test_every_setting_is_in_the_config_reference() -> None:
    paths, documented = setting_paths(leaves=True), documented_keys()
    amounts = {"cpu", "memory", "ephemeralStorage"}
    # A documented key covers what is below it (e.g. resources.requests covers its cpu).
    missing = {
        path
        for path in paths
        if not any(path == key or path.startswith(key + ".") for key in documented)
        and not (path.rsplit(".", 1)[-1] in amounts and path.rsplit(".", 1)[0] in documented)
    }
    assert not missing, f"settings missing from the README's config reference: {sorted(missing)}"


def test_the_config_reference_names_only_real_settings() -> None:
    unknown = documented_keys() - setting_paths()
    assert not unknown, f"the README documents keys that do not exist: {sorted(unknown)}"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "```sh\n   make test\n   ```" in README and "\nmake test\n" in ci


def test_the_import_example_builds_hardened_resources(run_program) -> None:
    example = README.split("## Using the components from another repository", 1)[1]
    code = example.split("```python\n", 1)[1].split("```", 1)[0]
    registrations = run_program(lambda: exec(code, {}))
    kinds = {item.inputs.get("kind") for item in registrations if item.custom}
    assert {"Namespace", "ServiceAccount", "Deployment", "NetworkPolicy"} <= kinds


def test_the_support_matrix_is_the_one_in_the_code() -> None:
    start, end = "<!-- support-matrix:start -->\n", "<!-- support-matrix:end -->"
    published = README.split(start, 1)[1].split(end, 1)[0]
    expected = support_matrix_markdown()
    assert published == expected, f"regenerate the README's table from components.versions:\n{expected}"


def test_the_documented_default_kubernetes_version_is_the_target() -> None:
    (row,) = [line for line in README.splitlines() if line.startswith("| `kubernetesVersion` |")]
    assert row.split(" | ")[1] == f'`"{KUBERNETES_TARGET}"`'


def test_the_model_servers_documented_defaults_are_the_codes() -> None:
    import serving_contract as contract
    from components.settings import SHUTDOWN_MARGIN_SECONDS, ModelSettings, Shutdown

    shutdown = Shutdown()
    row = (
        f"| `{shutdown.pre_stop_seconds}`, `{shutdown.drain_seconds}`, `{shutdown.termination_grace_period_seconds}` |"
    )
    assert row in README
    assert f"at least preStop + drain + {SHUTDOWN_MARGIN_SECONDS} |" in README
    timeout = ModelSettings.model_fields["request_read_timeout_seconds"].default
    assert timeout == contract.REQUEST_READ_TIMEOUT_SECONDS
    assert f"| `model.requestReadTimeoutSeconds` | `{timeout}` |" in README
    assert shutdown.drain_seconds == contract.GRACEFUL_TIMEOUT_SECONDS
    for name in (ServerEnv.REQUEST_READ_TIMEOUT, ServerEnv.GRACEFUL_TIMEOUT, ServerEnv.MODEL_SIGNER_IDENTITY):
        assert f"`{name}`" in README
