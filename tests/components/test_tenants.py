"""Model tenants of a shared cluster: the `models:` list, isolation between tenants, stable URNs.

The shared production stack (stacks/Pulumi.shared.yaml) holds three tenants on one platform.
Each isolation property is checked on its render from both sides: a tenant reaches what it was
given, and nothing of another tenant. The settings refuse each way two tenants could overlap.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from secure_model_serving.settings import SettingsError, StackSettings, parse_settings
from tools.mock_engine import PROJECT, cli_config
from tools.render import Rendered, render_config, render_stack, stack_file
from tools.urns import answered_urns

STACK = "shared"
URN_BASELINES = Path(__file__).resolve().parents[1] / "fixtures" / "urns"
"""Each stack's URNs as printed by `python -m tools.urns` before model tenants existed."""


def shared_config() -> dict[str, Any]:
    return yaml.safe_load(stack_file(STACK).read_text())["config"]


def parse(config: dict[str, Any]) -> StackSettings:
    return parse_settings(cli_config(config)[0], namespace=PROJECT)


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return [item.document for item in render_stack(STACK) if item.document and "kind" in item.document]


@pytest.fixture(scope="module")
def tenants() -> list[StackSettings]:
    return parse(shared_config()).tenants()


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in objects if item["kind"] == kind]


def namespaces_of(tenants: list[StackSettings]) -> set[str]:
    return {tenant.namespace.name for tenant in tenants}


# --- one platform, three tenants -------------------------------------------------------------


def test_one_set_of_addons_and_three_isolated_namespaces(
    objects: list[dict[str, Any]], tenants: list[StackSettings]
) -> None:
    rendered = render_stack(STACK)
    releases = [item.registration.inputs["chart"] for item in rendered if item.registration.type.endswith("Release")]
    assert len(releases) == len(set(releases)), f"an add-on installed twice: {sorted(releases)}"
    assert len(tenants) == 3
    namespaces = {item["metadata"]["name"]: item for item in of_kind(objects, "Namespace")}
    for tenant in tenants:
        labels = namespaces[tenant.namespace.name]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert labels["secure-model-serving/isolated"] == "true"
        assert labels["policy.sigstore.dev/include"] == "true"
        assert labels["istio-injection"] == "enabled"
    quotas = {item["metadata"]["namespace"] for item in of_kind(objects, "ResourceQuota")}
    assert quotas == namespaces_of(tenants)


def test_each_tenant_is_pinned_to_its_own_pod_shape_and_registries(
    objects: list[dict[str, Any]], tenants: list[StackSettings]
) -> None:
    widening = {item["spec"]["match"]["namespaces"][0]: item for item in of_kind(objects, "K8sDenyModelPodWidening")}
    assert set(widening) == namespaces_of(tenants)
    for tenant in tenants:
        parameters = widening[tenant.namespace.name]["spec"]["parameters"]
        assert parameters["modelRegistries"] == list(tenant.registries)
        assert parameters["serviceAccountName"] == tenant.tenant.name
    # The platform's allow-list is every tenant's; the per-namespace constraint narrows it.
    (allowed,) = of_kind(objects, "K8sDenyUntrustedRegistries")
    assert allowed["spec"]["parameters"]["registries"] == ["registry.example.com/models"]


def test_each_signer_is_trusted_for_its_own_registry_paths_only(
    objects: list[dict[str, Any]], tenants: list[StackSettings]
) -> None:
    policies = {
        item["metadata"]["name"]: item["spec"]
        for item in of_kind(objects, "ClusterImagePolicy")
        if item["metadata"]["name"] != "pinned-by-digest"
    }
    assert len(policies) == len(tenants)
    globs_seen: set[str] = set()
    for tenant in tenants:
        spec = policies[f"model-images-signed-{tenant.namespace.name}"]
        globs = {image["glob"] for image in spec["images"]}
        assert globs == {f"{prefix}/**" for prefix in tenant.registries}
        assert not globs & globs_seen
        globs_seen |= globs
        (authority,) = spec["authorities"]
        signer = tenant.supply_chain.image_signer if tenant.supply_chain else None
        assert signer and signer.keyless
        assert authority["keyless"]["identities"] == [
            {"issuer": signer.keyless.issuer, "subject": signer.keyless.subject}
        ]
    subjects = [spec["authorities"][0]["keyless"]["identities"][0]["subject"] for spec in policies.values()]
    assert len(set(subjects)) == len(subjects)


