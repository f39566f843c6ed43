"""A crafted corpus for the blast-radius audit: each case is a few objects and the one answer the
audit must give about pod `p` (service account `sa`, namespace NS) for them.

Each answer is read from one place of the pod's JSON entry (`Case.answer`), so a case pins one
fact: a token found or not, a binding reaching the account or not, a flag raised or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CASES", "NS", "Case", "pod"]

NS = "fraud-model"
RBAC = "rbac.authorization.k8s.io"
DEFAULT_CAPS = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
]


@dataclass(frozen=True)
class Case:
    id: str
    objects: list[dict[str, Any]]
    answer: Callable[[dict[str, Any]], Any]
    expected: Any
    api_audiences: tuple[str, ...] = field(default=())


def pod(spec: dict[str, Any] | None = None, labels: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"serviceAccountName": "sa", "containers": [{"name": "c", "image": "i"}], **(spec or {})}
    metadata = {"name": "p", "namespace": NS, "labels": labels or {"app": "model"}, **meta}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def account(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": NS}, **fields}


def projected(name: str, audience: str | None = None) -> dict[str, Any]:
    token: dict[str, Any] = {"path": "token", "expirationSeconds": 3607}
    if audience is not None:
        token["audience"] = audience
    return {"name": name, "projected": {"sources": [{"serviceAccountToken": token}]}}


def mounted(volume: str, path: str = "/var/run/secrets/tokens") -> dict[str, Any]:
    return {"name": "c", "image": "i", "volumeMounts": [{"name": volume, "mountPath": path}]}


LIVE_API_ACCESS = {
    "name": "kube-api-access-x7k2p",
    "projected": {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        ],
    },
}
"""The volume the ServiceAccount admission plugin writes into a live pod (`kubectl get pod -o yaml`)."""


def tokens(entry: dict[str, Any]) -> Any:
    return [(t["source"], t["audience"], t["apiToken"]) for t in entry["secrets"]["tokens"]]


def api_token(entry: dict[str, Any]) -> bool:
    return bool(entry["secrets"]["serviceAccountToken"])


TOKEN_CASES = [
    Case("token/automount-unset", [pod()], tokens, [("automount", None, True)]),
    Case("token/automount-false", [pod({"automountServiceAccountToken": False})], tokens, []),
    Case("token/account-says-false", [pod(), account(automountServiceAccountToken=False)], tokens, []),
    Case(
        "token/projected-without-audience-despite-automount-false",
        [pod({"automountServiceAccountToken": False, "volumes": [projected("t")], "containers": [mounted("t")]})],
        tokens,
        [("projected", None, True)],
    ),
    Case(
        "token/projected-for-the-api-server",
        [pod({"automountServiceAccountToken": False, "volumes": [projected("t", "https://kubernetes.default.svc")]})],
        api_token,
        True,
    ),
    Case(
        "token/projected-for-another-audience",
        [pod({"automountServiceAccountToken": False, "volumes": [projected("t", "vault")]})],
        tokens,
        [("projected", "vault", False)],
    ),
    Case(
        "token/another-audience-the-cluster-accepts",
        [pod({"automountServiceAccountToken": False, "volumes": [projected("t", "vault")]})],
        api_token,
        True,
        api_audiences=("vault",),
    ),
    Case(
        "token/istio-ca-is-not-an-api-token",
        [pod({"automountServiceAccountToken": False, "volumes": [projected("istio-token", "istio-ca")]})],
        api_token,
        False,
    ),
    Case(
        "token/live-kube-api-access-counted-once",
        [pod({"volumes": [LIVE_API_ACCESS]})],
        tokens,
        [("projected", None, True)],
    ),
    Case(
        "token/live-pod-mounts-it-though-the-account-now-says-false",
        [pod({"volumes": [LIVE_API_ACCESS]}), account(automountServiceAccountToken=False)],
        api_token,
        True,
    ),
    Case(
        "token/legacy-token-secret",
        [
            pod(
                {"automountServiceAccountToken": False, "volumes": [{"name": "s", "secret": {"secretName": "sa-tok"}}]}
            ),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/service-account-token",
                "metadata": {"name": "sa-tok", "namespace": NS},
            },
        ],
        tokens,
        [("secret", None, True)],
    ),
    Case(
        "token/plain-secret-is-no-token",
        [pod({"automountServiceAccountToken": False, "volumes": [{"name": "s", "secret": {"secretName": "tls"}}]})],
        tokens,
        [],
    ),
    Case(
        "token/a-mount-at-the-token-path-stops-the-injection",
        [
            pod(
                {
                    "volumes": [{"name": "e", "emptyDir": {}}],
                    "containers": [mounted("e", "/var/run/secrets/kubernetes.io/serviceaccount")],
                }
            )
        ],
        tokens,
        [],
    ),
]


def binding(subject: dict[str, Any], kind: str = "RoleBinding", namespace: str = NS, role: str = "r") -> dict[str, Any]:
    metadata = {"name": "b", **({"namespace": namespace} if kind == "RoleBinding" else {})}
    role_kind = "Role" if kind == "RoleBinding" and role == "r" else "ClusterRole"
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role},
        "subjects": [subject],
    }


def role(rules: list[dict[str, Any]], namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role",
        "metadata": {"name": "r", "namespace": namespace},
        "rules": rules,
    }


def cluster_role(name: str, rules: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    labels = extra.pop("labels", {})
    obj = {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": name, "labels": labels}, **extra}
    if rules is not None:
        obj["rules"] = rules
    return obj


def rule(resources: list[str], verbs: list[str], groups: list[str] | None = None) -> dict[str, Any]:
    return {"apiGroups": groups if groups is not None else [""], "resources": resources, "verbs": verbs}


SECRETS = rule(["secrets"], ["get"])


def subjects(entry: dict[str, Any]) -> list[str]:
    return [g["subject"] for g in entry["rbac"]]


def reached(subject: dict[str, Any], kind: str = "RoleBinding", namespace: str = NS) -> list[dict[str, Any]]:
    objects = [pod(), binding(subject, kind, namespace, "r" if kind == "RoleBinding" else "c")]
    return [*objects, role([SECRETS], namespace), cluster_role("c", [SECRETS])]


SUBJECT_CASES = [
    Case(
        "subject/service-account",
        reached({"kind": "ServiceAccount", "name": "sa", "namespace": NS}),
        subjects,
        [f"ServiceAccount/{NS}/sa"],
    ),
    Case(
        "subject/service-account-namespace-defaults-to-the-binding",
        reached({"kind": "ServiceAccount", "name": "sa"}),
        subjects,
        [f"ServiceAccount/{NS}/sa"],
    ),
    Case(
        "subject/service-account-of-another-namespace",
        reached({"kind": "ServiceAccount", "name": "sa", "namespace": "x"}),
        subjects,
        [],
    ),
    Case(
        "subject/cluster-binding-needs-the-namespace",
        reached({"kind": "ServiceAccount", "name": "sa"}, "ClusterRoleBinding"),
        subjects,
        [],
    ),
    Case(
        "subject/user-naming-the-account",
        reached({"kind": "User", "name": f"system:serviceaccount:{NS}:sa"}, "ClusterRoleBinding"),
        subjects,
        [f"User/system:serviceaccount:{NS}:sa"],
    ),
    Case(
        "subject/user-naming-another-account",
        reached({"kind": "User", "name": "system:serviceaccount:x:sa"}),
        subjects,
        [],
    ),
    Case("subject/user-alice", reached({"kind": "User", "name": "sa"}), subjects, []),
    Case(
        "subject/group-authenticated",
        reached({"kind": "Group", "name": "system:authenticated"}, "ClusterRoleBinding"),
        subjects,
        ["Group/system:authenticated"],
    ),
    Case(
        "subject/group-all-service-accounts",
        reached({"kind": "Group", "name": "system:serviceaccounts"}),
        subjects,
        ["Group/system:serviceaccounts"],
    ),
    Case(
        "subject/group-of-the-namespace",
        reached({"kind": "Group", "name": f"system:serviceaccounts:{NS}"}),
        subjects,
        [f"Group/system:serviceaccounts:{NS}"],
    ),
    Case(
        "subject/group-of-another-namespace",
        reached({"kind": "Group", "name": "system:serviceaccounts:x"}),
        subjects,
        [],
    ),
    Case(
        "subject/group-unauthenticated",
        reached({"kind": "Group", "name": "system:unauthenticated"}, "ClusterRoleBinding"),
        subjects,
        [],
    ),
    Case(
        "subject/a-binding-in-another-namespace-grants-there",
        reached({"kind": "ServiceAccount", "name": "sa", "namespace": NS}, namespace="payments"),
        lambda entry: [(g["scope"], g["danger"]) for g in entry["rbac"]],
        [("payments", ["reads secrets"])],
    ),
]


def aggregated(*roles: dict[str, Any]) -> list[dict[str, Any]]:
    subject = {"kind": "ServiceAccount", "name": "sa", "namespace": NS}
    return [pod(), binding(subject, "ClusterRoleBinding", role="agg"), *roles]


def selecting(*selectors: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return cluster_role("agg", rules, aggregationRule={"clusterRoleSelectors": list(selectors)})


def via(entry: dict[str, Any]) -> list[tuple[str | None, list[str]]]:
    return [(g["via"], g["danger"]) for g in entry["rbac"]]


AGGREGATION_CASES = [
    Case(
        "aggregation/selected-role-rules",
        aggregated(selecting({"matchLabels": {"x": "true"}}), cluster_role("src", [SECRETS], labels={"x": "true"})),
        via,
        [("ClusterRole/src", ["reads secrets"])],
    ),
    Case(
        "aggregation/match-expressions",
        aggregated(
            selecting({"matchExpressions": [{"key": "x", "operator": "In", "values": ["a", "b"]}]}),
            cluster_role("src", [SECRETS], labels={"x": "b"}),
            cluster_role("other", [rule(["pods/exec"], ["create"])], labels={"x": "c"}),
        ),
        via,
        [("ClusterRole/src", ["reads secrets"])],
    ),
    Case(
        "aggregation/transitive",
        aggregated(
            selecting({"matchLabels": {"x": "true"}}),
            cluster_role(
                "mid", labels={"x": "true"}, aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"y": "1"}}]}
            ),
            cluster_role("leaf", [rule(["nodes/proxy"], ["get"])], labels={"y": "1"}),
        ),
        via,
        [("ClusterRole/leaf", ["nodes/proxy"])],
    ),
    Case(
        "aggregation/live-export-filled-in-once",
        aggregated(
            selecting({"matchLabels": {"x": "true"}}, rules=[SECRETS]),
            cluster_role("src", [SECRETS], labels={"x": "true"}),
        ),
        via,
        [("ClusterRole/src", ["reads secrets"])],
    ),
    Case(
        "aggregation/unlabelled-role-not-selected",
        aggregated(selecting({"matchLabels": {"x": "true"}}), cluster_role("src", [SECRETS], labels={"x": "no"})),
        via,
        [],
    ),
]


def flags_of(grant_rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [pod(), binding({"kind": "ServiceAccount", "name": "sa"}), role([grant_rule])]


def flags(entry: dict[str, Any]) -> list[str]:
    (grant,) = entry["rbac"]
    return list(grant["danger"])


_WORKLOADS = [
    ("", "pods"),
    ("apps", "deployments"),
    ("apps", "daemonsets"),
    ("apps", "statefulsets"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("", "replicationcontrollers"),
]

DANGER_CASES = [
    Case("danger/nodes-proxy-get", flags_of(rule(["nodes/proxy"], ["get"])), flags, ["nodes/proxy"]),
    Case(
        "danger/token-request",
        flags_of(rule(["serviceaccounts/token"], ["create"])),
        flags,
        ["creates service-account tokens"],
    ),
    Case("danger/token-read-is-harmless", flags_of(rule(["serviceaccounts"], ["get"])), flags, []),
    Case("danger/pods-attach", flags_of(rule(["pods/attach"], ["create"])), flags, ["pods/attach"]),
    Case("danger/pods-exec-websocket-get", flags_of(rule(["pods/exec"], ["get"])), flags, ["pods/exec"]),
    Case(
        "danger/ephemeral-containers",
        flags_of(rule(["pods/ephemeralcontainers"], ["patch"])),
        flags,
        ["pods/ephemeralcontainers"],
    ),
    Case("danger/pods-subresource-wildcard", flags_of(rule(["pods/*"], ["get"])), flags, ["pods/exec", "pods/attach"]),
    Case("danger/any-resource-exec", flags_of(rule(["*/exec"], ["create"])), flags, ["pods/exec"]),
    *(
        Case(
            f"danger/creates-{resource}",
            flags_of(rule([resource], ["create"], [group])),
            flags,
            [f"creates {resource}"],
        )
        for group, resource in _WORKLOADS
    ),
    Case("danger/deployments-in-the-wrong-group", flags_of(rule(["deployments"], ["create"], [""])), flags, []),
    Case("danger/scaling-is-not-creating", flags_of(rule(["deployments/scale"], ["update"], ["apps"])), flags, []),
    Case("danger/read-only", flags_of(rule(["pods", "services"], ["get", "list", "watch"])), flags, []),
    Case(
        "danger/rbac-verbs-wildcard", flags_of(rule(["roles"], ["*"], [RBAC])), flags, ["wildcard", "escalate", "bind"]
    ),
    Case("danger/impersonate", flags_of(rule(["users"], ["impersonate"])), flags, ["impersonate"]),
    Case(
        "danger/read-everything-in-core",
        flags_of(rule(["*"], ["get"])),
        flags,
        ["wildcard", "reads secrets", "pods/exec", "pods/attach", "nodes/proxy"],
    ),
]


def capabilities(entry: dict[str, Any]) -> list[str]:
    return list(entry["capabilities"]["c"])


def with_context(context: dict[str, Any]) -> list[dict[str, Any]]:
    return [pod({"containers": [{"name": "c", "image": "i", "securityContext": context}]})]


CAPABILITY_CASES = [
    Case(
        "capabilities/privileged-holds-all",
        with_context({"privileged": True, "capabilities": {"drop": ["ALL"]}}),
        capabilities,
        ["ALL"],
    ),
    Case("capabilities/runtime-defaults", with_context({}), capabilities, DEFAULT_CAPS),
    Case("capabilities/drop-all", with_context({"capabilities": {"drop": ["ALL"]}}), capabilities, []),
    Case(
        "capabilities/drop-all-add-one",
        with_context({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
        capabilities,
        ["NET_BIND_SERVICE"],
    ),
    Case(
        "capabilities/added-with-prefix",
        with_context({"capabilities": {"drop": ["ALL"], "add": ["CAP_SYS_ADMIN"]}}),
        capabilities,
        ["SYS_ADMIN"],
    ),
    Case(
        "capabilities/drop-one",
        with_context({"capabilities": {"drop": ["NET_RAW"]}}),
        capabilities,
        [c for c in DEFAULT_CAPS if c != "NET_RAW"],
    ),
    Case("capabilities/add-all", with_context({"capabilities": {"add": ["ALL"]}}), capabilities, ["ALL"]),
]


def network_policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


DENY_ALL = network_policy("deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def restricted(entry: dict[str, Any]) -> tuple[bool, bool]:
    return entry["network"]["ingressRestricted"], entry["network"]["egressRestricted"]


def allow(
    peers: list[dict[str, Any]] | None, direction: str = "Ingress", selector: dict[str, Any] | None = None
) -> dict[str, Any]:
    key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    rule_: dict[str, Any] = {"ports": [{"port": 8080}]}
    if peers is not None:
        rule_[peer_key] = peers
    spec = {
        "podSelector": selector if selector is not None else {"matchLabels": {"app": "model"}},
        "policyTypes": [direction],
        key: [rule_],
    }
    return network_policy(f"allow-{direction.lower()}", spec)


NETWORK_CASES = [
    Case("network/no-policy-is-open", [pod()], restricted, (False, False)),
    Case("network/default-deny", [pod(), DENY_ALL], restricted, (True, True)),
    Case(
        "network/ingress-from-named-peers",
        [pod(), DENY_ALL, allow([{"podSelector": {"matchLabels": {"a": "b"}}}])],
        restricted,
        (True, True),
    ),
    Case(
        "network/allow-all-ingress-beside-deny",
        [pod(), DENY_ALL, network_policy("all", {"podSelector": {}, "ingress": [{}]})],
        restricted,
        (False, True),
    ),
    Case("network/ingress-from-anywhere-on-a-port", [pod(), DENY_ALL, allow(None)], restricted, (False, True)),
    Case(
        "network/ingress-from-the-whole-internet",
        [pod(), DENY_ALL, allow([{"ipBlock": {"cidr": "0.0.0.0/0"}}])],
        restricted,
        (False, True),
    ),
    Case(
        "network/whole-internet-but-excepted",
        [pod(), DENY_ALL, allow([{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}])],
        restricted,
        (True, True),
    ),
    Case("network/egress-to-anywhere", [pod(), DENY_ALL, allow(None, "Egress")], restricted, (True, False)),
    Case("network/host-network-escapes-policies", [pod({"hostNetwork": True}), DENY_ALL], restricted, (False, False)),
    Case(
        "network/allow-for-other-pods",
        [pod(), DENY_ALL, allow(None, selector={"matchLabels": {"app": "other"}})],
        restricted,
        (True, True),
    ),
    Case(
        "network/quarantined-pod-leaves-the-allow-policies",
        [
            pod(labels={"app": "model", "secure-model-serving/quarantine": "true"}),
            DENY_ALL,
            allow(
                None,
                selector={"matchExpressions": [{"key": "secure-model-serving/quarantine", "operator": "DoesNotExist"}]},
            ),
        ],
        lambda entry: [p["name"] for p in entry["network"]["networkPolicies"]],
        ["deny"],
    ),
]

CASES = [*TOKEN_CASES, *SUBJECT_CASES, *AGGREGATION_CASES, *DANGER_CASES, *CAPABILITY_CASES, *NETWORK_CASES]
