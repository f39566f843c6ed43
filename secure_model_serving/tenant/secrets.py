"""ModelSecrets: a model's secrets come from an external store, never from Pulumi.

The External Secrets Operator is the platform's (secure_model_serving.cluster.secrets_operator).
`ModelSecrets`, one per model namespace, is: a ServiceAccount that only identifies the namespace
  to the store (no RBAC, token never automounted: the operator requests short-lived tokens for
  it through the TokenRequest API), a namespaced `SecretStore` for the chosen provider, and one
  `ExternalSecret` per configured secret. Pulumi only ever sees the *references* (store address,
  remote key names); the values go straight from the store into Kubernetes Secrets, so they are
  in neither Pulumi state nor the render.

Providers and how the store authenticates:

- vault: Kubernetes auth (`auth.kubernetes`) with a Vault role bound to the ServiceAccount.
- aws: Secrets Manager through IRSA (`auth.jwt.serviceAccountRef`); the ServiceAccount carries
  the `eks.amazonaws.com/role-arn` annotation.
- gcp: Secret Manager through GKE workload identity (`auth.workloadIdentity`); the
  ServiceAccount carries the `iam.gke.io/gcp-service-account` annotation.

The ExternalSecrets own their Secrets (`creationPolicy: Owner`) but keep the Secret when the
remote value is deleted (`deletionPolicy: Retain`), so a store-side mistake does not take a
running model's credentials away. Each carries `pulumi.com/waitFor: condition=Ready`, so the
model Deployment that mounts them is created only once the first sync succeeded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ..formats import is_dns_label
from ..naming import MANAGED_BY, PART_OF, TYPE_PREFIX
from ..options import child_options
from ..system import custom_resource

__all__ = [
    "API_VERSION",
    "AwsSecretsManager",
    "GcpSecretManager",
    "ModelSecrets",
    "ModelSecretsArgs",
    "SecretItem",
    "VaultKubernetesAuth",
    "external_secret",
    "secret_store",
    "store_service_account",
]

API_VERSION = "external-secrets.io/v1"
"""The only External Secrets API version this project writes."""

_STORE_KIND = "SecretStore"
_WAIT_FOR_SYNC = "condition=Ready"


@dataclass(frozen=True)
class VaultKubernetesAuth:
    """HashiCorp Vault KV v2, authenticated with Vault's Kubernetes auth method."""

    server: str
    """https:// address of the Vault server."""
    role: str
    """Vault role bound to the store's ServiceAccount and namespace."""
    path: str = "secret"
    """Mount path of the KV engine."""
    auth_mount_path: str = "kubernetes"
    """Mount path of the Kubernetes auth method."""


@dataclass(frozen=True)
class AwsSecretsManager:
    """AWS Secrets Manager through IRSA."""

    region: str
    """AWS region of the secrets."""
    role_arn: str
    """IAM role the store's ServiceAccount assumes (IRSA annotation)."""


@dataclass(frozen=True)
class GcpSecretManager:
    """GCP Secret Manager through GKE workload identity."""

    project_id: str
    """Project holding the secrets."""
    service_account: str
    """Google service account the store's ServiceAccount is bound to (annotation)."""
    cluster_location: str
    """Location of the GKE cluster (for the federated token exchange)."""
    cluster_name: str
    """Name of the GKE cluster."""


Store = VaultKubernetesAuth | AwsSecretsManager | GcpSecretManager


@dataclass(frozen=True)
class SecretItem:
    """One Kubernetes Secret to sync: `properties` of the remote secret `remote_key`, one key each."""

    name: str
    """Name of the Kubernetes Secret (and of its folder under the model's secrets path)."""
    remote_key: str
    """Key (path) of the secret in the store."""
    properties: Sequence[str]
    """Properties of the remote secret to copy; each becomes one key (one file)."""


@dataclass(frozen=True)
class ModelSecretsArgs:
    """Inputs of ModelSecrets."""

    namespace: str
    """The model namespace the store and the Secrets live in."""
    store: Store
    """Which store, and how to authenticate to it."""
    items: Sequence[SecretItem]
    """The Secrets to sync (at least one)."""
    refresh_interval: str = "1h"
    """How often the operator re-reads the store."""
    service_account_name: str = "secret-store"
    """ServiceAccount that identifies the namespace to the store."""

    def __post_init__(self) -> None:
        problems = []
        for label, value in (("namespace", self.namespace), ("service_account_name", self.service_account_name)):
            if not is_dns_label(value):
                problems.append(f"{label} {value!r} is not a DNS label")
        if not self.items:
            problems.append("items must name at least one secret")
        names = [item.name for item in self.items]
        if len(set(names)) != len(names):
            problems.append("item names must be unique")
        for item in self.items:
            if not is_dns_label(item.name):
                problems.append(f"item name {item.name!r} is not a DNS label")
            if not item.properties:
                problems.append(f"item {item.name!r} must copy at least one property")
        if not isinstance(self.store, VaultKubernetesAuth | AwsSecretsManager | GcpSecretManager):
            problems.append("store must be VaultKubernetesAuth, AwsSecretsManager or GcpSecretManager")
        elif isinstance(self.store, VaultKubernetesAuth) and not self.store.server.startswith("https://"):
            problems.append("store.server must be an https:// address")
        if problems:
            raise ValueError("ModelSecretsArgs: " + "; ".join(problems))