def test_no_network_policy_admits_another_tenant(objects: list[dict[str, Any]], tenants: list[StackSettings]) -> None:
    namespaces = namespaces_of(tenants)
    for policy in of_kind(objects, "NetworkPolicy"):
        own = policy["metadata"]["namespace"]
        if own not in namespaces:
            continue
        peers = [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])]
        peers += [peer for rule in policy["spec"].get("egress", []) for peer in rule.get("to", [])]
        for peer in peers:
            selected = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            assert selected not in namespaces - {own}, f"{own}/{policy['metadata']['name']} admits {selected}"


def test_each_tenant_admits_its_own_mesh_callers_only(
    objects: list[dict[str, Any]], tenants: list[StackSettings]
) -> None:
    allowed = {
        item["metadata"]["namespace"]: item["spec"]
        for item in of_kind(objects, "AuthorizationPolicy")
        if item["spec"].get("action", "ALLOW") == "ALLOW" and item["spec"].get("rules")
    }
    gateway = "cluster.local/ns/istio-ingress/sa/istio-ingressgateway"
    for tenant in tenants:
        principals = {
            principal
            for rule in allowed.get(tenant.namespace.name, {}).get("rules", [])
            for source in rule.get("from", [])
            for principal in source["source"].get("principals", [])
        }
        expected = {f"cluster.local/ns/{c.namespace}/sa/{c.service_account}" for c in tenant.mesh.callers}
        if tenant.gateway_model == tenant.tenant.name:
            expected.add(gateway)
        assert principals == expected, tenant.namespace.name
        others = namespaces_of(tenants) - {tenant.namespace.name}
        assert not any(f"/ns/{other}/" in principal for principal in principals for other in others)
    # The gateway routes to one model: only that tenant admits it.
    assert sum(gateway in str(spec) for spec in allowed.values()) == 1


def test_each_tenants_groups_are_bound_in_its_own_namespace_only(
    objects: list[dict[str, Any]], tenants: list[StackSettings]
) -> None:
    for tenant in tenants:
        groups = set(tenant.rbac.deployer_groups)
        bound_in = {
            binding["metadata"].get("namespace", "<cluster>")
            for binding in of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding")
            for subject in binding.get("subjects", [])
            if subject.get("kind") == "Group" and subject["name"] in groups
        }
        assert bound_in == {tenant.namespace.name}, (tenant.namespace.name, bound_in)


def test_falco_pairs_each_namespace_with_its_own_registries(tenants: list[StackSettings]) -> None:
    from secure_model_serving.cluster.runtime import model_rules
    from secure_model_serving.program.platform import runtime_args

    settings = parse(shared_config())
    (macro,) = [d for d in model_rules(runtime_args(settings)) if d.get("macro") == "model_tenant_image"]
    for tenant in tenants:
        registries = ", ".join(tenant.registries)
        assert (
            f"(k8s.ns.name = {tenant.namespace.name} and container.image.repository pmatch ({registries}))"
            in (macro["condition"])
        )
    assert macro["condition"].count("k8s.ns.name =") == len(tenants)


