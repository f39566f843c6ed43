"""HardenedModelDeployment: the pod meets the baseline, and its Args refuse unsafe values."""

from __future__ import annotations

from typing import Any

import pytest

from secure_model_serving.policies.parameters import MIN_ID
from secure_model_serving.tenant.workload import (
    AutoscalingPolicy,
    ContainerResources,
    HardenedModelDeployment,
    HardenedModelDeploymentArgs,
    IngressPeer,
    NodePlacement,
)
from tests.support.registrations import by_kind, only, parent_types

IMAGE = "registry.example.com/models/fraud@sha256:" + "0f" * 32
AMOUNTS = {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "128Mi"}


def args(**overrides: Any) -> HardenedModelDeploymentArgs:
    values: dict[str, Any] = {
        "namespace": "models",
        "image": IMAGE,
        "service_account_name": "fraud",
        "resources": ContainerResources(requests=AMOUNTS, limits=AMOUNTS),
    } | overrides
    return HardenedModelDeploymentArgs(**values)


def deploy(run_program, **overrides: Any):
    return run_program(lambda: HardenedModelDeployment("fraud", args(**overrides)))


def test_pod_meets_the_security_baseline(run_program) -> None:
    pod = only(deploy(run_program), "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert not (pod["hostNetwork"] or pod["hostPID"] or pod["hostIPC"])
    pod_context = pod["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] >= MIN_ID and pod_context["runAsGroup"] >= MIN_ID
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["runAsUser"] >= MIN_ID and context["runAsNonRoot"] is True
    assert container["image"] == IMAGE and container["imagePullPolicy"] == "Always"
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory", "ephemeral-storage"}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_tmp_is_the_only_writable_path_and_is_size_limited(run_program) -> None:
    pod = only(deploy(run_program, tmp_size_limit="32Mi"), "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "32Mi"}}]


def test_pods_spread_over_nodes_and_zones(run_program) -> None:
    pod = only(deploy(run_program), "Deployment")["spec"]["template"]["spec"]
    spread = {item["topologyKey"]: item for item in pod["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert "topology.kubernetes.io/zone" in spread
    terms = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert "nodeSelector" not in pod and "tolerations" not in pod


def test_dedicated_node_pool_is_selected_and_tolerated(run_program) -> None:
    placement = NodePlacement(
        node_selector={"pool": "models"},
        tolerations=[{"key": "pool", "operator": "Equal", "value": "models", "effect": "NoSchedule"}],
    )
    pod = only(deploy(run_program, node_placement=placement), "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "models"}
    assert pod["tolerations"] == placement.tolerations


def test_service_is_cluster_internal_and_pdb_guards_availability(run_program) -> None:
    registrations = deploy(run_program)
    service = only(registrations, "Service")["spec"]
    assert service["type"] == "ClusterIP"
    assert [(port["port"], port["targetPort"]) for port in service["ports"]] == [(8080, "http")]
    pdb = only(registrations, "PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["selector"]["matchLabels"] == service["selector"]


def test_ingress_admits_only_the_named_callers_on_the_model_port(run_program) -> None:
    callers = [IngressPeer(namespace="gateway", pod_labels={"app": "gw"}), IngressPeer(cidr="10.20.0.0/16")]
    policy = only(deploy(run_program, ingress_from=callers), "NetworkPolicy")["spec"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gateway"}},
            "podSelector": {"matchLabels": {"app": "gw"}},
        },
        {"ipBlock": {"cidr": "10.20.0.0/16"}},
    ]
    assert policy["policyTypes"] == ["Ingress"]


def test_no_named_caller_admits_nobody(run_program) -> None:
    policy = only(deploy(run_program), "NetworkPolicy")["spec"]
    assert policy["ingress"] == []


def test_autoscaling_adds_an_hpa_and_leaves_replicas_to_it(run_program) -> None:
    assert by_kind(deploy(run_program), "HorizontalPodAutoscaler") == []
    registrations = deploy(run_program, autoscaling=AutoscalingPolicy(min_replicas=3, max_replicas=9))
    hpa = only(registrations, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud"}
    assert only(registrations, "Deployment")["spec"]["replicas"] == 3


def test_children_are_parented_to_the_component(run_program) -> None:
    children = [item for item in deploy(run_program) if item.custom]
    assert len(children) == 4
    assert all(parent_types(item) == ["secureml:workload:HardenedModelDeployment"] for item in children)


def test_outputs_resolve(run_program) -> None:
    seen: list[str] = []
    run_program(lambda: HardenedModelDeployment("fraud", args()).service_address.apply(seen.append))
    assert seen == ["fraud.models.svc.cluster.local:8080"]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("image", "registry.example.com/models/fraud:1.0", "image"),
        ("image", "registry.example.com/models/fraud:latest", "image"),
        ("run_as_user", 0, "run_as_user"),
        ("run_as_group", 1000, "run_as_group"),
        ("replicas", 0, "replicas"),
        ("port", 80, "port"),
        ("namespace", "Models", "namespace"),
        ("tmp_size_limit", "lots", "tmp_size_limit"),
        ("resources", ContainerResources(requests={"cpu": "1", "memory": "1Gi"}, limits=AMOUNTS), "resources.requests"),
        ("autoscaling", AutoscalingPolicy(min_replicas=5, max_replicas=2), "autoscaling"),
    ],
)
def test_unsafe_args_are_refused_before_anything_is_created(field: str, value: Any, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        args(**{field: value})


def test_the_pod_sleeps_before_sigterm_and_its_grace_period_holds_sleep_and_drain(run_program) -> None:
    pod = only(deploy(run_program, pre_stop_seconds=12, termination_grace_period_seconds=50), "Deployment")
    spec = pod["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    # A sleep action: the distroless image has no shell for an exec hook.
    assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 12}}}
    assert spec["terminationGracePeriodSeconds"] == 50


@pytest.mark.parametrize(("pre_stop", "grace"), [(0, 40), (40, 40), (50, 40)])
def test_a_pre_stop_sleep_outside_the_grace_period_is_refused(pre_stop: int, grace: int) -> None:
    with pytest.raises(ValueError, match="pre_stop_seconds"):
        args(pre_stop_seconds=pre_stop, termination_grace_period_seconds=grace)
