"""SecureModelPlatform through the real program: composition, ordering, per-environment posture."""

from __future__ import annotations

import pulumi
import pytest

from secure_model_serving.program.run import run
from secure_model_serving.serving_contract import ServerEnv, VerifyMethod
from secure_model_serving.settings import SettingsError
from tests.support.stacks import PRODUCTION_STACKS, STACKS, stack_config
from tools.mock_engine import RecordingMocks, cli_config, run_with_mocks
from tools.render import Rendered


def registration(items: list[Rendered], type_token: str, name: str | None = None):
    (match,) = [
        item.registration
        for item in items
        if item.registration.type == type_token and name in (None, item.registration.name)
    ]
    return match


def test_bad_config_registers_nothing() -> None:
    config = stack_config("prod")
    config["secure-model-serving:model"]["replicas"] = -1
    mocks = RecordingMocks()
    with pytest.raises(SettingsError, match=r"model\.replicas"):
        run_with_mocks(run, "prod", cli_config(config)[0], mocks=mocks)
    assert mocks.registrations == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_hangs_under_the_platform(rendered, stack: str) -> None:
    for item in rendered[stack]:
        if item.registration.type != "secureml:platform:SecureModelPlatform":
            assert "secureml:platform:SecureModelPlatform$" in item.registration.urn, item.registration.urn


def test_only_production_protects_its_namespaces(rendered) -> None:
    for stack in STACKS:
        model = registration(rendered[stack], "kubernetes:core/v1:Namespace", "fraud-model").options
        assert model.protect is model.retain_on_delete is (stack in PRODUCTION_STACKS)
        admission = registration(rendered[stack], "kubernetes:core/v1:Namespace", "admission-namespace").options
        assert admission.protect is (stack in PRODUCTION_STACKS)


def test_workload_waits_for_its_namespace_and_identity(rendered) -> None:
    items = rendered["prod"]
    namespace_urn = registration(items, "kubernetes:core/v1:Namespace", "fraud-model").urn
    account_urn = registration(items, "kubernetes:core/v1:ServiceAccount", "fraud-detector-identity-sa").urn
    deployment = registration(items, "kubernetes:apps/v1:Deployment")
    assert namespace_urn in deployment.options.depends_on
    assert account_urn in deployment.options.depends_on


def test_workload_is_created_only_once_every_constraint_exists(rendered) -> None:
    items = rendered["prod"]
    deployment = registration(items, "kubernetes:apps/v1:Deployment")
    constraint_urns = {
        item.registration.urn for item in items if item.registration.type.startswith("kubernetes:constraints.")
    }
    assert constraint_urns and constraint_urns <= set(deployment.options.depends_on)


