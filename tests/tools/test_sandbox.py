"""tools/sandbox without servers: the chart-equivalent webhook configuration and manager flags,
the CRD selection, the apply order, the PKI, process groups, the CLI's refusals, and the e2e
summary line. (The sandbox itself, with real servers, is exercised by `make e2e`.)"""

from __future__ import annotations

import base64
import ipaddress
import socket
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.support.cli import CallMain
from tests.support.e2e_report import Entry, summary_lines
from tools.render import Rendered
from tools.sandbox import cli
from tools.sandbox.client import _warning_text
from tools.sandbox.cluster import _admission_config, gatekeeper_arguments, webhook_configuration
from tools.sandbox.pki import create_pki
from tools.sandbox.processes import ProcessFailedError, free_port, start, wait_until
from tools.sandbox.stack import (
    CrdIndex,
    GatekeeperRelease,
    StackPlan,
    apply_phase,
    plan_from_render,
    without_conversion_webhook,
)
from tools.sandbox.state import SandboxState


@pytest.fixture(scope="module")
def plans(rendered: dict[str, list[Rendered]]) -> dict[str, StackPlan]:
    return {stack: plan_from_render(stack, items) for stack, items in rendered.items()}


def _release(rendered: list[Rendered]) -> dict[str, Any]:
    return next(i.document for i in rendered if i.document and i.document.get("chart") == "gatekeeper")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_webhook_configuration_is_the_charts_with_the_stacks_choices(
    stack: str, plans: dict[str, StackPlan], rendered: dict[str, list[Rendered]]
) -> None:
    values = _release(rendered[stack])["values"]
    release = plans[stack].gatekeeper
    config = webhook_configuration(release, 8443, b"CA")
    validation, ignore_label = config["webhooks"]
    assert validation["failurePolicy"] == values["validatingWebhookFailurePolicy"]
    assert validation["clientConfig"] == {
        "url": "https://127.0.0.1:8443/v1/admit",
        "caBundle": base64.b64encode(b"CA").decode(),
    }
    expressions = validation["namespaceSelector"]["matchExpressions"]
    assert {"key": "admission.gatekeeper.sh/ignore", "operator": "DoesNotExist"} in expressions
    (names,) = [e["values"] for e in expressions if e["key"] == "kubernetes.io/metadata.name"]
    assert set(names) == {*values["controllerManager"]["exemptNamespaces"], "gatekeeper-system"}
    assert plans[stack].namespaces_with_label("secure-model-serving/isolated", "true")[0] not in names
    (rule,) = validation["rules"]
    assert rule["operations"] == ["CREATE", "UPDATE"] and {"*", "pods/ephemeralcontainers"} <= set(rule["resources"])
    assert ignore_label["clientConfig"]["url"].endswith("/v1/admitlabel") and ignore_label["failurePolicy"] == "Fail"


def test_the_manager_gets_the_releases_flags(plans: dict[str, StackPlan], tmp_path: Path) -> None:
    release = plans["prod"].gatekeeper
    state = SandboxState(tmp_path, ports={name: 1 for name in ("webhook", "gatekeeper-health", "gatekeeper-metrics")})
    flags = gatekeeper_arguments(release, state, tmp_path / "kubeconfig")
    exempt = {flag.split("=", 1)[1] for flag in flags if flag.startswith("--exempt-namespace=")}
    assert exempt == {release.namespace, *release.exempt_namespaces}
    operations = {flag.split("=", 1)[1] for flag in flags if flag.startswith("--operation=")}
    assert operations == {"webhook", "audit", "status", "generate"}
    assert {"--enable-generator-resource-expansion=true", "--debug-use-fake-pod", "--disable-cert-rotation"} <= set(
        flags
    )
    assert "--host=127.0.0.1" in flags and "--health-addr=127.0.0.1:1" in flags


def test_a_release_with_mutation_is_refused() -> None:
    with pytest.raises(ValueError, match="mutation"):
        GatekeeperRelease.from_record({"values": {"disableMutation": False}})


def test_objects_are_applied_in_dependency_order(plans: dict[str, StackPlan]) -> None:
    kinds = [obj["kind"] for obj in plans["prod"].objects]
    assert kinds.index("Namespace") < kinds.index("ConstraintTemplate") < kinds.index("ExpansionTemplate")
    phases = [apply_phase(obj) for obj in plans["prod"].objects]
    assert phases == sorted(phases)
    constraint = next(o for o in plans["prod"].objects if o["apiVersion"].startswith("constraints.gatekeeper.sh/"))
    assert apply_phase({"kind": "ExpansionTemplate"}) < apply_phase(constraint) < apply_phase({"kind": "Deployment"})
    assert all("releases/" not in skipped for skipped in plans["prod"].skipped)
    assert any("helm.sh" in skipped and "gatekeeper" in skipped for skipped in plans["prod"].skipped)


def test_every_gatekeeper_crd_and_every_crd_the_stack_needs(shared_crds: Path, plans: dict[str, StackPlan]) -> None:
    index = CrdIndex(shared_crds)
    chosen = index.needed(plans["prod"].objects)
    groups = [crd["spec"]["group"] for crd in chosen]
    assert sum(group.endswith("gatekeeper.sh") for group in groups) == 17
    custom = {
        (obj["apiVersion"].rpartition("/")[0], obj["kind"])
        for obj in plans["prod"].objects
        if (obj["apiVersion"].rpartition("/")[0], obj["kind"]) in index.crds
    }
    kinds = {(crd["spec"]["group"], crd["spec"]["names"]["kind"]) for crd in chosen}
    assert kinds >= custom
    # An add-on's whole CRD set, as its chart installs it: kinds prod does not render are served too.
    assert ("networking.istio.io", "ServiceEntry") in kinds and ("networking.istio.io", "ServiceEntry") not in custom
    assert all((crd["spec"].get("conversion") or {}).get("strategy") != "Webhook" for crd in chosen)


