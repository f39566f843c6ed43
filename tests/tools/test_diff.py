"""The render diff flags every weakening of a real render, one change at a time, and stays quiet
on harmless and stricter changes.

Each weakening is a one-change edit of the prod render (tests/tools/mutations.py) and must be
flagged in its area; its reverse (the equivalent hardening) must not be, unless the change is
one whose reverse weakens too. Every object and release of the render is also deleted in turn:
exactly the protections must be flagged. The coverage test holds every stack's render to what
the diff understands, so a new kind of protection fails here until the diff is taught about it.
"""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from secure_model_serving.policies import VERSION_ANNOTATION
from secure_model_serving.policies.parameters import ISOLATION_LABEL
from tests.support.cli import CallMain
from tests.tools.mutations import (
    Mutation,
    add,
    delete,
    delete_release,
    edit,
    edit_release,
    mutated,
    pod,
    sample_report,
    write,
)
from tools.mock_engine import REPO_ROOT
from tools.posture import Render, read_render, unclassified, weakenings
from tools.posture.render import ObjectKey
from tools.render import main as render_main

NS = "fraud-model"
DEPLOYMENT = ("Deployment", NS, "fraud-detector")
LOCK = f"{NS}-security-labels"


@pytest.fixture(scope="module")
def prod(render_dirs: dict[str, Path]) -> Render:
    return read_render(render_dirs["prod"])


def container(document: dict[str, Any]) -> dict[str, Any]:
    return pod(document)["containers"][0]


def labels(document: dict[str, Any]) -> dict[str, str]:
    return document["metadata"]["labels"]


def constraint(name: str, kind: str) -> tuple[str, str, str]:
    return (kind, "", name)


PRIVILEGED = constraint("deny-privileged-containers", "K8sDenyPrivilegedContainers")
REGISTRIES = constraint("deny-untrusted-registries", "K8sDenyUntrustedRegistries")
OUTSIDE = constraint("deny-model-images-outside-model-namespaces", "K8sDenyModelImagesOutsideModelNamespaces")

