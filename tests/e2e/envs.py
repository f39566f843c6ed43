"""What the real-API-server tests get from their fixtures (tests/e2e/conftest.py): a running
sandbox and what they need to know about its stack."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from tests.e2e.supply_chain import SupplyChain
from tools.sandbox.client import ApiClient
from tools.sandbox.cluster import Sandbox

__all__ = ["UNLABELLED_NAMESPACE", "StackEnv", "SupplyEnv"]

STACKS = tuple(os.environ.get("SMS_E2E_STACKS", "dev staging prod").split())
"""The stacks to bring up, in order (`SMS_E2E_STACKS="prod"` runs one)."""
SUPPLY_STACKS = tuple(os.environ.get("SMS_E2E_SUPPLY_STACKS", "staging prod").split())
"""The stacks whose supply chain is proved with policy-controller (the ones that enforce signatures)."""
TENANT_STACKS = tuple(os.environ.get("SMS_E2E_TENANT_STACKS", "shared").split())
"""The stacks of several model tenants whose isolation from each other is proved (tests/e2e/test_tenants.py)."""


def progress(message: str) -> None:
    """A line on the real stderr, shown while pytest captures output: a sandbox takes a minute."""
    print(f"  sandbox: {message}", file=sys.__stderr__, flush=True)


UNLABELLED_NAMESPACE = "unlabelled-team"
"""A namespace created without the platform's labels, as another team (or a careless one) would."""


@dataclass(frozen=True)
class StackEnv:
    """A running sandbox and what the tests need to know about its stack."""

    sandbox: Sandbox
    stack: str
    namespace: str
    """The model namespace: the model's own pod shape is pinned here."""
    fixtures_namespace: str
    """A namespace labelled like the model's (every other constraint applies, the model's pod
    shape does not): where the policies' generic fixtures are judged."""
    deployment: dict[str, Any]
    deployer_groups: tuple[str, ...]
    auditor_groups: tuple[str, ...]
    platform_groups: tuple[str, ...]

    @property
    def client(self) -> ApiClient:
        return self.sandbox.client

    def constraint(self, policy: str) -> dict[str, Any]:
        """The stack's constraint for `policy` (as rendered; a per-namespace policy's constraint is
        named `<policy>-<namespace>`)."""
        for obj in self.sandbox.plan.objects:
            if obj["apiVersion"].startswith("constraints.gatekeeper.sh/") and obj["metadata"]["name"] in (
                policy,
                f"{policy}-{self.namespace}",
            ):
                return obj
        raise LookupError(f"stack {self.stack} deploys no constraint {policy}")

    def constraint_name(self, policy: str) -> str:
        return str(self.constraint(policy)["metadata"]["name"])

    def enforcement_action(self, policy: str) -> str:
        """spec.enforcementAction of the stack's constraint for `policy`."""
        return str(self.constraint(policy)["spec"].get("enforcementAction", "deny"))


@dataclass(frozen=True)
class SupplyEnv:
    """A sandbox running policy-controller beside Gatekeeper, for a stack pointed at the loopback
    registry (tests/e2e/supply_chain.py)."""

    sandbox: Sandbox
    stack: str
    chain: SupplyChain
    namespace: str
    deployment: dict[str, Any]

    @property
    def client(self) -> ApiClient:
        return self.sandbox.client
