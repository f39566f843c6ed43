"""The platform's and a tenant's Args: what the programs map from the settings, and the refusals of
parts that do not agree (a program of one's own builds them by hand)."""

from __future__ import annotations

import dataclasses

import pytest

from secure_model_serving.cluster.platform import SecureModelPlatformArgs
from secure_model_serving.program.platform import platform_args
from secure_model_serving.program.tenant import tenant_args
from secure_model_serving.tenant.model_tenant import ModelTenantArgs, tenant_pod_shape
from tests.support.stacks import parse, stack_config

PROD = parse(stack_config("prod"))
SHARED = parse(stack_config("shared"))


def test_each_program_maps_the_settings_once_into_args_that_agree() -> None:
    tenant = tenant_args(PROD)
    assert tenant.namespace.name == tenant.identity.namespace == tenant.deployment.namespace
    # One decision, three readers: the synced secrets are the mounted files and the pod shape's.
    assert tenant.secrets is not None
    assert tenant.deployment.secret_files == [item.name for item in tenant.secrets.items]
    assert tenant_pod_shape(tenant)["modelRegistries"] == list(tenant.registries) == list(PROD.registries)
    shared = platform_args(SHARED)
    assert list(shared.tenants) == [view.tenant.name for view in SHARED.tenants()]
    assert [args.edge is not None for args in shared.tenants.values()].count(True) == 1
    assert not shared.single_model and platform_args(PROD).single_model


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda a: {"identity": dataclasses.replace(a.identity, namespace="other")}, "identity.namespace 'other'"),
        (
            lambda a: {"deployment": dataclasses.replace(a.deployment, namespace="other")},
            "deployment.namespace 'other'",
        ),
        (
            lambda a: {"mesh": dataclasses.replace(a.mesh, namespace="other")},
            "mesh.namespace 'other' differs from namespace.name",
        ),
        (
            lambda a: {"identity": dataclasses.replace(a.identity, service_account_name="other")},
            "deployment.service_account_name 'fraud-detector' differs from identity.service_account_name 'other'",
        ),
        (lambda a: {"secrets": None}, "deployment.secret_files"),
        (
            lambda a: {
                "deployment": dataclasses.replace(
                    a.deployment, image="registry.example.com/models-evil/fraud@sha256:" + "0" * 64
                )
            },
            "deployment.image 'registry.example.com/models-evil/fraud@sha256:",
        ),
        (lambda a: {"registries": []}, "registries must name the tenant's registry paths"),
        (lambda a: {"registries": ["registry.example.com/other:tag"]}, "registries: "),
        (
            lambda a: {"registries": ["registry.example.com/other"]},
            "image_policy.registries ['registry.example.com/models'] differ from registries",
        ),
    ],
    ids=[
        "identity-namespace",
        "deployment-namespace",
        "mesh-namespace",
        "service-account",
        "unsynced",
        "image-elsewhere",
        "no-registry",
        "bad-registry",
        "signer-elsewhere",
    ],
)
def test_tenant_parts_that_disagree_are_refused_naming_them(change, expected) -> None:
    good = tenant_args(PROD)
    ModelTenantArgs(**{field.name: getattr(good, field.name) for field in dataclasses.fields(good)})
    with pytest.raises(ValueError, match=r"^ModelTenantArgs: ") as refused:
        dataclasses.replace(good, **change(good))
    assert expected in str(refused.value)


def test_a_platform_whose_tenants_collide_is_refused() -> None:
    good = platform_args(SHARED)
    # Another name for the same tenant: its namespace twice.
    twin = dataclasses.replace(next(iter(good.tenants.values())), edge=None)
    with pytest.raises(ValueError, match="tenants must not share a namespace"):
        dataclasses.replace(good, tenants={**good.tenants, "twin": twin})
    edge = next(args.edge for args in good.tenants.values() if args.edge is not None)
    without = {name: args for name, args in good.tenants.items() if args.edge is None}
    two_edges = {name: dataclasses.replace(args, edge=edge) for name, args in list(without.items())[:2]}
    with pytest.raises(ValueError, match="the edge routes to one tenant only"):
        dataclasses.replace(good, tenants=two_edges)
    with pytest.raises(ValueError, match="single_model needs exactly one tenant, got 3"):
        dataclasses.replace(good, single_model=True)
    assert isinstance(dataclasses.replace(good), SecureModelPlatformArgs)
