"""tools.sandbox.policy_controller: the webhook is configured as the stack's policy-controller
release configures it in a cluster (opt-in namespaces, failure policy, no-match policy)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tools.sandbox.pki import create_pki, server_certificate
from tools.sandbox.policy_controller import (
    WEBHOOK_NAME,
    PolicyControllerRelease,
    compiled_policies,
    config_maps,
    webhook_configurations,
)
from tools.sandbox.stack import load_plan


@pytest.fixture(scope="module")
def release() -> PolicyControllerRelease:
    plan = load_plan("prod")
    assert plan.policy_controller is not None
    return plan.policy_controller


def _by_kind(configurations: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [c for c in configurations if c["kind"] == kind and c["metadata"]["name"] == name]
    return found["webhooks"][0]


def test_the_release_record_gives_the_webhook_its_settings(release: PolicyControllerRelease) -> None:
    assert (release.namespace, release.failure_policy) == ("cosign-system", "Fail")
    assert release.fullname == "policy-controller"
    config = {c["metadata"]["name"]: c["data"] for c in config_maps(release)}
    # An image no ClusterImagePolicy covers is refused, said explicitly (the controller's default is allow).
    assert config["config-policy-controller"] == {"no-match-policy": "deny"}
    assert {"config-image-policies", "config-sigstore-keys", "policy-controller-webhook-logging"} <= set(config)


def test_unset_values_take_the_chart_defaults() -> None:
    bare = PolicyControllerRelease.from_record({"releaseName": "signatures", "values": {}})
    assert (bare.namespace, bare.failure_policy, dict(bare.config_data)) == ("cosign-system", "Fail", {})
    assert bare.fullname == "signatures-policy-controller"
    assert bare.namespace_selector["matchExpressions"][0]["key"] == "policy.sigstore.dev/include"


def test_workload_webhooks_judge_opted_in_namespaces_only_and_fail_closed(release: PolicyControllerRelease) -> None:
    configurations = webhook_configurations(release, 12345, b"CA")
    for kind, path in (
        ("ValidatingWebhookConfiguration", "/validations"),
        ("MutatingWebhookConfiguration", "/mutations"),
    ):
        hook = _by_kind(configurations, kind, WEBHOOK_NAME)
        assert hook["clientConfig"] == {
            "url": f"https://127.0.0.1:12345{path}",
            "caBundle": base64.b64encode(b"CA").decode(),
        }
        assert hook["failurePolicy"] == "Fail"
        expressions = hook["namespaceSelector"]["matchExpressions"]
        assert {"key": "policy.sigstore.dev/include", "operator": "In", "values": ["true"]} in expressions
        resources = {r for rule in hook["rules"] for r in rule["resources"]}
        assert {"pods", "pods/ephemeralcontainers", "deployments", "replicasets", "jobs", "cronjobs"} <= resources


def test_cluster_image_policies_are_validated_by_the_webhook(release: PolicyControllerRelease) -> None:
    hook = _by_kind(
        webhook_configurations(release, 1, b"CA"),
        "ValidatingWebhookConfiguration",
        "validating.clusterimagepolicy.sigstore.dev",
    )
    assert hook["failurePolicy"] == "Fail" and hook["clientConfig"]["url"].endswith("/validating")
    assert any("clusterimagepolicies" in rule["resources"] for rule in hook["rules"])


def test_compiled_policies_ignore_the_charts_placeholder() -> None:
    assert compiled_policies({"data": {"_example": "#", "model-images-signed": "{}"}}) == {"model-images-signed"}
    assert compiled_policies({}) == set()


def test_the_webhook_certificate_names_loopback_and_its_service(tmp_path: Any) -> None:
    from cryptography import x509

    pki = create_pki(tmp_path / "pki")
    pair = server_certificate(pki, tmp_path / "pc", "tls", dns_names=("webhook.cosign-system.svc",))
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "webhook.cosign-system.svc" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.issuer == x509.load_pem_x509_certificate(pki.ca.cert.read_bytes()).subject
