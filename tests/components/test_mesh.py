"""ServiceMesh, MeshPolicies and EdgeTls on the mock engine: order, strictness, narrow allowances."""

from __future__ import annotations

from typing import Any

import pytest

from secure_model_serving.cluster.edge import MIN_TLS_VERSION, CloudDnsSolver, EdgeTls, EdgeTlsArgs, Route53Solver
from secure_model_serving.cluster.mesh import ISTIOD_XDS_PORT, ServiceMesh, ServiceMeshArgs, istiod_values
from secure_model_serving.tenant.mesh_policies import (
    ExternalService,
    MeshPolicies,
    MeshPoliciesArgs,
    authorization_rules,
)
from secure_model_serving.versions import CERT_MANAGER, ISTIO_BASE, ISTIO_PROXY_IMAGE, POD_SECURITY_VERSION
from tools.mock_engine import Registration

GATEWAY = "cluster.local/ns/istio-ingress/sa/istio-ingressgateway"
SELECTOR = {"app.kubernetes.io/name": "fraud-detector"}


def of_kind(registrations: list[Registration], kind: str) -> list[dict[str, Any]]:
    return [item.inputs for item in registrations if item.inputs.get("kind") == kind]


def releases(registrations: list[Registration]) -> dict[str, Registration]:
    return {item.inputs["chart"]: item for item in registrations if item.type == "kubernetes:helm.sh/v3:Release"}


def policies_args(**changes: Any) -> MeshPoliciesArgs:
    values: dict[str, Any] = {
        "namespace": "fraud-model",
        "workload_labels": SELECTOR,
        "port": 8080,
        "caller_principals": [GATEWAY],
    }
    return MeshPoliciesArgs(**(values | changes))


@pytest.fixture
def mesh(run_program) -> list[Registration]:
    return run_program(lambda: ServiceMesh("mesh", ServiceMeshArgs(pod_security_version=POD_SECURITY_VERSION)))


def test_istio_installs_in_order_with_one_pinned_version(mesh: list[Registration]) -> None:
    charts = releases(mesh)
    assert set(charts) == {"base", "istiod", "cni"}
    assert len({item.inputs["version"] for item in charts.values()}) == 1
    assert charts["base"].urn in charts["istiod"].options.depends_on
    assert charts["istiod"].urn in charts["cni"].options.depends_on


def test_istiod_runs_cni_mode_registry_only_and_strict_paths(mesh: list[Registration]) -> None:
    values = releases(mesh)["istiod"].inputs["values"]
    assert values["cni"]["enabled"] is True and "pilot" not in values
    # Mesh-wide egress is left to the platform's explicit choice (every model Sidecar is registry-only).
    assert "outboundTrafficPolicy" not in values["meshConfig"]
    assert values["meshConfig"]["pathNormalization"]["normalization"] == "DECODE_AND_MERGE_SLASHES"
    assert values["sidecarInjectorWebhook"]["rewriteAppHTTPProbe"] is True
    assert values["global"]["proxy"]["image"] == ISTIO_PROXY_IMAGE and "@sha256:" in ISTIO_PROXY_IMAGE


def test_istiod_runs_exactly_the_replicas_asked_for(run_program) -> None:
    values = istiod_values(ServiceMeshArgs(pod_security_version="v1.36", replicas=3))
    # The chart uses replicaCount only with its autoscaler off; an HPA would pick its own count.
    assert values["autoscaleEnabled"] is False and values["replicaCount"] == 3
    assert "autoscaleMin" not in values


def test_only_the_cni_namespace_is_privileged(mesh: list[Registration]) -> None:
    enforce = {
        namespace["metadata"]["name"]: namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for namespace in of_kind(mesh, "Namespace")
    }
    assert enforce == {"istio-system": "baseline", "istio-cni": "privileged"}
    cni = releases(mesh)["cni"]
    assert cni.inputs["namespace"] == "istio-cni"


def test_nothing_mesh_wide_changes_other_teams_workloads_by_default(mesh: list[Registration]) -> None:
    assert of_kind(mesh, "PeerAuthentication") == []