def test_one_store_identity_per_tenant(objects: list[dict[str, Any]], tenants: list[StackSettings]) -> None:
    accounts = {
        item["metadata"]["namespace"]: item["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        for item in of_kind(objects, "ServiceAccount")
        if "eks.amazonaws.com/role-arn" in item["metadata"].get("annotations", {})
    }
    assert set(accounts) == namespaces_of(tenants)
    assert len(set(accounts.values())) == len(accounts)


# --- the settings refuse overlapping tenants ---------------------------------------------------


def changed(change: Any) -> dict[str, Any]:
    config = copy.deepcopy(shared_config())
    change(config)
    return config


def _models(config: dict[str, Any]) -> list[dict[str, Any]]:
    return config[f"{PROJECT}:models"]


_TENANT_ONLY = ("namespace", "rbac", "secrets", "callers", "imageSigner", "registries")


def _model_keys_only(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry of `models` as a valid `model` (the keys a tenant adds removed)."""
    return {key: value for key, value in entry.items() if key not in _TENANT_ONLY}


VAULT_SECTION = {"server": "https://vault.example.com", "role": "churn"}
BAD_TENANTS = [
    ("models[1].name", lambda c: _models(c)[1].update(name=_models(c)[0]["name"])),
    ("models[2].namespace.name", lambda c: _models(c)[2]["namespace"].update(name="fraud-model")),
    ("models[1].registries[1]", lambda c: _models(c)[1]["registries"].append("registry.example.com/models/fraud/x")),
    # A tenant claiming the whole platform path overlaps every other (reported at the next one).
    ("models[1].registries[0]", lambda c: _models(c)[0].update(registries=["registry.example.com/models"])),
    ("models[2].registries[1]", lambda c: _models(c)[2]["registries"].append("other.example.com/credit")),
    ("models[1].image", lambda c: _models(c)[1].update(image=_models(c)[0]["image"])),
    ("models[0].imageSigner", lambda c: _models(c)[0].pop("imageSigner")),
    ("models[1].secrets.aws.roleArn", lambda c: _models(c)[1]["secrets"]["aws"].update(roleArn="not-an-arn")),
    # Another provider's section than the platform's (aws) would be silently unused.
    ("models[2].secrets.vault", lambda c: _models(c)[2]["secrets"].update(vault=VAULT_SECTION)),
    ("models[2].namespace.quota.pods", lambda c: _models(c)[2]["namespace"]["quota"].update(pods=3)),
    ("models[1].replicas", lambda c: _models(c)[1].update(replicas=1, autoscaling={"enabled": False})),
    ("models[0].signingPublicKey", lambda c: _models(c)[0].pop("signingPublicKey")),
    ("models[1].registries", lambda c: _models(c)[1].update(registries=[])),
    ("models[0].namespace", lambda c: _models(c)[0].pop("namespace")),
    # The setting that exempts the namespace from admission is named, as for a single model.
    ("mesh.namespace", lambda c: _models(c)[1]["namespace"].update(name="istio-system")),
    ("mesh.gateway.model", lambda c: c[f"{PROJECT}:mesh"]["gateway"].pop("model")),
    ("mesh.gateway.model", lambda c: c[f"{PROJECT}:mesh"]["gateway"].update(model="nobody")),
    ("models", lambda c: c.update({f"{PROJECT}:model": _model_keys_only(_models(c)[0])})),
    ("namespace", lambda c: c.update({f"{PROJECT}:namespace": {"name": "x"}})),
    ("rbac", lambda c: c.update({f"{PROJECT}:rbac": {"deployerGroups": ["g"]}})),
    ("mesh.callers", lambda c: c[f"{PROJECT}:mesh"].update(callers=[{"namespace": "a", "serviceAccount": "b"}])),
    (
        "secrets.items",
        lambda c: c[f"{PROJECT}:secrets"].update(items=[{"name": "x", "remoteKey": "k", "properties": ["p"]}]),
    ),
    ("supplyChain.imageSigner", lambda c: c[f"{PROJECT}:supplyChain"].update(imageSigner=_models(c)[0]["imageSigner"])),
]


@pytest.mark.parametrize(("key", "change"), BAD_TENANTS, ids=[f"{row[0]}-{i}" for i, row in enumerate(BAD_TENANTS)])
def test_an_overlapping_or_misplaced_tenant_is_refused_naming_its_key(key: str, change: Any) -> None:
    with pytest.raises(SettingsError) as caught:
        parse(changed(change))
    assert f"  {PROJECT}:{key}: " in str(caught.value), str(caught.value)


def test_the_shared_stack_and_a_tenant_of_its_own_pass() -> None:
    assert len(parse(shared_config()).tenants()) == 3
    alone = changed(lambda c: c.update({f"{PROJECT}:models": _models(c)[:1]}))
    assert [tenant.tenant.name for tenant in parse(alone).tenants()] == ["fraud-detector"]


def test_a_one_model_stack_is_a_one_tenant_list() -> None:
    """`model:` and a one-entry `models:` render the same objects, but for the names of the
    tenant's cluster-wide ClusterImagePolicy (the single form keeps the name it always had)."""
    prod = yaml.safe_load(stack_file("prod").read_text())["config"]
    single = render_config("prod", prod)
    entry = dict(prod[f"{PROJECT}:model"])
    entry |= {
        "namespace": prod[f"{PROJECT}:namespace"],
        "rbac": prod[f"{PROJECT}:rbac"],
        "secrets": {"items": prod[f"{PROJECT}:secrets"]["items"]},
        "callers": prod[f"{PROJECT}:mesh"]["callers"],
        "imageSigner": prod[f"{PROJECT}:supplyChain"]["imageSigner"],
        "registries": prod[f"{PROJECT}:registries"],
    }
    listed = {key: value for key, value in prod.items() if key.split(":")[1] not in ("model", "namespace", "rbac")}
    listed[f"{PROJECT}:models"] = [entry]
    listed[f"{PROJECT}:secrets"] = {k: v for k, v in prod[f"{PROJECT}:secrets"].items() if k != "items"}
    listed[f"{PROJECT}:mesh"] = {k: v for k, v in prod[f"{PROJECT}:mesh"].items() if k != "callers"}
    listed[f"{PROJECT}:supplyChain"] = {k: v for k, v in prod[f"{PROJECT}:supplyChain"].items() if k != "imageSigner"}

    def documents(rendered: list[Rendered]) -> dict[str, dict[str, Any]]:
        return {item.file: item.document for item in rendered if item.file and item.document}

    one, many = documents(single), documents(render_config("prod", listed))
    renamed = {"cluster/clusterimagepolicy-model-images-signed.yaml"}
    assert set(one) - renamed == set(many) - {"cluster/clusterimagepolicy-model-images-signed-fraud-model.yaml"}
    for file in set(one) - renamed:
        assert one[file] == many[file], file


# --- upgrading keeps every URN -----------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_an_existing_stack_keeps_every_urn(stack: str) -> None:
    """Every URN of the stack as it was before tenants is answered by exactly one resource of the
    program now (its own URN or an alias, resolved as the engine resolves them), and the only
    resource without a past is the ModelTenant component itself: `pulumi up` after upgrading
    replaces and deletes nothing."""
    before = set((URN_BASELINES / f"{stack}.txt").read_text().split())
    answers = answered_urns([item.registration for item in render_stack(stack)])
    claimed: dict[str, list[str]] = {}
    for urn, answered in answers.items():
        for old in answered & before:
            claimed.setdefault(old, []).append(urn)
    assert before - set(claimed) == set(), "resources the upgrade would delete"
    assert {old: new for old, new in claimed.items() if len(new) > 1} == {}, "URNs claimed twice"
    fresh = [urn for urn, answered in answers.items() if not answered & before]
    assert [urn.rsplit("::", 2)[-2].rsplit("$", 1)[-1] for urn in fresh] == ["secureml:tenant:ModelTenant"]


def test_the_urn_check_sees_a_dropped_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the aliases the same check finds every moved resource: it can fail."""
    import secure_model_serving.tenant.model_tenant as tenant_module

    monkeypatch.setattr(tenant_module, "_moved", lambda parent, name=None: [])
    before = set((URN_BASELINES / "prod.txt").read_text().split())
    answers = answered_urns([item.registration for item in render_stack("prod")])
    lost = before - set().union(*answers.values())
    assert len(lost) > 40
