"""Sigstore policy-controller in the sandbox: the real webhook (cmd/webhook, built by the
toolchain) as a local process, configured as the stack's Helm release would configure it.

What the chart (policy-controller 0.10.6, app v0.13.1) installs and the sandbox reproduces:

- the ConfigMaps the webhook watches in its namespace: `config-policy-controller` (the release's
  `webhook.configData`, here `no-match-policy: deny`), `config-image-policies` and
  `config-sigstore-keys` (filled by the webhook's own reconcilers) and the logging ConfigMap
  named by `CONFIG_LOGGING_NAME`;
- the `webhook-certs` Secret, which the chart leaves empty for the webhook to fill; here it holds
  the sandbox CA's certificate for `IP:127.0.0.1` (and the Service name the webhook checks), so
  the API server can call it on loopback;
- the webhook configurations: `policy.sigstore.dev` (validating and mutating) for Pods and the
  workload kinds in namespaces labelled `policy.sigstore.dev/include=true`, with the release's
  `webhook.failurePolicy`, and the ClusterImagePolicy webhooks (`failurePolicy: Fail`). In a
  cluster the webhook itself writes their rules, CA bundle and Service path; here they point at
  `https://127.0.0.1:PORT/<path>` with the rules and selectors the webhook would write (its
  reconciler then reports "missing service reference" and leaves them alone).

Run offline: `-disable-tuf` (the chart passes no flag, so in a cluster the webhook fetches the
public Sigstore TUF root at start). Key-based ClusterImagePolicies need no TUF root; keyless ones
(Fulcio, Rekor) cannot be checked here and are covered by unit tests of the rendered policy.

Two limits of the real binary: its health-probe server listens on port 8080 and its webhook on
port 8443, both on every interface. Nothing moves the first (knative's default); the second has a
flag, `-secure-port`, that v0.13.1 ignores (cmd/webhook copies the options into the context before
it parses the flags). So one policy-controller runs per machine at a time, and both ports must be
free.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.sandbox.client import ApiClient
from tools.sandbox.pki import CertPair, SandboxPki, server_certificate
from tools.sandbox.processes import RunningProcess, free_port, start, wait_until
from tools.sandbox.registry import OFFLINE_ENV
from tools.toolchain import ensure

__all__ = [
    "FIXED_PORTS",
    "POLICY_CONTROLLER_CHART",
    "WEBHOOK_NAME",
    "WEBHOOK_PORT",
    "PolicyControllerRelease",
    "compiled_policies",
    "config_maps",
    "review_pod",
    "start_policy_controller",
    "webhook_configurations",
]

POLICY_CONTROLLER_CHART = "policy-controller"
WEBHOOK_NAME = "policy.sigstore.dev"
"""The chart's `cosign.webhookName`: the validating and mutating webhooks for workloads."""
_CIP_VALIDATING = "validating.clusterimagepolicy.sigstore.dev"
_CIP_DEFAULTING = "defaulting.clusterimagepolicy.sigstore.dev"
WEBHOOK_PORT = 8443
FIXED_PORTS = (8080, WEBHOOK_PORT)
"""The health-probe and webhook ports the binary always takes (module docstring)."""
_SERVICE = "webhook"  # the chart's Service, whose DNS name the webhook's certificate must carry
_STARTUP_TIMEOUT = 120.0

# The kinds the webhook judges (cmd/webhook/main.go, `types`): group, version, resources.
_WORKLOAD_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("", "v1", ("pods/ephemeralcontainers", "pods")),
    ("apps", "v1", ("daemonsets",)),
    ("apps", "v1", ("deployments",)),
    ("apps", "v1", ("replicasets",)),
    ("apps", "v1", ("statefulsets",)),
    ("batch", "v1", ("cronjobs",)),
    ("batch", "v1", ("jobs",)),
    ("batch", "v1beta1", ("cronjobs",)),
)
_POLICY_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("policy.sigstore.dev", "v1alpha1", ("clusterimagepolicies", "clusterimagepolicies/status")),
    ("policy.sigstore.dev", "v1alpha1", ("trustroots", "trustroots/status")),
    ("policy.sigstore.dev", "v1beta1", ("clusterimagepolicies", "clusterimagepolicies/status")),
)