def test_mesh_wide_settings_are_an_explicit_platform_choice(run_program) -> None:
    args = ServiceMeshArgs(
        pod_security_version=POD_SECURITY_VERSION,
        mesh_wide_strict_mtls=True,
        mesh_wide_registry_only=True,
        protect=True,
    )
    registered = run_program(lambda: ServiceMesh("mesh", args))
    (peer,) = [item for item in registered if item.inputs.get("kind") == "PeerAuthentication"]
    assert peer.inputs["metadata"] == {"name": "default", "namespace": "istio-system"}
    assert peer.inputs["spec"] == {"mtls": {"mode": "STRICT"}} and peer.options.protect
    assert istiod_values(args)["meshConfig"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}


def test_the_namespace_protections_are_protected_in_production(run_program) -> None:
    registered = run_program(lambda: MeshPolicies("fraud", policies_args(protect=True)))
    guarded = {
        item.inputs["kind"]: item.options
        for item in registered
        if item.inputs.get("kind") in {"PeerAuthentication", "AuthorizationPolicy", "Sidecar"}
        and item.inputs["metadata"]["name"] in {"default", "allow-nothing"}
    }
    assert set(guarded) == {"PeerAuthentication", "AuthorizationPolicy", "Sidecar"}
    assert all(options.protect and options.retain_on_delete for options in guarded.values())


@pytest.fixture
def policies(run_program) -> list[Registration]:
    services = [ExternalService("api.example.com", 443, ["203.0.113.0/24"])]
    return run_program(
        lambda: MeshPolicies("fraud", policies_args(monitoring_namespace="monitoring", external_services=services))
    )


def test_namespace_is_strict_and_allows_nothing_by_default(policies: list[Registration]) -> None:
    (peer,) = of_kind(policies, "PeerAuthentication")
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    by_name = {policy["metadata"]["name"]: policy["spec"] for policy in of_kind(policies, "AuthorizationPolicy")}
    assert by_name["allow-nothing"] == {}


def test_allow_rules_name_principals_methods_paths_and_port(policies: list[Registration]) -> None:
    (allow,) = [p for p in of_kind(policies, "AuthorizationPolicy") if p["metadata"]["name"] != "allow-nothing"]
    spec = allow["spec"]
    assert spec["action"] == "ALLOW" and spec["selector"] == {"matchLabels": SELECTOR}
    operations = set()
    for rule in spec["rules"]:
        assert rule["from"] == [{"source": {"principals": [GATEWAY]}}]
        for target in rule["to"]:
            operation = target["operation"]
            assert operation["ports"] == ["8080"]
            operations |= {(method, path) for method in operation["methods"] for path in operation["paths"]}
    assert operations == {("POST", "/v1/predict"), ("GET", "/healthz"), ("GET", "/readyz")}


def test_no_callers_means_no_allow_rule(run_program) -> None:
    registrations = run_program(lambda: MeshPolicies("fraud", policies_args(caller_principals=[])))
    assert [p["metadata"]["name"] for p in of_kind(registrations, "AuthorizationPolicy")] == ["allow-nothing"]
    assert authorization_rules(policies_args(caller_principals=[])) == []


@pytest.mark.parametrize(
    "principal", ["*", "cluster.local/ns/*/sa/gateway", "cluster.local/ns/istio-ingress", "spiffe://x/ns/a/sa/b"]
)
def test_wildcard_or_malformed_principals_are_refused(principal: str) -> None:
    with pytest.raises(ValueError, match="MeshPoliciesArgs"):
        policies_args(caller_principals=[principal])


def test_egress_is_limited_to_the_namespace_control_plane_and_named_hosts(policies: list[Registration]) -> None:
    (sidecar,) = of_kind(policies, "Sidecar")
    assert sidecar["spec"]["egress"] == [{"hosts": ["./*", "istio-system/*", "./api.example.com"]}]
    assert sidecar["spec"]["outboundTrafficPolicy"]["mode"] == "REGISTRY_ONLY"
    (entry,) = of_kind(policies, "ServiceEntry")
    assert entry["spec"]["hosts"] == ["api.example.com"] and entry["spec"]["location"] == "MESH_EXTERNAL"
    assert entry["spec"]["exportTo"] == ["."]