def store_service_account(args: ModelSecretsArgs) -> dict[str, Any]:
    """The store's ServiceAccount manifest: no token mounted, only the provider's annotation."""
    annotations: dict[str, str] = {}
    if isinstance(args.store, AwsSecretsManager):
        annotations["eks.amazonaws.com/role-arn"] = args.store.role_arn
    elif isinstance(args.store, GcpSecretManager):
        annotations["iam.gke.io/gcp-service-account"] = args.store.service_account
    metadata: dict[str, Any] = {
        "name": args.service_account_name,
        "namespace": args.namespace,
        "labels": {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": MANAGED_BY},
    }
    if annotations:
        metadata["annotations"] = annotations
    # The operator gets short-lived tokens for it via TokenRequest; no pod ever mounts one.
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata, "automountServiceAccountToken": False}


def _provider(args: ModelSecretsArgs) -> dict[str, Any]:
    account = {"name": args.service_account_name}
    store = args.store
    if isinstance(store, VaultKubernetesAuth):
        return {
            "vault": {
                "server": store.server,
                "path": store.path,
                "version": "v2",
                "auth": {
                    "kubernetes": {
                        "mountPath": store.auth_mount_path,
                        "role": store.role,
                        "serviceAccountRef": account,
                    }
                },
            }
        }
    if isinstance(store, AwsSecretsManager):
        return {
            "aws": {
                "service": "SecretsManager",
                "region": store.region,
                "auth": {"jwt": {"serviceAccountRef": account}},
            }
        }
    return {
        "gcpsm": {
            "projectID": store.project_id,
            "auth": {
                "workloadIdentity": {
                    "clusterLocation": store.cluster_location,
                    "clusterName": store.cluster_name,
                    "serviceAccountRef": account,
                }
            },
        }
    }


def secret_store(args: ModelSecretsArgs, name: str) -> dict[str, Any]:
    """The namespaced SecretStore manifest."""
    return {
        "apiVersion": API_VERSION,
        "kind": _STORE_KIND,
        "metadata": {"name": name, "namespace": args.namespace},
        "spec": {"provider": _provider(args)},
    }


def external_secret(args: ModelSecretsArgs, item: SecretItem, store_name: str) -> dict[str, Any]:
    """One ExternalSecret manifest: owned target Secret, kept when the remote value disappears."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ExternalSecret",
        "metadata": {
            "name": item.name,
            "namespace": args.namespace,
            "annotations": {"pulumi.com/waitFor": _WAIT_FOR_SYNC},
        },
        "spec": {
            "refreshInterval": args.refresh_interval,
            "secretStoreRef": {"name": store_name, "kind": _STORE_KIND},
            "target": {"name": item.name, "creationPolicy": "Owner", "deletionPolicy": "Retain"},
            "data": [
                {"secretKey": prop, "remoteRef": {"key": item.remote_key, "property": prop}} for prop in item.properties
            ],
        },
    }


class ModelSecrets(pulumi.ComponentResource):
    """A model namespace's ServiceAccount, SecretStore and ExternalSecrets.

    Pass `depends_on=[the SecretsOperator]` so the CRDs exist first.

    Outputs:
        secret_names: names of the Kubernetes Secrets the operator keeps in sync.
        checksum: sha256 of the store and ExternalSecret specs; changes whenever what is mounted
            (which secret, which keys, from where) changes.
    """

    secret_names: list[str]
    checksum: str

    def __init__(self, name: str, args: ModelSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:secrets:ModelSecrets", name, None, opts)
        account = store_service_account(args)
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-store-sa",
            metadata=account["metadata"],
            automount_service_account_token=account["automountServiceAccountToken"],
            opts=child_options(self, opts),
        )
        store_document = secret_store(args, name=f"{args.namespace}-store")
        store = custom_resource(
            f"{name}-store", store_document, child_options(self, opts, depends_on=[service_account])
        )
        documents = [external_secret(args, item, store_document["metadata"]["name"]) for item in args.items]
        for item, document in zip(args.items, documents, strict=True):
            custom_resource(f"{name}-{item.name}", document, child_options(self, opts, depends_on=[store]))

        self.secret_names = [item.name for item in args.items]
        self.checksum = hashlib.sha256(
            json.dumps([store_document["spec"], *(d["spec"] for d in documents)], sort_keys=True).encode()
        ).hexdigest()
        self.register_outputs({"secret_names": self.secret_names, "checksum": self.checksum})