@dataclass(frozen=True)
class PolicyControllerRelease:
    """The chart values that shape the webhook's configuration (chart defaults where unset)."""

    namespace: str
    release_name: str
    failure_policy: str
    config_data: Mapping[str, str]
    namespace_selector: Mapping[str, Any]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PolicyControllerRelease:
        """Read a rendered Helm release record of the policy-controller chart."""
        webhook = (record.get("values") or {}).get("webhook") or {}
        return cls(
            namespace=str(record.get("namespace") or "cosign-system"),
            release_name=str(record.get("releaseName") or POLICY_CONTROLLER_CHART),
            failure_policy=str(webhook.get("failurePolicy", "Fail")),
            config_data={str(key): str(value) for key, value in (webhook.get("configData") or {}).items()},
            namespace_selector=webhook.get("namespaceSelector")
            or {"matchExpressions": [{"key": "policy.sigstore.dev/include", "operator": "In", "values": ["true"]}]},
        )

    @property
    def fullname(self) -> str:
        """The chart's `policy-controller.fullname` (the release name when it holds the chart's)."""
        if POLICY_CONTROLLER_CHART in self.release_name:
            return self.release_name
        return f"{self.release_name}-{POLICY_CONTROLLER_CHART}"

    @property
    def logging_config_map(self) -> str:
        return f"{self.fullname}-webhook-logging"


def config_maps(release: PolicyControllerRelease) -> list[dict[str, Any]]:
    """The ConfigMaps the chart creates in the webhook's namespace (the webhook refuses to start
    without the ones it watches)."""

    def config_map(name: str, data: Mapping[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": release.namespace},
            "data": dict(data),
        }

    return [
        config_map("config-policy-controller", release.config_data),
        config_map("config-image-policies", {}),
        config_map("config-sigstore-keys", {}),
        config_map(release.logging_config_map, {"loglevel.controller": "info", "loglevel.webhook": "info"}),
    ]


def _certs_secret(release: PolicyControllerRelease, ca: Path, serving: CertPair) -> dict[str, Any]:
    def encoded(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "webhook-certs", "namespace": release.namespace},
        # The keys knative's certificate reconciler reads (and keeps while the certificate is valid).
        "data": {
            "server-cert.pem": encoded(serving.cert),
            "server-key.pem": encoded(serving.key),
            "ca-cert.pem": encoded(ca),
        },
    }


def _rules(rules: Sequence[tuple[str, str, tuple[str, ...]]], operations: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {"apiGroups": [group], "apiVersions": [version], "resources": list(resources), "operations": list(operations)}
        for group, version, resources in rules
    ]


def webhook_configurations(release: PolicyControllerRelease, port: int, ca_bundle: bytes) -> list[dict[str, Any]]:
    """The four webhook configurations of the chart, as the webhook itself would complete them,
    with a loopback URL in place of the Service."""
    bundle = base64.b64encode(ca_bundle).decode()
    selector = dict(release.namespace_selector)
    # The webhook adds this exclusion to every selector it reconciles (knative's convention).
    exclusion = {"key": "webhooks.knative.dev/exclude", "operator": "DoesNotExist"}
    workload_selector = {**selector, "matchExpressions": [exclusion, *selector.get("matchExpressions", [])]}

    def hook(name: str, path: str, failure: str, rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "clientConfig": {"url": f"https://127.0.0.1:{port}{path}", "caBundle": bundle},
            "failurePolicy": failure,
            "sideEffects": "None",
            "rules": rules,
            **extra,
        }

    def configuration(kind: str, name: str, webhook: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name},
            "webhooks": [webhook],
        }

    workload_ops = ("CREATE", "UPDATE")
    policy_ops = ("CREATE", "UPDATE", "DELETE")
    cip_selector = {"matchExpressions": [exclusion]}
    return [
        configuration(
            "MutatingWebhookConfiguration",
            WEBHOOK_NAME,
            hook(
                WEBHOOK_NAME,
                "/mutations",
                release.failure_policy,
                _rules(_WORKLOAD_RULES, workload_ops),
                namespaceSelector=workload_selector,
                reinvocationPolicy="IfNeeded",
            ),
        ),
        configuration(
            "ValidatingWebhookConfiguration",
            WEBHOOK_NAME,
            hook(
                WEBHOOK_NAME,
                "/validations",
                release.failure_policy,
                _rules(_WORKLOAD_RULES, workload_ops),
                namespaceSelector=workload_selector,
            ),
        ),
        configuration(
            "MutatingWebhookConfiguration",
            _CIP_DEFAULTING,
            hook(
                _CIP_DEFAULTING,
                "/defaulting",
                "Fail",
                _rules(_POLICY_RULES, policy_ops),
                namespaceSelector=cip_selector,
                matchPolicy="Equivalent",
            ),
        ),
        configuration(
            "ValidatingWebhookConfiguration",
            _CIP_VALIDATING,
            hook(
                _CIP_VALIDATING,
                "/validating",
                "Fail",
                _rules(_POLICY_RULES, policy_ops),
                namespaceSelector=cip_selector,
                matchPolicy="Equivalent",
            ),
        ),
    ]