def test_network_policies_open_istiod_named_cidrs_and_metrics_only(policies: list[Registration]) -> None:
    by_name = {policy["metadata"]["name"]: policy["spec"] for policy in of_kind(policies, "NetworkPolicy")}
    egress = by_name["allow-mesh-egress"]["egress"]
    assert egress[0]["ports"] == [{"protocol": "TCP", "port": ISTIOD_XDS_PORT}]
    assert egress[0]["to"][0]["podSelector"] == {"matchLabels": {"app": "istiod"}}
    assert egress[1] == {"to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}
    assert len(egress) == 2
    (metrics,) = by_name["allow-metrics-scrape"]["ingress"]
    assert metrics["ports"] == [{"protocol": "TCP", "port": 15020}]


def tls_args(**changes: Any) -> EdgeTlsArgs:
    values: dict[str, Any] = {
        "host": "fraud-model.example.com",
        "pod_security_version": POD_SECURITY_VERSION,
        "service_host": "fraud-detector.fraud-model.svc.cluster.local",
        "service_port": 8080,
        "paths": ["/v1/predict"],
    }
    return EdgeTlsArgs(**(values | changes))


def test_gateway_terminates_tls_12_and_redirects_http(run_program) -> None:
    registrations = run_program(lambda: EdgeTls("edge", tls_args()))
    (gateway,) = of_kind(registrations, "Gateway")
    https, http = gateway["spec"]["servers"]
    assert https["tls"]["mode"] == "SIMPLE" and https["tls"]["minProtocolVersion"] == MIN_TLS_VERSION
    assert https["tls"]["credentialName"] == "fraud-model-example-com-tls"
    assert http["tls"] == {"httpsRedirect": True}
    (route,) = of_kind(registrations, "VirtualService")
    assert route["spec"]["http"][0]["match"] == [{"uri": {"exact": "/v1/predict"}}]


def test_self_signed_issuer_is_a_ca_chain(run_program) -> None:
    registrations = run_program(lambda: EdgeTls("edge", tls_args()))
    issuers = {issuer["metadata"]["name"]: issuer["spec"] for issuer in of_kind(registrations, "ClusterIssuer")}
    assert issuers == {
        "selfsigned-root": {"selfSigned": {}},
        "model-platform-ca": {"ca": {"secretName": "model-platform-ca"}},
    }
    certificates = {c["metadata"]["name"]: c["spec"] for c in of_kind(registrations, "Certificate")}
    assert certificates["model-platform-ca"]["isCA"] is True
    assert certificates["fraud-model-example-com-tls"]["issuerRef"]["name"] == "model-platform-ca"


ROUTE53 = Route53Solver(region="eu-west-1", hosted_zone_id="Z0123", role_arn="arn:aws:iam::123456789012:role/cm")
CLOUD_DNS = CloudDnsSolver(
    project="fraud-prod", google_service_account="cert-manager@fraud-prod.iam.gserviceaccount.com"
)


def test_acme_issuer_needs_an_email_and_a_dns01_solver() -> None:
    with pytest.raises(ValueError, match="acme_email"):
        tls_args(issuer="acme", acme_solver=ROUTE53)
    with pytest.raises(ValueError, match="acme_solver"):
        tls_args(issuer="acme", acme_email="sec@example.com")


@pytest.mark.parametrize(
    ("solver", "dns01", "annotation"),
    [
        (ROUTE53, {"route53": {"region": "eu-west-1", "hostedZoneID": "Z0123"}}, "eks.amazonaws.com/role-arn"),
        (CLOUD_DNS, {"cloudDNS": {"project": "fraud-prod"}}, "iam.gke.io/gcp-service-account"),
    ],
)
def test_acme_proves_the_host_by_dns01_as_cert_managers_workload_identity(
    run_program, solver: Route53Solver | CloudDnsSolver, dns01: dict[str, Any], annotation: str
) -> None:
    args = tls_args(issuer="acme", acme_email="sec@example.com", acme_solver=solver)
    registrations = run_program(lambda: EdgeTls("edge", args))
    (issuer,) = of_kind(registrations, "ClusterIssuer")
    assert issuer["spec"]["acme"]["email"] == "sec@example.com"
    # One DNS-01 solver, for this host only; no HTTP-01 route through the redirecting port 80.
    assert issuer["spec"]["acme"]["solvers"] == [
        {"dns01": dns01, "selector": {"dnsNames": ["fraud-model.example.com"]}}
    ]
    (cert_manager,) = [item for item in registrations if item.type.startswith("kubernetes-cert-manager:")]
    annotations = cert_manager.inputs["helmOptions"]["values"]["serviceAccount"]["annotations"]
    assert annotations == solver.service_account_annotations() and annotation in annotations


def test_cert_manager_is_pinned_and_installs_its_crds_the_current_way(run_program) -> None:
    registrations = run_program(lambda: EdgeTls("edge", tls_args()))
    (cert_manager,) = [item for item in registrations if item.type.startswith("kubernetes-cert-manager:")]
    helm = cert_manager.inputs["helmOptions"]
    assert (helm["version"], helm["repositoryOpts"]["repo"]) == (CERT_MANAGER.version, CERT_MANAGER.repository)
    # crds.enabled/crds.keep, not the deprecated installCRDs; the CRDs (and every Certificate) outlive the release.
    assert helm["values"]["crds"] == {"enabled": True, "keep": True}
    assert "installCRDs" not in cert_manager.inputs and "installCRDs" not in helm["values"]


def test_istio_charts_come_from_where_istio_publishes_them(mesh: list[Registration]) -> None:
    # 1.31 is not published to the retired GCP bucket, which goes away for every version.
    repositories = {item.inputs["repositoryOpts"]["repo"] for item in releases(mesh).values()}
    assert repositories == {ISTIO_BASE.repository}
    assert ISTIO_BASE.repository.startswith("https://") and "storage.googleapis.com" not in ISTIO_BASE.repository


@pytest.mark.parametrize("account", ["istio-ingressgateway", "edge-gateway"])
def test_the_gateway_selects_the_pods_its_release_labels_whatever_the_account_is_called(
    run_program, account: str
) -> None:
    registrations = run_program(lambda: EdgeTls("edge", tls_args(gateway_service_account=account)))
    (gateway,) = of_kind(registrations, "Gateway")
    (release,) = [
        item.inputs
        for item in registrations
        if item.type == "kubernetes:helm.sh/v3:Release" and item.inputs["chart"] == "gateway"
    ]
    # The chart labels its pods `istio: <release name without istio->`; the Gateway must select that.
    expected = {"istio": account.removeprefix("istio-")}
    assert release["name"] == account and release["values"]["serviceAccount"]["name"] == account
    assert release["values"]["labels"] == expected
    assert gateway["spec"]["selector"] == expected


def _read_timeouts(envoy_filter: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (patch,) = envoy_filter["spec"]["configPatches"]
    assert patch["applyTo"] == "NETWORK_FILTER" and patch["patch"]["operation"] == "MERGE"
    assert (
        patch["match"]["listener"]["filterChain"]["filter"]["name"] == "envoy.filters.network.http_connection_manager"
    )
    return patch["match"]["context"], patch["patch"]["value"]["typed_config"]


def test_the_sidecar_bounds_request_reads_and_queues_for_the_model(run_program) -> None:
    """A slow client is cut off by the proxy at the server's own read bound, and a flood queues in
    Envoy (bounded) rather than holding the model server's connections."""
    registrations = run_program(lambda: MeshPolicies("fraud", policies_args(request_read_timeout_seconds=7)))
    (sidecar,) = of_kind(registrations, "Sidecar")
    pool = sidecar["spec"]["inboundConnectionPool"]
    assert pool["tcp"]["maxConnections"] > 0 and pool["http"]["http1MaxPendingRequests"] > 0
    (envoy_filter,) = of_kind(registrations, "EnvoyFilter")
    assert envoy_filter["spec"]["workloadSelector"]["labels"] == policies_args().workload_labels
    context, hcm = _read_timeouts(envoy_filter)
    assert context == "SIDECAR_INBOUND"
    assert (hcm["request_headers_timeout"], hcm["request_timeout"]) == ("7s", "7s")


def test_the_gateway_bounds_request_reads_and_the_models_answer(run_program) -> None:
    args = tls_args(request_read_timeout_seconds=9, response_timeout_seconds=12)
    registrations = run_program(lambda: EdgeTls("edge", args))
    (envoy_filter,) = of_kind(registrations, "EnvoyFilter")
    (gateway,) = of_kind(registrations, "Gateway")
    # The same pods the Gateway selects: the bound applies where TLS terminates.
    assert envoy_filter["spec"]["workloadSelector"]["labels"] == gateway["spec"]["selector"]
    context, hcm = _read_timeouts(envoy_filter)
    assert (context, hcm["request_headers_timeout"], hcm["request_timeout"]) == ("GATEWAY", "9s", "9s")
    (route,) = of_kind(registrations, "VirtualService")
    assert [http["timeout"] for http in route["spec"]["http"]] == ["12s"]
