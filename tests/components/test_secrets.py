"""External Secrets: pinned operator, per-provider stores, owned/retained ExternalSecrets, files not env."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from secure_model_serving.cluster.secrets_operator import SecretsOperator, SecretsOperatorArgs
from secure_model_serving.tenant.secrets import (
    API_VERSION,
    AwsSecretsManager,
    GcpSecretManager,
    ModelSecrets,
    ModelSecretsArgs,
    SecretItem,
    VaultKubernetesAuth,
)
from secure_model_serving.tenant.workload import (
    SECRET_FILE_MODE,
    SECRET_MOUNT_ROOT,
    SECRETS_CHECKSUM_ANNOTATION,
    ContainerResources,
    HardenedModelDeploymentArgs,
    pod_spec,
)
from secure_model_serving.versions import EXTERNAL_SECRETS, POD_SECURITY_VERSION
from tests.support.registrations import only
from tools.mock_engine import PROJECT, Registration
from tools.render import render_config, stack_file

VAULT = VaultKubernetesAuth(server="https://vault.example.com", role="fraud-model")
AWS = AwsSecretsManager(region="eu-west-1", role_arn="arn:aws:iam::123456789012:role/fraud-secrets")
GCP = GcpSecretManager(
    project_id="ml-prod-1234",
    service_account="fraud-secrets@ml-prod-1234.iam.gserviceaccount.com",
    cluster_location="europe-west1",
    cluster_name="models",
)
ITEMS = [SecretItem("feature-store", "fraud/feature-store", ["username", "password"])]


def args(**changes: Any) -> ModelSecretsArgs:
    values: dict[str, Any] = {"namespace": "fraud-model", "store": VAULT, "items": ITEMS}
    return ModelSecretsArgs(**(values | changes))


def of_kind(registrations: list[Registration], kind: str) -> list[Registration]:
    return [item for item in registrations if item.inputs.get("kind") == kind]


def build(run_program, **changes: Any) -> list[Registration]:
    return run_program(lambda: ModelSecrets("fraud-secrets", args(**changes)))


def test_vault_store_uses_kubernetes_auth_with_its_own_account(run_program) -> None:
    registrations = build(run_program)
    store = only(registrations, "SecretStore")
    assert store["apiVersion"] == API_VERSION == "external-secrets.io/v1"
    vault = store["spec"]["provider"]["vault"]
    assert vault["server"] == "https://vault.example.com" and vault["version"] == "v2"
    assert vault["auth"]["kubernetes"] == {
        "mountPath": "kubernetes",
        "role": "fraud-model",
        "serviceAccountRef": {"name": "secret-store"},
    }
    account = only(registrations, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert "annotations" not in account["metadata"]


def test_aws_store_uses_irsa_through_the_store_account(run_program) -> None:
    registrations = build(run_program, store=AWS)
    aws = only(registrations, "SecretStore")["spec"]["provider"]["aws"]
    assert aws == {
        "service": "SecretsManager",
        "region": "eu-west-1",
        "auth": {"jwt": {"serviceAccountRef": {"name": "secret-store"}}},
    }
    account = only(registrations, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": AWS.role_arn}
    assert account["automountServiceAccountToken"] is False


def test_gcp_store_uses_workload_identity(run_program) -> None:
    registrations = build(run_program, store=GCP)
    gcp = only(registrations, "SecretStore")["spec"]["provider"]["gcpsm"]
    assert gcp["projectID"] == "ml-prod-1234"
    assert gcp["auth"]["workloadIdentity"]["serviceAccountRef"] == {"name": "secret-store"}
    account = only(registrations, "ServiceAccount")
    assert account["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": GCP.service_account}


def test_store_account_gets_no_rbac(run_program) -> None:
    registrations = build(run_program, store=AWS)
    kinds = {item.inputs.get("kind") for item in registrations if item.custom}
    assert kinds == {"ServiceAccount", "SecretStore", "ExternalSecret"}


def test_external_secrets_own_their_target_and_retain_it(run_program) -> None:
    registrations = build(run_program, refresh_interval="30m")
    store = of_kind(registrations, "SecretStore")[0]
    (secret,) = of_kind(registrations, "ExternalSecret")
    spec = secret.inputs["spec"]
    assert secret.inputs["apiVersion"] == API_VERSION
    assert spec["refreshInterval"] == "30m"
    assert spec["target"] == {"name": "feature-store", "creationPolicy": "Owner", "deletionPolicy": "Retain"}
    assert spec["secretStoreRef"] == {"name": store.inputs["metadata"]["name"], "kind": "SecretStore"}
    assert spec["data"] == [
        {"secretKey": "username", "remoteRef": {"key": "fraud/feature-store", "property": "username"}},
        {"secretKey": "password", "remoteRef": {"key": "fraud/feature-store", "property": "password"}},
    ]
    assert secret.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
    assert store.urn in secret.options.depends_on


def test_only_v1_external_secrets_resources(run_program) -> None:
    for store in (VAULT, AWS, GCP):
        registrations = build(run_program, store=store)
        versions = {
            item.inputs["apiVersion"]
            for item in registrations
            if item.custom and item.inputs["kind"] != "ServiceAccount"
        }
        assert versions == {API_VERSION}


def test_operator_is_pinned_installs_crds_in_a_restricted_namespace(run_program) -> None:
    registrations = run_program(
        lambda: SecretsOperator(
            "secrets", SecretsOperatorArgs(served_namespace="fraud-model", pod_security_version=POD_SECURITY_VERSION)
        )
    )
    (release,) = [item for item in registrations if item.type == "kubernetes:helm.sh/v3:Release"]
    assert (release.inputs["chart"], release.inputs["version"]) == (EXTERNAL_SECRETS.name, EXTERNAL_SECRETS.version)
    values = release.inputs["values"]
    assert values["installCRDs"] is True
    cluster_wide = (
        "processClusterStore",
        "processClusterExternalSecret",
        "processClusterGenerator",
        "processClusterPushSecret",
        "processPushSecret",
    )
    assert {key: values[key] for key in cluster_wide} == dict.fromkeys(cluster_wide, False)
    assert values["resources"]["requests"]
    # More than one controller replica is only safe with leader election.
    assert values["replicaCount"] > 1 and values["leaderElect"] is True
    # Secrets rights in the model namespace only (a Role there), not a ClusterRole over all Secrets;
    # and not aggregated into the cluster's view/edit roles.
    assert (values["scopedNamespace"], values["scopedRBAC"]) == ("fraud-model", True)
    assert values["rbac"] == {"aggregateToView": False, "aggregateToEdit": False}
    namespace = only(registrations, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_checksum_follows_what_is_mounted() -> None:
    def checksum(**changes: Any) -> str:
        from tools.mock_engine import run_with_mocks

        holder: list[ModelSecrets] = []
        run_with_mocks(lambda: holder.append(ModelSecrets("s", args(**changes))), "test", {})
        return holder[0].checksum

    assert checksum() == checksum()
    assert checksum() != checksum(items=[SecretItem("feature-store", "fraud/feature-store", ["username"])])
    assert checksum() != checksum(store=AWS)


@pytest.mark.parametrize(
    "changes",
    [
        {"items": []},
        {"items": [SecretItem("Bad_Name", "k", ["p"])]},
        {"items": [SecretItem("a", "k", [])]},
        {"items": [SecretItem("a", "k", ["p"]), SecretItem("a", "j", ["q"])]},
        {"namespace": "Fraud"},
        {"store": VaultKubernetesAuth(server="http://vault", role="r")},
        {"store": "vault"},
    ],
)
def test_bad_args_are_refused_before_anything_is_created(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ModelSecretsArgs"):
        args(**changes)


def deployment_args(**changes: Any) -> HardenedModelDeploymentArgs:
    values: dict[str, Any] = {
        "namespace": "fraud-model",
        "image": "registry.example.com/models/fraud@sha256:" + "ab" * 32,
        "service_account_name": "fraud",
        "resources": ContainerResources(
            requests={"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
            limits={"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
        ),
    }
    return HardenedModelDeploymentArgs(**(values | changes))


def test_secrets_are_read_only_files_never_env() -> None:
    spec = pod_spec(deployment_args(secret_files=["feature-store", "audit-sink"]), {"app": "x"})
    (container,) = spec["containers"]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    for name in ("feature-store", "audit-sink"):
        mount = mounts[f"{SECRET_MOUNT_ROOT}/{name}"]
        assert mount["readOnly"] is True
        (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"] == {"secretName": name, "defaultMode": SECRET_FILE_MODE, "optional": False}
    assert SECRET_FILE_MODE == 0o440
    assert "envFrom" not in container
    assert all("valueFrom" not in item for item in container["env"])


def test_without_secrets_nothing_is_mounted() -> None:
    spec = pod_spec(deployment_args(), {"app": "x"})
    assert not [v for v in spec["volumes"] if "secret" in v]
    assert [m["mountPath"] for m in spec["containers"][0]["volumeMounts"]] == ["/tmp"]


def test_bad_secret_file_names_are_refused() -> None:
    with pytest.raises(ValueError, match="secret_files"):
        deployment_args(secret_files=["x" * 57])
    with pytest.raises(ValueError, match="secret_files"):
        deployment_args(secret_files=["a", "a"])


def _stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load(stack_file(stack).read_text())["config"]


def _deployment(stack: str, config: dict[str, Any]) -> Registration:
    rendered = render_config(stack, config)
    (found,) = [item.registration for item in rendered if item.registration.inputs.get("kind") == "Deployment"]
    return found


def test_pods_roll_when_the_mounted_secrets_change_and_wait_for_them() -> None:
    config = _stack_config("prod")
    before = _deployment("prod", config)
    annotation = before.inputs["spec"]["template"]["metadata"]["annotations"][SECRETS_CHECKSUM_ANNOTATION]
    assert len(annotation) == 64
    rendered = render_config("prod", config)
    secrets = [item.registration for item in rendered if item.registration.inputs.get("kind") == "ExternalSecret"]
    assert secrets and all(item.urn in before.options.depends_on for item in secrets)

    changed = copy.deepcopy(config)
    changed[f"{PROJECT}:secrets"]["items"][0]["properties"] = ["username"]
    after = _deployment("prod", changed)
    assert after.inputs["spec"]["template"]["metadata"]["annotations"][SECRETS_CHECKSUM_ANNOTATION] != annotation
    assert _deployment("prod", copy.deepcopy(config)).inputs["spec"]["template"] == before.inputs["spec"]["template"]


def test_stacks_use_different_providers() -> None:
    providers = {stack: _stack_config(stack)[f"{PROJECT}:secrets"]["provider"] for stack in ("dev", "staging", "prod")}
    assert providers == {"dev": "vault", "staging": "vault", "prod": "aws"}
