"""A quarantined pod leaves every allowing NetworkPolicy of every stack, and only such a pod does.

NetworkPolicies add up, so the incident runbook's quarantine (docs/runbook-privileged-pod.md)
cannot rely on a deny-all policy: it sets QUARANTINE_LABEL, and every policy of the platform that
allows any traffic must stop selecting the pod that carries it.
"""

from __future__ import annotations

from typing import Any

import pytest

from secure_model_serving.naming import QUARANTINE_LABEL
from tools.audit.selectors import selects
from tools.render import Rendered

STACKS = ("dev", "staging", "prod")


def allowing_policies(items: list[Rendered]) -> list[dict[str, Any]]:
    policies = [
        item.document for item in items if item.document is not None and item.document.get("kind") == "NetworkPolicy"
    ]
    return [p for p in policies if p["spec"].get("ingress") or p["spec"].get("egress")]


@pytest.mark.parametrize("stack", STACKS)
def test_no_allowing_policy_selects_a_quarantined_pod(rendered: dict[str, list[Rendered]], stack: str) -> None:
    policies = allowing_policies(rendered[stack])
    assert len(policies) >= 3, "expected the DNS, mesh and ingress allowances"
    for policy in policies:
        selector = policy["spec"]["podSelector"]
        labels = dict(selector.get("matchLabels") or {})
        assert selects(selector, labels), f"{policy['metadata']['name']} no longer selects its own pods"
        assert not selects(selector, {**labels, QUARANTINE_LABEL: "true"}), policy["metadata"]["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_default_deny_still_selects_a_quarantined_pod(rendered: dict[str, list[Rendered]], stack: str) -> None:
    denies = [
        item.document
        for item in rendered[stack]
        if item.document is not None
        and item.document.get("kind") == "NetworkPolicy"
        and not item.document["spec"].get("ingress")
        and not item.document["spec"].get("egress")
    ]
    assert denies
    for deny in denies:
        assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        assert selects(deny["spec"]["podSelector"], {QUARANTINE_LABEL: "true"})