def test_a_conversion_webhook_is_dropped_only_when_every_version_has_the_same_schema() -> None:
    schema = {"openAPIV3Schema": {"type": "object"}}
    crd = {
        "spec": {
            "conversion": {"strategy": "Webhook"},
            "versions": [{"name": "v1", "schema": schema}, {"name": "v2", "schema": schema}],
        }
    }
    assert without_conversion_webhook(crd)["spec"]["conversion"] == {"strategy": "None"}
    crd["spec"]["versions"][1]["schema"] = {"openAPIV3Schema": {"type": "string"}}
    assert without_conversion_webhook(crd) is crd


def test_the_pki_serves_loopback_and_makes_a_cluster_admin(tmp_path: Path) -> None:
    pki = create_pki(tmp_path)
    ca = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes())
    server = x509.load_pem_x509_certificate(pki.apiserver.cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.IPv4Address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    admin = x509.load_pem_x509_certificate(pki.admin.cert.read_bytes())
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    for key in (pki.ca.key, pki.admin.key, pki.webhook.key, pki.service_account_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert {p.name for p in pki.webhook.cert.parent.iterdir()} == {"tls.crt", "tls.key", "ca.crt"}


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    child_file = tmp_path / "child"
    process = start("sleepers", ["sh", "-c", f"sleep 60 & echo $! > {child_file}; wait"], tmp_path / "log")
    wait_until(process, lambda: child_file.is_file() and child_file.read_text().strip() != "", "started", 10, 0.05)
    child = int(child_file.read_text())
    assert process.alive()
    process.stop(timeout=5)
    assert not process.alive()
    deadline = time.monotonic() + 5  # a signal is delivered asynchronously
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child), "the group's other process outlived stop()"


def _running(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for a parent that never reaps it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_dead_process_fails_with_its_log_tail(tmp_path: Path) -> None:
    process = start("failing", ["sh", "-c", "echo listen tcp: address already in use; exit 3"], tmp_path / "log")
    with pytest.raises(ProcessFailedError, match="address already in use"):
        wait_until(process, lambda: False, "ready", 10, 0.05)


def test_free_port_is_free() -> None:
    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_the_cli_refuses_without_a_sandbox_and_on_bad_input(
    call_main: CallMain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS_TOOLCHAIN_CACHE", str(tmp_path / "cache" / "toolchain"))
    manifest = tmp_path / "pod.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    result = call_main(cli.main, "apply", manifest)
    assert result.returncode == 2 and "no sandbox is up" in result.stderr
    assert call_main(cli.main, "down").returncode == 0
    assert call_main(cli.main, "status").returncode == 1
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken\.yaml"):
        cli._read_documents([broken])
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": {}}))
    with pytest.raises(ValueError, match=r"without metadata\.name"):
        cli._read_documents([nameless])


def test_client_helpers() -> None:
    assert _warning_text('299 - "[deny-x] a \\"quoted\\" message"') == '[deny-x] a "quoted" message'


def test_the_summary_line_counts_only_verdicts_that_held() -> None:
    entries = [
        Entry("a", "prod", "apply", "passed", {"applied": 10, "errors": 0}),
        Entry("b", "prod", "attack", "passed"),
        Entry("c", "prod", "attack", "xfailed"),
        Entry("d", "prod", "legit", "failed"),
        Entry("e", "prod", "rbac", "passed"),
        Entry("f", "prod", "attack", "skipped"),
        Entry("g", "prod", "supply:signed", "passed"),
        Entry("h", "prod", "supply:unsigned", "passed"),
        Entry("i", "prod", "supply:unsigned", "failed"),
        Entry("j", "prod", "supply:mesh-injected", "passed"),
        Entry("k", "shared", "tenants", "passed"),
        Entry("l", "shared", "tenants", "failed"),
    ]
    lines = summary_lines(entries)
    assert lines[-1] == (
        "e2e: applied 10 objects, 0 errors; attack denied 1/2; legit admitted 0/1; expansion refused 0/0; "
        "rbac checks 1/1; runbook contained 0/0; tenants 1/2; supply-chain 3/4"
    )
    assert lines[-2] == (
        "supply-chain: signed admitted 1/1; unsigned refused 1/2; other key refused 0/0; tag refused 0/0; "
        "outside policy refused 0/0; bare prefix refused 0/0; model signature held 0/0; mesh-injected admitted 1/1; "
        "keyless policy validated 0/0"
    )
    assert lines[0].endswith("; 1 known defects (xfail); 1 not applicable (skipped)")
    assert lines[1].startswith("e2e[shared] ") and "tenants 1/2" in lines[1]


def test_the_admission_configuration_keeps_kubernetes_pod_security_defaults(tmp_path: Path) -> None:
    written = yaml.safe_load(_admission_config(tmp_path / "admission.yaml").read_text())
    (plugin,) = written["plugins"]
    assert plugin["name"] == "PodSecurity"
    assert plugin["configuration"]["defaults"] == {
        "enforce": "privileged",
        "enforce-version": "latest",
        "audit": "privileged",
        "audit-version": "latest",
        "warn": "privileged",
        "warn-version": "latest",
    }