def _serves_tls(port: int, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        return True


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))  # the webhook binds every interface, so check them all
        except OSError:
            return False
    return True


def compiled_policies(config_map: Mapping[str, Any]) -> set[str]:
    """Names of the ClusterImagePolicies the webhook has compiled into its `config-image-policies`
    ConfigMap (the chart's placeholder key `_example` is none)."""
    return {key for key in (config_map.get("data") or {}) if not key.startswith("_")}


def start_policy_controller(
    client: ApiClient,
    release: PolicyControllerRelease,
    *,
    pki: SandboxPki,
    kubeconfig: Path,
    root: Path,
    logs: Path,
) -> RunningProcess:
    """Create its ConfigMaps and certificate Secret, start the webhook, wait until it serves TLS,
    then register its webhook configurations. The namespace must exist."""
    taken = [port for port in FIXED_PORTS if not _port_free(port)]
    if taken:
        raise RuntimeError(
            f"port {', '.join(map(str, taken))} taken: policy-controller always listens on {FIXED_PORTS} "
            "(one policy-controller per machine at a time); stop what holds it"
        )
    binary = ensure("policy-controller")
    serving = server_certificate(
        pki, root / "policy-controller", "tls", dns_names=(f"{_SERVICE}.{release.namespace}.svc",)
    )
    for obj in [*config_maps(release), _certs_secret(release, pki.ca.cert, serving)]:
        client.apply(obj)
    port = WEBHOOK_PORT
    home = root / "policy-controller-home"
    home.mkdir(exist_ok=True)
    process = start(
        "policy-controller",
        [str(binary), "-disable-tuf"],
        logs / "policy-controller.log",
        env={
            **os.environ,
            **OFFLINE_ENV,
            "KUBECONFIG": str(kubeconfig),
            "SYSTEM_NAMESPACE": release.namespace,
            "CONFIG_LOGGING_NAME": release.logging_config_map,
            "CONFIG_OBSERVABILITY_NAME": f"{release.fullname}-webhook-observability",
            "METRICS_DOMAIN": "sigstore.dev/policy",
            "WEBHOOK_NAME": _SERVICE,
            "POD_NAME": "policy-controller-sandbox",
            "HOME": str(home),
            # Free ports for what would otherwise take fixed ones on every interface.
            "PROFILING_PORT": str(free_port()),
            "METRICS_PROMETHEUS_PORT": str(free_port()),
            "METRICS_PROMETHEUS_HOST": "127.0.0.1",
        },
    )
    try:
        wait_until(process, lambda: _serves_tls(port, pki.ca.cert), "serving TLS", _STARTUP_TIMEOUT, interval=0.5)
        for obj in webhook_configurations(release, port, pki.ca.cert.read_bytes()):
            client.apply(obj)
    except BaseException:
        process.stop()
        raise
    return process


def review_pod(pod: Mapping[str, Any], ca: Path) -> tuple[bool, str]:
    """policy-controller's own verdict on creating `pod`: an AdmissionReview sent straight to its
    validating path, as the API server sends it (no other webhook, no mutation). Returns
    (allowed, message)."""
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": pod["metadata"]["name"],
            "namespace": pod["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {"username": "sandbox-admin"},
            "object": dict(pod),
            "dryRun": True,
        },
    }
    request = urllib.request.Request(
        f"https://127.0.0.1:{WEBHOOK_PORT}/validations",
        data=json.dumps(review).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(request, context=context, timeout=30) as reply:
        response = json.loads(reply.read())["response"]
    return bool(response.get("allowed")), str((response.get("status") or {}).get("message", ""))