def test_environments_differ_in_availability(rendered) -> None:
    def kinds(stack: str) -> set[str]:
        return {item.document["kind"] for item in rendered[stack] if item.document and "kind" in item.document}

    assert "HorizontalPodAutoscaler" not in kinds("dev")
    assert "HorizontalPodAutoscaler" in kinds("staging") and "HorizontalPodAutoscaler" in kinds("prod")
    prod = registration(rendered["prod"], "kubernetes:apps/v1:Deployment")
    assert prod.options.ignore_changes == ("spec.replicas",)
    pod = prod.inputs["spec"]["template"]["spec"]
    assert pod["nodeSelector"] and pod["tolerations"]
    dev_pod = registration(rendered["dev"], "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]
    assert "nodeSelector" not in dev_pod


def test_outputs_are_exported(rendered) -> None:
    seen: list[str] = []

    def program() -> None:
        run().service_address.apply(seen.append)

    run_with_mocks(program, "prod", cli_config(stack_config("prod"))[0])
    assert seen == ["fraud-detector.fraud-model.svc.cluster.local:8080"]


def test_every_component_and_its_args_are_public() -> None:
    import importlib
    import inspect
    import pkgutil

    import secure_model_serving
    from secure_model_serving import components

    found = set()
    for module_info in pkgutil.walk_packages(secure_model_serving.__path__, "secure_model_serving."):
        module = importlib.import_module(module_info.name)
        for name, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ == module.__name__ and issubclass(value, pulumi.ComponentResource):
                found.add(name)
                if hasattr(module, f"{name}Args"):
                    found.add(f"{name}Args")
    assert {"SecureModelPlatform", "ModelTenant", "HardenedModelDeploymentArgs"} <= found
    assert found <= set(components.__all__), sorted(found - set(components.__all__))


MODEL = "fraud-detector"


def test_the_server_gets_its_read_timeout_and_drain_by_the_names_it_reads(rendered) -> None:
    from app.config import Settings

    for items in rendered.values():
        documents = [item.document for item in items if item.document]
        deployments = [doc for doc in documents if doc.get("kind") == "Deployment"]
        (spec,) = [doc["spec"]["template"]["spec"] for doc in deployments if doc["metadata"]["name"] == MODEL]
        (container,) = [c for c in spec["containers"] if c["name"] == "model"]
        env = {item["name"]: item["value"] for item in container["env"]}
        assert set(env) == {ServerEnv.PORT, ServerEnv.REQUEST_READ_TIMEOUT, ServerEnv.GRACEFUL_TIMEOUT}
        settings = Settings.from_env(env)  # the server accepts them, within its bounds
        assert settings.port == container["ports"][0]["containerPort"]
        drain = settings.graceful_timeout_seconds
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pre_stop + drain < spec["terminationGracePeriodSeconds"]


def _certificate_mode_deployment(tmp_path, identity: str = "CN=acme model signer") -> tuple[dict, dict]:
    """prod with certificate-mode verification: its model Deployment and signing ConfigMap."""
    from tests.support.pki import make_pki

    pki = make_pki(tmp_path, "acme")
    config = stack_config("prod")
    model = config["secure-model-serving:model"]
    model.pop("signingPublicKey")
    chain = pki.intermediate_cert.read_text() + pki.root_cert.read_text()
    model["signingCertificate"] = {"chain": chain, "signerIdentity": identity}
    mocks = RecordingMocks()
    run_with_mocks(run, "prod", cli_config(config)[0], mocks=mocks)
    (deployment,) = [r.inputs for r in mocks.registrations if r.inputs.get("kind") == "Deployment"]
    (config_map,) = [
        r.inputs
        for r in mocks.registrations
        if r.inputs.get("kind") == "ConfigMap" and "signing" in r.inputs["metadata"]["name"]
    ]
    return deployment, config_map


def test_certificate_mode_gives_the_server_its_chain_and_the_one_signer_it_accepts(tmp_path) -> None:
    from app.config import Settings

    deployment, config_map = _certificate_mode_deployment(tmp_path)
    spec = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in spec["containers"] if c["name"] == "model"]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env[ServerEnv.MODEL_VERIFY_METHOD] == VerifyMethod.CERTIFICATE
    assert env[ServerEnv.MODEL_SIGNER_IDENTITY] == "CN=acme model signer"
    # The chain lands where the server is told to read it: the mount, plus the projected path.
    (volume,) = [v for v in spec["volumes"] if "configMap" in v]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    (item,) = volume["configMap"]["items"]
    assert env[ServerEnv.MODEL_CERTIFICATE_CHAIN] == f"{mount['mountPath']}/{item['path']}"
    assert "BEGIN CERTIFICATE" in config_map["data"][item["key"]]
    # The server accepts exactly this environment.
    settings = Settings.from_env(env)
    assert settings.signer_identity == "CN=acme model signer"


@pytest.mark.parametrize("case", ["neither", "malformed", "a leaf, not a CA"])
def test_certificate_mode_is_refused_when_ambiguous_or_malformed(tmp_path, case: str) -> None:
    from tests.support.pki import make_pki

    config = stack_config("prod")
    model = config["secure-model-serving:model"]
    model.pop("signingPublicKey")
    chains = {"malformed": "not a certificate", "a leaf, not a CA": make_pki(tmp_path, "x").leaf_cert.read_text()}
    if case in chains:
        model["signingCertificate"] = {"chain": chains[case], "signerIdentity": "CN=x model signer"}
    message = {"neither": "set exactly one of signingPublicKey", "malformed": "PEM certificates"}.get(case, "CA cert")
    with pytest.raises(SettingsError, match=message):
        run_with_mocks(run, "prod", cli_config(config)[0], mocks=RecordingMocks())
