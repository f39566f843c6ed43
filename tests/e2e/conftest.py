"""Fixtures of the real-API-server tier: one sandbox per stack, brought up once and torn down
before the next stack's (pytest orders the tests by the session fixture's parameter), and the
report hooks.

Run it with `make e2e` (or `python -m tests.e2e`); the default `make test` deselects it (marker
`e2e`, set by folder in tests/conftest.py). What the tests import lives in tests/e2e/envs.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from secure_model_serving.naming import ISOLATION_LABEL
from tests.e2e.cases import fixture_cases
from tests.e2e.envs import (
    STACKS,
    SUPPLY_STACKS,
    TENANT_STACKS,
    UNLABELLED_NAMESPACE,
    StackEnv,
    SupplyEnv,
    progress,
)
from tests.e2e.supply_chain import SignedModel, prepare, signed_model
from tests.support.e2e_report import Entry, summary_lines, write_report
from tools.mock_engine import REPO_ROOT
from tools.sandbox.client import ApiClient
from tools.sandbox.cluster import Sandbox, bring_up

REPORT_ENV = "SMS_E2E_REPORT"
_ENTRIES: dict[str, Entry] = {}


def _rbac_groups(stack: str) -> tuple[tuple[str, ...], ...]:
    """rbac.deployerGroups, rbac.auditorGroups and rbac.platformGroups from the stack's file."""
    config = yaml.safe_load((REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    rbac = config.get("secure-model-serving:rbac") or {}
    return tuple(tuple(rbac.get(key) or ()) for key in ("deployerGroups", "auditorGroups", "platformGroups"))


FIXTURES_NAMESPACE = "policy-fixtures"


def _fixtures_namespace(sandbox: Sandbox, model_namespace: str) -> str:
    """A namespace with the model namespace's labels and LimitRange, for the generic fixtures."""
    (model,) = [o for o in sandbox.plan.of_kind("Namespace") if o["metadata"]["name"] == model_namespace]
    sandbox.client.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": FIXTURES_NAMESPACE, "labels": dict(model["metadata"].get("labels", {}))},
        }
    )
    # As the controller-manager would: every namespace has its `default` ServiceAccount.
    sandbox.client.apply(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": FIXTURES_NAMESPACE}}
    )
    sandbox.client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": UNLABELLED_NAMESPACE}})
    sandbox.client.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": UNLABELLED_NAMESPACE},
        }
    )
    for limits in sandbox.plan.of_kind("LimitRange"):
        if limits["metadata"].get("namespace") == model_namespace:
            sandbox.client.apply(
                {**limits, "metadata": {"name": limits["metadata"]["name"], "namespace": FIXTURES_NAMESPACE}}
            )
    return FIXTURES_NAMESPACE


def _fixture_service_accounts(client: ApiClient, namespace: str) -> None:
    """The ServiceAccounts the fixtures run as, as the tenant would have created them."""
    names = {
        (case.obj.get("spec") or {}).get("serviceAccountName")
        for case in fixture_cases()
        if case.obj.get("kind") == "Pod"
    }
    for name in sorted(name for name in names if name and name != "default"):
        client.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace},
                "automountServiceAccountToken": False,
            }
        )


@pytest.fixture(scope="session", params=STACKS)
def stack_env(request: pytest.FixtureRequest) -> Iterator[StackEnv]:
    """A sandbox with the stack installed; stopped (processes and state directory) afterwards."""
    stack = request.param
    started = time.monotonic()
    sandbox = bring_up(stack, progress=progress)
    try:
        namespaces = sandbox.plan.namespaces_with_label(ISOLATION_LABEL, "true")
        assert len(namespaces) == 1, f"expected one model namespace, found {namespaces}"
        deployments = sandbox.plan.of_kind("Deployment")
        assert len(deployments) == 1, "expected the stack to render one Deployment (the model)"
        fixtures_namespace = _fixtures_namespace(sandbox, namespaces[0])
        _fixture_service_accounts(sandbox.client, fixtures_namespace)
        deployer, auditor, platform = _rbac_groups(stack)
        progress(f"stack {stack} up in {time.monotonic() - started:.1f}s")
        yield StackEnv(sandbox, stack, namespaces[0], fixtures_namespace, deployments[0], deployer, auditor, platform)
    finally:
        sandbox.stop()
        progress(f"stack {stack} down after {time.monotonic() - started:.1f}s")


@pytest.fixture(scope="session")
def model_signed(tmp_path_factory: pytest.TempPathFactory) -> SignedModel:
    """The model, trained once and signed with the stacks' model-signing key."""
    return signed_model(tmp_path_factory.mktemp("signed-model"))


@pytest.fixture(scope="session", params=SUPPLY_STACKS)
def supply_env(
    request: pytest.FixtureRequest, model_signed: SignedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupplyEnv]:
    """The stack with its registries and signer on loopback, installed with policy-controller."""
    stack = request.param
    started = time.monotonic()
    chain = prepare(stack, tmp_path_factory.mktemp(f"supply-{stack}"), model_signed)
    progress(f"supply chain of {stack}: image {chain.images['signed']} built and signed")
    try:
        sandbox = bring_up(stack, config_file=chain.config_file, progress=progress, signatures=True)
        try:
            (namespace,) = sandbox.plan.namespaces_with_label(ISOLATION_LABEL, "true")
            (deployment,) = sandbox.plan.of_kind("Deployment")
            progress(f"stack {stack} with policy-controller up in {time.monotonic() - started:.1f}s")
            yield SupplyEnv(sandbox, stack, chain, namespace, deployment)
        finally:
            sandbox.stop()
    finally:
        chain.stop()
        progress(f"supply chain of {stack} down after {time.monotonic() - started:.1f}s")


def _entry(item: pytest.Item) -> Entry | None:
    group = item.get_closest_marker("e2e_group")
    if group is None:
        return None
    if item.nodeid not in _ENTRIES:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec else {}
        stack = params.get("stack_env") or params.get("supply_env") or params.get("tenants_env") or "?"
        _ENTRIES[item.nodeid] = Entry(item.nodeid, str(stack), str(group.args[0]))
    return _ENTRIES[item.nodeid]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    entry = _entry(item)
    if entry is not None and (report.when == "call" or report.failed or report.skipped):
        if hasattr(report, "wasxfail"):
            entry.outcome = "xpassed" if report.passed else "xfailed"
            entry.details.setdefault("known_defect", report.wasxfail)
        elif report.when == "call" or report.outcome != "passed":
            entry.outcome = report.outcome if report.when == "call" else f"{report.outcome} in {report.when}"
        for key, value in item.user_properties:
            entry.details[key] = value
        if report.failed and not hasattr(report, "wasxfail"):
            entry.details["failure"] = str(report.longrepr)[-2000:]
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _ENTRIES:
        return
    path = Path(os.environ.get(REPORT_ENV, "e2e-report.json"))
    write_report(path, list(_ENTRIES.values()), {"stacks": list(STACKS), "tenant_stacks": list(TENANT_STACKS)})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _ENTRIES:
        for line in summary_lines(list(_ENTRIES.values())):
            terminalreporter.write_line(line)
