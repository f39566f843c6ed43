"""IsolatedNamespace: PSA restricted pinned, quota, container defaults, default-deny, DNS only."""

from __future__ import annotations

import pytest

from secure_model_serving.naming import ISOLATION_LABEL
from secure_model_serving.tenant.namespace import DnsEndpoint, IsolatedNamespace, IsolatedNamespaceArgs
from secure_model_serving.versions import POD_SECURITY_VERSION
from tests.support.registrations import by_kind, only, parent_types

AMOUNTS = {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}


def args(**overrides: object) -> IsolatedNamespaceArgs:
    values = {
        "name": "models",
        "pod_security_version": POD_SECURITY_VERSION,
        "quota": {"requests.cpu": "4", "pods": "10"},
        "container_default_request": AMOUNTS,
        "container_default_limit": AMOUNTS,
        "container_max": AMOUNTS,
    } | overrides
    return IsolatedNamespaceArgs(**values)  # type: ignore[arg-type]


def test_pod_security_is_restricted_and_pinned_for_every_mode(run_program) -> None:
    registrations = run_program(lambda: IsolatedNamespace("ns", args()))
    labels = only(registrations, "Namespace")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == POD_SECURITY_VERSION
    assert labels[ISOLATION_LABEL] == "true"


def test_extra_labels_cannot_weaken_pod_security() -> None:
    with pytest.raises(ValueError, match=r"pod-security\.kubernetes\.io/enforce"):
        IsolatedNamespace("ns", args(extra_labels={"pod-security.kubernetes.io/enforce": "privileged"}))


def test_quota_and_container_defaults_cover_cpu_memory_and_ephemeral_storage(run_program) -> None:
    registrations = run_program(lambda: IsolatedNamespace("ns", args()))
    assert only(registrations, "ResourceQuota")["spec"]["hard"] == {"requests.cpu": "4", "pods": "10"}
    (limit,) = only(registrations, "LimitRange")["spec"]["limits"]
    assert limit["type"] == "Container"
    for key in ("defaultRequest", "default", "max"):
        assert set(limit[key]) == {"cpu", "memory", "ephemeral-storage"}


def test_network_starts_closed_with_dns_as_the_only_egress(run_program) -> None:
    dns = DnsEndpoint(namespace="kube-system", pod_labels={"k8s-app": "kube-dns"})
    registrations = run_program(lambda: IsolatedNamespace("ns", args(dns=dns)))
    policies = {policy["metadata"]["name"]: policy["spec"] for policy in by_kind(registrations, "NetworkPolicy")}
    deny = policies["default-deny-all"]
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in deny and "egress" not in deny

    allow = policies["allow-dns-egress"]
    assert allow["policyTypes"] == ["Egress"] and "ingress" not in allow
    (rule,) = allow["egress"]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert sorted((port["protocol"], port["port"]) for port in rule["ports"]) == [("TCP", 53), ("UDP", 53)]
    assert set(policies) == {"default-deny-all", "allow-dns-egress"}


def test_every_child_is_in_the_namespace_and_parented(run_program) -> None:
    registrations = run_program(lambda: IsolatedNamespace("ns", args()))
    children = [item for item in registrations if item.custom]
    assert len(children) == 7
    assert all(parent_types(item) == ["secureml:namespace:IsolatedNamespace"] for item in children)
    cluster_scoped = {"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    namespaced = [item.inputs for item in children if item.inputs["kind"] not in cluster_scoped]
    assert all(item["metadata"]["namespace"] == "models" for item in namespaced)


def test_namespace_name_output_resolves(run_program) -> None:
    seen: list[str] = []

    def build() -> None:
        IsolatedNamespace("ns", args()).namespace_name.apply(seen.append)

    run_program(build)
    assert seen == ["models"]


def test_the_default_deny_policy_is_protected_and_retained_in_production(run_program) -> None:
    for protect in (True, False):
        registered = run_program(lambda protect=protect: IsolatedNamespace("ns", args(protect=protect)))
        (deny,) = [item for item in registered if item.inputs.get("metadata", {}).get("name") == "default-deny-all"]
        assert deny.options.protect is protect and deny.options.retain_on_delete is protect


def test_every_security_and_opt_in_label_is_locked_against_all_but_the_platform(run_program) -> None:
    extra = {"istio-injection": "enabled", "policy.sigstore.dev/include": "true"}
    registrations = run_program(
        lambda: IsolatedNamespace("ns", args(extra_labels=extra, platform_groups=("platform-admins",), protect=True))
    )
    labels = only(registrations, "Namespace")["metadata"]["labels"]
    lock = only(registrations, "ValidatingAdmissionPolicy")
    checked = [v["expression"] for v in lock["spec"]["validations"]]
    locked = {key for key in labels if any(f'"{key}" in object.metadata.labels' in e for e in checked)}
    assert locked == set(labels) - {"app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"}
    assert all(f'== "{labels[key]}"' in e for key in locked for e in checked if f'"{key}" in' in e)
    (rule,) = lock["spec"]["matchConstraints"]["resourceRules"]
    assert (rule["resources"], rule["operations"], rule["resourceNames"]) == (["namespaces"], ["UPDATE"], ["models"])
    assert lock["spec"]["failurePolicy"] == "Fail"
    (condition,) = lock["spec"]["matchConditions"]
    assert '"platform-admins"' in condition["expression"]
    binding = only(registrations, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": lock["metadata"]["name"], "validationActions": ["Deny"]}
    guarded = [i for i in registrations if i.custom and i.inputs["kind"].startswith("ValidatingAdmissionPolicy")]
    assert all(item.options.protect and item.options.retain_on_delete for item in guarded)


def test_without_platform_groups_no_one_is_excepted_from_the_lock(run_program) -> None:
    lock = only(run_program(lambda: IsolatedNamespace("ns", args())), "ValidatingAdmissionPolicy")
    assert "matchConditions" not in lock["spec"]
