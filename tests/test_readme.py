"""The README and the docs stay true to the code: commands, the import example, the support matrix,
the documented defaults (the configuration reference itself is generated: tests/tools/test_config_reference.py)."""

from __future__ import annotations

from secure_model_serving.serving_contract import ServerEnv
from secure_model_serving.versions import KUBERNETES_TARGET, support_matrix_markdown
from tests.support.stacks import stack_config
from tools.mock_engine import REPO_ROOT, cli_config, run_with_mocks

README = (REPO_ROOT / "README.md").read_text()
CONFIGURATION = (REPO_ROOT / "docs" / "configuration.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "```sh\n   make test\n   ```" in README and "\nmake test\n" in ci


def test_the_import_example_builds_hardened_resources(run_program) -> None:
    example = README.split("## Using the components from another repository", 1)[1]
    code = example.split("```python\n", 1)[1].split("```", 1)[0]
    registrations = run_program(lambda: exec(code, {}))
    kinds = {item.inputs.get("kind") for item in registrations if item.custom}
    assert {"Namespace", "ServiceAccount", "Deployment", "NetworkPolicy"} <= kinds


def test_the_tenants_example_builds_every_model_of_a_shared_stack() -> None:
    example = README.split("## Using the components from another repository", 1)[1]
    code = example.split("```python\n")[2].split("```", 1)[0]
    config, _ = cli_config(stack_config("shared"))
    registrations = run_with_mocks(lambda: exec(code, {}), "shared", config)
    tenants = [item.name for item in registrations if item.type.endswith(":ModelTenant")]
    assert tenants == ["fraud-detector", "churn-predictor", "credit-scorer"]


def test_the_support_matrix_is_the_one_in_the_code() -> None:
    start, end = "<!-- support-matrix:start -->\n", "<!-- support-matrix:end -->"
    published = README.split(start, 1)[1].split(end, 1)[0]
    expected = support_matrix_markdown()
    assert published == expected, f"regenerate the README's table from components.versions:\n{expected}"


def test_the_documented_default_kubernetes_version_is_the_target() -> None:
    (row,) = [line for line in CONFIGURATION.splitlines() if line.startswith("| `kubernetesVersion` |")]
    assert row.split(" | ")[1] == f'`"{KUBERNETES_TARGET}"`'


def test_the_model_servers_documented_defaults_are_the_codes() -> None:
    import secure_model_serving.serving_contract as contract
    from secure_model_serving.settings import SHUTDOWN_MARGIN_SECONDS, ModelSettings, Shutdown

    shutdown = Shutdown()
    for key, value in (
        ("preStopSeconds", shutdown.pre_stop_seconds),
        ("drainSeconds", shutdown.drain_seconds),
        ("terminationGracePeriodSeconds", shutdown.termination_grace_period_seconds),
    ):
        assert f"| `model.shutdown.{key}` | `{value}` |" in CONFIGURATION
    assert f"at least preStop + drain + {SHUTDOWN_MARGIN_SECONDS} |" in CONFIGURATION
    timeout = ModelSettings.model_fields["request_read_timeout_seconds"].default
    assert timeout == contract.REQUEST_READ_TIMEOUT_SECONDS
    assert f"| `model.requestReadTimeoutSeconds` | `{timeout}` |" in CONFIGURATION
    assert shutdown.drain_seconds == contract.GRACEFUL_TIMEOUT_SECONDS
    for name in (ServerEnv.REQUEST_READ_TIMEOUT, ServerEnv.GRACEFUL_TIMEOUT, ServerEnv.MODEL_SIGNER_IDENTITY):
        assert f"`{name}`" in CONFIGURATION


def test_the_readme_links_the_configuration_reference() -> None:
    assert "(docs/configuration.md)" in README
    assert "| `model.image` |" not in README  # the table lives in the generated file only