# (area flagged, mutation, whether the reverse weakens too)
WEAKENINGS: list[tuple[str, Mutation, bool]] = [
    # The fifteen of the issue.
    ("identity", Mutation("Role gains secrets and pods/exec", edit("Role", NS, "model-deployer",
        lambda d: d["rules"].append(
            {"apiGroups": [""], "resources": ["secrets", "pods/exec"], "verbs": ["get", "create"]}))), False),
    ("pod hardening", Mutation("token automount on", edit(*DEPLOYMENT,
        lambda d: pod(d).update(automountServiceAccountToken=True))), False),
    ("namespace", Mutation("isolation label removed", edit("Namespace", "", NS,
        lambda d: labels(d).pop(ISOLATION_LABEL))), False),
    ("admission", Mutation("constraint excludes the model namespace", edit(*PRIVILEGED,
        lambda d: d["spec"]["match"].update(excludedNamespaces=[NS]))), False),
    ("admission", Mutation("allowed registries widened", edit(*REGISTRIES,
        lambda d: d["spec"]["parameters"].update(registries=["registry.example.com"]))), False),
    ("admission", Mutation("ExpansionTemplate deleted", delete("ExpansionTemplate", "", "expand-workloads")), False),
    ("mesh security", Mutation("AuthorizationPolicies deleted", lambda r: (
        delete("AuthorizationPolicy", NS, "allow-nothing")(r),
        delete("AuthorizationPolicy", NS, "allow-model-callers")(r))), False),
    ("namespace", Mutation("sidecar injection off", edit("Namespace", "", NS,
        lambda d: labels(d).update({"istio-injection": "disabled"}))), False),
    ("network", Mutation("Sidecar opened to any host", edit("Sidecar", NS, "default",
        lambda d: d["spec"]["egress"][0]["hosts"].append("*/*"))), False),
    ("edge TLS", Mutation("Gateway TLS down to TLSV1_0", edit("Gateway", "istio-ingress", "model-gateway",
        lambda d: d["spec"]["servers"][0]["tls"].update(minProtocolVersion="TLSV1_0"))), False),
    ("signing", Mutation("image policy set to warn", edit("ClusterImagePolicy", "", "model-images-signed",
        lambda d: d["spec"].update(mode="warn"))), False),
    ("signing", Mutation("image policy deleted", delete("ClusterImagePolicy", "", "model-images-signed")), False),
    ("admission webhook", Mutation("policy-controller fails open", edit_release("policy-controller",
        lambda v: v["webhook"].update(failurePolicy="Ignore"))), False),
    ("runtime detection", Mutation("Falco removed", delete_release("falco")), False),
    ("admission", Mutation("Gatekeeper exempts the model namespace", edit_release("gatekeeper",
        lambda v: v["controllerManager"]["exemptNamespaces"].append(NS))), False),
    # Variants and the rest of each area.
    ("admission webhook", Mutation("policy-controller failOpen", edit_release("policy-controller",
        lambda v: v["webhook"].update(failOpen=True))), False),
    ("admission webhook", Mutation("Gatekeeper fails open", edit_release("gatekeeper",
        lambda v: v.update(validatingWebhookFailurePolicy="Ignore"))), False),
    ("admission", Mutation("Gatekeeper webhook skips the model namespace", edit_release("gatekeeper",
        lambda v: v["validatingWebhookExemptNamespacesLabels"]["kubernetes.io/metadata.name"].append(NS))), False),
    ("admission", Mutation("Gatekeeper Config excludes the namespace", add({
        "apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
        "metadata": {"name": "config", "namespace": "gatekeeper-system"},
        "spec": {"match": [{"excludedNamespaces": [NS], "processes": ["webhook"]}]}})), False),
    ("admission", Mutation("constraint deleted", delete(*PRIVILEGED)), False),
    ("admission", Mutation("constraint only warns", edit(*PRIVILEGED,
        lambda d: d["spec"].update(enforcementAction="warn"))), False),
    ("admission", Mutation("constraint selects another label", edit(*PRIVILEGED,
        lambda d: d["spec"]["match"]["namespaceSelector"].update(matchLabels={"team": "none"}))), False),
    ("admission", Mutation("constraint stops judging Pods", edit(*PRIVILEGED,
        lambda d: d["spec"]["match"]["kinds"][0].update(kinds=["Service"]))), False),
    ("admission", Mutation("registry added", edit(*REGISTRIES,
        lambda d: d["spec"]["parameters"]["registries"].append("docker.io"))), False),
    ("admission", Mutation("model images allowed outside model namespaces", edit(*OUTSIDE,
        lambda d: d["spec"]["parameters"].update(registries=["registry.example.com/models/other"]))), False),
    ("pod hardening", Mutation("the pod's own token refusal dropped", edit(*DEPLOYMENT,
        lambda d: pod(d).pop("automountServiceAccountToken"))), False),
    ("admission", Mutation("image exempted", edit(*REGISTRIES,
        lambda d: d["spec"]["parameters"]["exemptImages"].append("docker.io/library/busybox"))), False),
    ("admission", Mutation("pod shape allows a hostPath volume", edit(
        "K8sDenyModelPodWidening", "", f"deny-model-pod-widening-{NS}",
        lambda d: d["spec"]["parameters"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}}))), False),
    ("admission", Mutation("pod shape no longer requires the mesh", edit(
        "K8sDenyModelPodWidening", "", f"deny-model-pod-widening-{NS}",
        lambda d: d["spec"]["parameters"].update(meshRequired=False))), False),
    ("admission", Mutation("template deleted", delete("ConstraintTemplate", "", "k8sdenyprivilegedcontainers")), False),
    ("admission", Mutation("Rego changed", edit("ConstraintTemplate", "", "k8sdenyprivilegedcontainers",
        lambda d: d["spec"]["targets"][0].update(rego="package x"))), True),
    ("admission", Mutation("expansion of Jobs dropped", edit("ExpansionTemplate", "", "expand-workloads",
        lambda d: d["spec"]["applyTo"].pop(1))), False),
    ("pod hardening", Mutation("privileged container", edit(*DEPLOYMENT,
        lambda d: container(d)["securityContext"].update(privileged=True))), False),
    ("pod hardening", Mutation("capability added", edit(*DEPLOYMENT,
        lambda d: container(d)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]))), False),
    ("pod hardening", Mutation("writable root", edit(*DEPLOYMENT,
        lambda d: container(d)["securityContext"].update(readOnlyRootFilesystem=False))), False),
    ("pod hardening", Mutation("seccomp unconfined", edit(*DEPLOYMENT, lambda d: (
        container(d)["securityContext"].update(seccompProfile={"type": "Unconfined"})))), False),
    ("pod hardening", Mutation("image by tag", edit(*DEPLOYMENT,
        lambda d: container(d).update(image="registry.example.com/models/fraud-detector:1.0"))), True),
    ("pod hardening", Mutation("pull policy lax", edit(*DEPLOYMENT,
        lambda d: container(d).update(imagePullPolicy="IfNotPresent"))), False),
    ("pod hardening", Mutation("hostPath volume", edit(*DEPLOYMENT,
        lambda d: pod(d)["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}}))), False),
    ("pod hardening", Mutation("host network", edit(*DEPLOYMENT, lambda d: pod(d).update(hostNetwork=True))), False),
    ("pod hardening", Mutation("runs as root", edit(*DEPLOYMENT, lambda d: (
        container(d)["securityContext"].update(runAsUser=0)))), False),
    ("pod hardening", Mutation("init container without hardening", edit(*DEPLOYMENT, lambda d: pod(d).update(
        initContainers=[{"name": "setup", "image": "registry.example.com/models/setup:1"}]))), False),
    ("pod hardening", Mutation("pod opts out of the sidecar", edit(*DEPLOYMENT, lambda d: (
        d["spec"]["template"]["metadata"]["annotations"].update({"sidecar.istio.io/inject": "false"})))), False),
    ("pod hardening", Mutation("ServiceAccount automounts its token", edit("ServiceAccount", NS, "fraud-detector",
        lambda d: d.update(automountServiceAccountToken=True))), False),
    ("identity", Mutation("binding gains a subject", edit("RoleBinding", NS, "model-deployer",
        lambda d: d["subjects"].append(
            {"kind": "Group", "name": "everyone", "apiGroup": "rbac.authorization.k8s.io"}))), False),
    ("identity", Mutation("ClusterRole gets a wildcard", edit("ClusterRole", "", f"{NS}-fraud-detector-auditor-posture",
        lambda d: d["rules"].append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}))), False),
    ("network", Mutation("default-deny deleted", delete("NetworkPolicy", NS, "default-deny-all")), False),
    ("network", Mutation("ingress opened to all", edit("NetworkPolicy", NS, "fraud-detector-allow-ingress",
        lambda d: d["spec"]["ingress"].append({}))), False),
    ("network", Mutation("Sidecar outbound ALLOW_ANY", edit("Sidecar", NS, "default",
        lambda d: d["spec"].update(outboundTrafficPolicy={"mode": "ALLOW_ANY"}))), False),
    ("network", Mutation("Sidecar deleted", delete("Sidecar", NS, "default")), False),
    ("network", Mutation("ServiceEntry added", add({
        "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": {"name": "evil", "namespace": NS},
        "spec": {"hosts": ["evil.example.net"], "location": "MESH_EXTERNAL", "resolution": "DNS",
                 "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}})), False),
    ("network", Mutation("Service exposed", edit("Service", NS, "fraud-detector",
        lambda d: d["spec"].update(type="LoadBalancer"))), False),
    ("network", Mutation("CNI skips the model namespace", edit_release("cni",
        lambda v: v["excludeNamespaces"].append(NS))), False),
    ("mesh security", Mutation("mTLS permissive", edit("PeerAuthentication", NS, "default",
        lambda d: d["spec"]["mtls"].update(mode="PERMISSIVE"))), False),
    ("mesh security", Mutation("STRICT mTLS deleted", delete("PeerAuthentication", NS, "default")), False),
    ("mesh security", Mutation("allow-nothing deleted", delete("AuthorizationPolicy", NS, "allow-nothing")), False),
    ("mesh security", Mutation("ALLOW any principal", edit("AuthorizationPolicy", NS, "allow-model-callers",
        lambda d: d["spec"]["rules"][0]["from"][0]["source"].update(principals=["*"]))), False),
    ("mesh security", Mutation("ALLOW any path", edit("AuthorizationPolicy", NS, "allow-model-callers",
        lambda d: d["spec"]["rules"][0]["to"][0]["operation"].pop("paths"))), False),
    ("edge TLS", Mutation("HTTP no longer redirected", edit("Gateway", "istio-ingress", "model-gateway",
        lambda d: d["spec"]["servers"][1]["tls"].update(httpsRedirect=False))), False),
    ("edge TLS", Mutation("TLS minimum dropped to auto", edit("Gateway", "istio-ingress", "model-gateway",
        lambda d: d["spec"]["servers"][0]["tls"].update(minProtocolVersion="TLS_AUTO"))), False),
    ("signing", Mutation("fewer images checked", edit("ClusterImagePolicy", "", "model-images-signed",
        lambda d: d["spec"].update(images=[{"glob": "registry.example.com/models/other/**"}]))), True),
    ("signing", Mutation("another signer accepted", edit("ClusterImagePolicy", "", "model-images-signed",
        lambda d: d["spec"]["authorities"].append({"name": "any", "static": {"action": "pass"}}))), False),
    ("signing", Mutation("more images waived", edit("ClusterImagePolicy", "", "pinned-by-digest",
        lambda d: d["spec"]["images"].append({"glob": "**"}))), False),
    ("signing", Mutation("unmatched images admitted", edit_release("policy-controller",
        lambda v: v["webhook"]["configData"].update({"no-match-policy": "warn"}))), False),
    ("signing", Mutation("policy-controller removed", delete_release("policy-controller")), False),
    ("signing", Mutation("model verifier key swapped", edit("ConfigMap", NS, "fraud-detector-signing-key",
        lambda d: d["data"].update({"verifier.pem": "another key"}))), True),
    ("signing", Mutation("model verified by another signer", edit(*DEPLOYMENT,
        lambda d: container(d)["env"].append({"name": "MODEL_SIGNER_IDENTITY", "value": "CN=anyone"}))), True),
    ("namespace", Mutation("signature opt-in removed", edit("Namespace", "", NS,
        lambda d: labels(d).pop("policy.sigstore.dev/include"))), False),
    ("namespace", Mutation("PSA enforce baseline", edit("Namespace", "", NS,
        lambda d: labels(d).update({"pod-security.kubernetes.io/enforce": "baseline"}))), False),
    ("namespace", Mutation("PSA unpinned", edit("Namespace", "", NS,
        lambda d: labels(d).update({"pod-security.kubernetes.io/enforce-version": "latest"}))), False),
    ("namespace", Mutation("Gatekeeper ignore label", edit("Namespace", "", NS,
        lambda d: labels(d).update({"admission.gatekeeper.sh/ignore": "yes"}))), False),
    ("mesh security", Mutation("request read timeout lifted", edit("EnvoyFilter", NS, "model-request-read-timeout",
        lambda d: d["spec"]["configPatches"][0]["patch"]["value"]["typed_config"].update(request_timeout="0s"))), True),
    ("mesh security", Mutation("gateway read timeout deleted",
        delete("EnvoyFilter", "istio-ingress", "gateway-request-read-timeout")), True),
    ("namespace", Mutation("label lock deleted", delete("ValidatingAdmissionPolicy", "", LOCK)), False),
    ("namespace", Mutation("label lock loses a check", edit("ValidatingAdmissionPolicy", "", LOCK,
        lambda d: d["spec"]["validations"].pop())), False),
    ("namespace", Mutation("label lock excepts everyone", edit("ValidatingAdmissionPolicy", "", LOCK,
        lambda d: d["spec"].update(matchConditions=[{"name": "nobody", "expression": "false"}]))), True),
    ("namespace", Mutation("label lock fails open", edit("ValidatingAdmissionPolicy", "", LOCK,
        lambda d: d["spec"].update(failurePolicy="Ignore"))), False),
    ("namespace", Mutation("label lock only warns", edit("ValidatingAdmissionPolicyBinding", "", LOCK,
        lambda d: d["spec"].update(validationActions=["Warn"]))), False),
    ("secrets", Mutation("secrets read from a cluster store", edit("ExternalSecret", NS, "feature-store",
        lambda d: d["spec"].update(secretStoreRef={"kind": "ClusterSecretStore", "name": "shared"}))), True),
    ("secrets", Mutation("ExternalSecret pulls another key", edit("ExternalSecret", NS, "feature-store",
        lambda d: d["spec"]["data"].append({"secretKey": "x", "remoteRef": {"key": "prod/payments/db"}}))), False),
    ("secrets", Mutation("operator processes cluster stores", edit_release("external-secrets",
        lambda v: v.update(processClusterStore=True))), False),
    ("identity", Mutation("store assumes another role", edit("ServiceAccount", NS, "secret-store", lambda d: (
        d["metadata"]["annotations"].update({"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/admin"})))),
        True),
    ("runtime detection", Mutation("Falco rule removed", edit_release("falco", lambda v: v["customRules"].update(
        {k: t.replace("- rule: Shell in model container", "- rule: Renamed away")
         for k, t in v["customRules"].items()}))), True),
    ("runtime detection", Mutation("Falco priority lowered", edit_release("falco", lambda v: v["customRules"].update(
        {k: t.replace("priority: CRITICAL", "priority: DEBUG", 1) for k, t in v["customRules"].items()}))), False),
    ("runtime detection", Mutation("alerts only from error", edit_release("falco",
        lambda v: v["falcosidekick"]["config"]["extraEnv"][1].update(value="error"))), False),
    ("runtime detection", Mutation("Falco leaves the tainted nodes", edit_release("falco",
        lambda v: v["tolerations"].pop())), False),
    ("quota", Mutation("quota raised", edit("ResourceQuota", NS, "compute-quota",
        lambda d: d["spec"]["hard"].update(pods="300"))), False),
    ("quota", Mutation("load balancers allowed", edit("ResourceQuota", NS, "compute-quota",
        lambda d: d["spec"]["hard"].pop("services.loadbalancers"))), False),
    ("quota", Mutation("quota deleted", delete("ResourceQuota", NS, "compute-quota")), False),
    ("quota", Mutation("LimitRange deleted", delete("LimitRange", NS, "container-defaults")), False),
    ("not understood by the diff", Mutation("an unknown kind added", add({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "rewrites-pods"}, "webhooks": []})), True),
]  # fmt: skip

HARMLESS: list[Mutation] = [
    Mutation("replicas", edit(*DEPLOYMENT, lambda d: d["spec"].update(replicas=5))),
    Mutation("autoscaler bounds", edit("HorizontalPodAutoscaler", NS, "fraud-detector",
        lambda d: d["spec"].update(maxReplicas=20))),
    Mutation("annotation on the Deployment", edit(*DEPLOYMENT,
        lambda d: d["metadata"].setdefault("annotations", {}).update({"example.com/owner": "team-a"}))),
    Mutation("annotation on the pods", edit(*DEPLOYMENT,
        lambda d: d["spec"]["template"]["metadata"]["annotations"].update({"example.com/build": "42"}))),
    Mutation("annotation on the namespace", edit("Namespace", "", NS,
        lambda d: d["metadata"].setdefault("annotations", {}).update({"example.com/owner": "team-a"}))),
    Mutation("stricter TLS minimum", edit("Gateway", "istio-ingress", "model-gateway",
        lambda d: d["spec"]["servers"][0]["tls"].update(minProtocolVersion="TLSV1_3"))),
    Mutation("a constraint added", add({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sDenyPrivilegedContainers",
        "metadata": {"name": "deny-privileged-everywhere"},
        "spec": {"enforcementAction": "deny", "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}}})),
    Mutation("a new image digest", edit(*DEPLOYMENT, lambda d: container(d).update(
        image="registry.example.com/models/fraud-detector@sha256:" + "1" * 64))),
    Mutation("more resources", edit(*DEPLOYMENT, lambda d: container(d)["resources"]["limits"].update(cpu="3"))),
    Mutation("more model images refused outside model namespaces", edit(*OUTSIDE,
        lambda d: d["spec"]["parameters"]["registries"].append("registry.example.com/experiments"))),
    Mutation("registries narrowed", edit(*REGISTRIES,
        lambda d: d["spec"]["parameters"].update(registries=["registry.example.com/models/fraud"]))),
    Mutation("an allowance deleted", delete("NetworkPolicy", NS, "allow-metrics-scrape")),
    Mutation("a caller removed", edit("AuthorizationPolicy", NS, "allow-model-callers",
        lambda d: d["spec"]["rules"][0]["from"][0]["source"]["principals"].pop())),
    Mutation("a Role verb removed", edit("Role", NS, "model-deployer", lambda d: d["rules"][0]["verbs"].pop())),
    Mutation("a Falco rule made louder", edit_release("falco", lambda v: v["customRules"].update(
        {k: t.replace("priority: ERROR", "priority: CRITICAL", 1) for k, t in v["customRules"].items()}))),
    Mutation("a Sidecar host removed", edit("Sidecar", NS, "default", lambda d: d["spec"]["egress"][0]["hosts"].pop())),
    Mutation("quota lowered", edit("ResourceQuota", NS, "compute-quota",
        lambda d: d["spec"]["hard"].update(pods="10"))),
    Mutation("more webhook replicas", edit_release("gatekeeper", lambda v: v.update(replicas=5))),
    Mutation("an ExternalSecret deleted", delete("ExternalSecret", NS, "audit-sink")),
    Mutation("the pinned image waiver deleted", delete("ClusterImagePolicy", "", "pinned-by-digest")),
]  # fmt: skip


@pytest.mark.parametrize(("area", "mutation", "symmetric"), WEAKENINGS, ids=[m.name for _, m, _ in WEAKENINGS])
def test_each_weakening_is_flagged_in_its_area_and_its_reverse_is_not(
    prod: Render, area: str, mutation: Mutation, symmetric: bool
) -> None:
    weakened = mutated(prod, mutation.apply)
    findings = weakenings(prod, weakened)
    assert area in {finding.area for finding in findings}, [finding.line() for finding in findings]
    if not symmetric:
        assert weakenings(weakened, prod) == []


@pytest.mark.parametrize("mutation", HARMLESS, ids=[m.name for m in HARMLESS])
def test_harmless_and_stricter_changes_are_silent(prod: Render, mutation: Mutation) -> None:
    changed = mutated(prod, mutation.apply)
    assert changed.files != prod.files  # the change is real
    assert [finding.line() for finding in weakenings(prod, changed)] == []


def test_the_issue_s_fifteen_weakenings_are_all_in_the_table() -> None:
    assert len({mutation.name for _, mutation, _ in WEAKENINGS[:15]}) == 15


def _protections(render: Render) -> set[ObjectKey | str]:
    """What protects the model namespaces, by the platform's design: deleting any is a weakening.
    Everything else in the render (workloads, allowances, accounts, waivers) may go silently."""
    found: set[ObjectKey | str] = {
        key
        for key, document in render.objects.items()
        if key.kind in {"ConstraintTemplate", "ExpansionTemplate", "PeerAuthentication", "Sidecar"}
        or key.kind in {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "EnvoyFilter"}
        or key.kind in {"ResourceQuota", "LimitRange"}
        or str(document["apiVersion"]).startswith("constraints.gatekeeper.sh/")
    }
    found |= {
        ObjectKey("NetworkPolicy", NS, "default-deny-all"),
        ObjectKey("AuthorizationPolicy", NS, "allow-nothing"),
        ObjectKey("ClusterImagePolicy", "", "model-images-signed"),
    }
    return found | {"gatekeeper", "policy-controller", "falco", "istiod", "cni"}


def test_deleting_each_protection_is_flagged_and_deleting_anything_else_is_not(prod: Render) -> None:
    flagged, silent = set(), set()
    for key in [*prod.objects, *prod.releases]:
        change = delete_release(key) if isinstance(key, str) else delete(*key)
        (flagged if weakenings(prod, mutated(prod, change)) else silent).add(key)
    assert flagged == _protections(prod)
    assert silent  # the other side: Deployments, allowances and accounts may go


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_kind_and_chart_of_each_stack_is_understood_by_the_diff(render_dirs: dict[str, Path], stack: str) -> None:
    render = read_render(render_dirs[stack])
    assert unclassified(render) == []
    assert weakenings(render, render) == []


def test_a_kind_the_diff_was_not_taught_fails_the_coverage_check(prod: Render) -> None:
    taught = mutated(prod)
    add({"apiVersion": "example.com/v1", "kind": "NewProtection", "metadata": {"name": "x"}, "spec": {}})(taught)
    assert unclassified(taught) == ["example.com/v1 NewProtection"]
    assert [f.area for f in weakenings(taught, prod)] == ["not understood by the diff"]


def test_the_real_stacks_diff_as_expected(render_dirs: dict[str, Path]) -> None:
    dev, prod = read_render(render_dirs["dev"]), read_render(render_dirs["prod"])
    relaxed = {(f.area, f.field) for f in weakenings(prod, dev)}  # dev warns and fails open
    assert ("admission", "spec.enforcementAction") in relaxed
    assert ("admission webhook", "validatingWebhookFailurePolicy") in relaxed
    hardened = {(f.area, f.field) for f in weakenings(dev, prod)}
    assert not hardened & {("admission", "spec.enforcementAction")}
    assert not hardened & {("admission webhook", "validatingWebhookFailurePolicy")}


def run_diff(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`python -m tools.render diff ARGS` as a real process."""
    command = [sys.executable, "-m", "tools.render", "diff", *map(str, args)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)


@pytest.fixture
def diff_main(call_main: CallMain) -> CallMain:
    """As `run_diff`, but the CLI's `main(argv)` in this process."""
    return functools.partial(call_main, render_main, "diff")


def test_the_cli_puts_weakenings_first_and_fails_only_when_asked(
    tmp_path: Path, prod: Render, render_dirs: dict[str, Path], diff_main: CallMain
) -> None:
    weakened = mutated(
        prod,
        edit(*DEPLOYMENT, lambda d: container(d)["securityContext"].update(privileged=True)),
        delete("NetworkPolicy", NS, "default-deny-all"),
        add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "notes", "namespace": NS}, "data": {}}),
    )
    new = write(weakened, tmp_path / "new")
    old = render_dirs["prod"]
    # The real process for the case CI depends on: a weakening fails the job.
    plain, strict = diff_main(old, new), run_diff(old, new, "--fail-on-weakening")
    assert (plain.returncode, strict.returncode) == (0, 1)
    assert strict.stdout == plain.stdout and "Traceback" not in strict.stderr
    report = plain.stdout
    assert report.index("## Weakens security posture (3)") < report.index("## Added") < report.index("## Changed")
    weakening_lines = report.split("## Added")[0].splitlines()
    assert any("`Deployment fraud-model/fraud-detector`" in line and "privileged" in line for line in weakening_lines)
    assert any("NetworkPolicies of fraud-model" in line and "not isolated" in line for line in weakening_lines)
    assert "fraud-model/configmap-notes.yaml" in report.split("## Removed")[0].split("## Added")[1]
    assert "fraud-model/networkpolicy-default-deny-all.yaml" in report.split("## Changed")[0].split("## Removed")[1]
    assert "`spec.template.spec.containers[0].securityContext.privileged`: false -> true" in report
    unchanged = diff_main(old, old, "--fail-on-weakening")
    assert unchanged.returncode == 0 and "Nothing flagged." in unchanged.stdout
    assert diff_main(old, tmp_path / "missing").returncode == 2


def test_the_docs_show_the_sample_report_as_generated() -> None:
    readme = (REPO_ROOT / "docs" / "shift-left.md").read_text(encoding="utf-8")
    block = readme.split("<!-- render-diff-sample:start -->")[1].split("<!-- render-diff-sample:end -->")[0]
    assert block.strip() == f"```markdown\n{sample_report()}```".strip()


def test_mutations_edit_copies_only(prod: Render) -> None:
    before = copy.deepcopy(prod.files)
    mutated(prod, delete("NetworkPolicy", NS, "default-deny-all"))
    assert prod.files == before


def test_a_rego_change_is_reported_with_its_template_version(prod: Render) -> None:
    def rego_changed(version: str | None) -> Any:
        def change(document: dict[str, Any]) -> None:
            document["spec"]["targets"][0]["code"][0]["source"]["rego"] += "\n# changed\n"
            if version:
                document["metadata"]["annotations"][VERSION_ANNOTATION] = version

        return edit("ConstraintTemplate", "", "k8sdenyprivilegedcontainers", change)

    (bumped,) = weakenings(prod, mutated(prod, rego_changed("1.1.0")))
    assert (bumped.field, bumped.old, bumped.new) == (f"metadata.annotations[{VERSION_ANNOTATION}]", "1.0.0", "1.1.0")
    assert "the Rego changed" in bumped.why
    (unbumped,) = weakenings(prod, mutated(prod, rego_changed(None)))
    assert unbumped.field == "spec.targets" and "its version (1.0.0) was not raised" in unbumped.why
    # The other side: a version raised with the Rego unchanged is no weakening.
    raised = edit(
        "ConstraintTemplate",
        "",
        "k8sdenyprivilegedcontainers",
        lambda d: d["metadata"]["annotations"].update({VERSION_ANNOTATION: "1.0.1"}),
    )
    assert weakenings(prod, mutated(prod, raised)) == []
