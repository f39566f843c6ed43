"""Args fields a program may take from another stack are Inputs: checked now when plain, when they
resolve when they are Outputs (a StackReference's), and the resolved value is what is rendered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from secure_model_serving.inputs import Problems
from secure_model_serving.tenant.image_policy import ModelImagePolicyArgs, model_image_policy
from secure_model_serving.tenant.mesh_policies import MeshPolicies, MeshPoliciesArgs
from secure_model_serving.tenant.workload import (
    ContainerResources,
    HardenedModelDeployment,
    HardenedModelDeploymentArgs,
)
from tests.support.registrations import by_kind, only
from tests.support.stacks import EC_PUBLIC_KEY

IMAGE = "registry.example.com/models/fraud@sha256:" + "0f" * 32
AMOUNTS = {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "128Mi"}
SELECTOR = {"app.kubernetes.io/name": "fraud"}


def deployment(value: Any) -> HardenedModelDeploymentArgs:
    return HardenedModelDeploymentArgs(
        namespace="models",
        image=value,
        service_account_name="fraud",
        resources=ContainerResources(requests=AMOUNTS, limits=AMOUNTS),
    )


def image_policy(value: Any) -> ModelImagePolicyArgs:
    return ModelImagePolicyArgs(registries=["registry.example.com/models"], public_key=value)


def mesh(field: str) -> Callable[[Any], MeshPoliciesArgs]:
    def build(value: Any) -> MeshPoliciesArgs:
        return MeshPoliciesArgs(
            namespace="models", workload_labels=SELECTOR, port=8080, caller_principals=[], **{field: value}
        )

    return build


def build_deployment(args: HardenedModelDeploymentArgs) -> None:
    HardenedModelDeployment("fraud", args)


def build_image_policy(args: ModelImagePolicyArgs) -> None:
    model_image_policy("policy", args, pulumi.ResourceOptions())


def build_mesh(args: MeshPoliciesArgs) -> None:
    MeshPolicies("mesh", args)


def rendered_image(registrations: list[Any]) -> list[str]:
    return [only(registrations, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]]


def rendered_key(registrations: list[Any]) -> list[str]:
    return [only(registrations, "ClusterImagePolicy")["spec"]["authorities"][0]["key"]["data"]]


def rendered_sidecar_hosts(registrations: list[Any]) -> list[str]:
    """The namespaces of the Sidecar's egress hosts (`<namespace>/<host>`)."""
    return [host.split("/")[0] for host in only(registrations, "Sidecar")["spec"]["egress"][0]["hosts"]]


def rendered_scrapers(registrations: list[Any]) -> list[str]:
    policies = by_kind(registrations, "NetworkPolicy")
    return [
        source["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for policy in policies
        for rule in policy["spec"].get("ingress", [])
        for source in rule.get("from", [])
        if "namespaceSelector" in source
    ]


# (field, Args builder, component builder, good value, bad value, what the render shows of it)
CASES = [
    ("image", deployment, build_deployment, IMAGE, "registry.example.com/models/fraud:latest", rendered_image),
    ("public_key", image_policy, build_image_policy, EC_PUBLIC_KEY, "not a key", rendered_key),
    ("mesh_namespace", mesh("mesh_namespace"), build_mesh, "istio-system", "Istio_System", rendered_sidecar_hosts),
    ("monitoring_namespace", mesh("monitoring_namespace"), build_mesh, "monitoring", "-bad", rendered_scrapers),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize(("field", "args", "component", "good", "bad", "rendered"), CASES, ids=IDS)
def test_a_bad_plain_value_is_refused_naming_the_field(field, args, component, good, bad, rendered) -> None:
    args(good)  # the good plain value passes
    with pytest.raises(ValueError, match=rf"Args: {field}: "):
        args(bad)


@pytest.mark.parametrize(("field", "args", "component", "good", "bad", "rendered"), CASES, ids=IDS)
def test_another_stacks_output_is_accepted_and_rendered_resolved(
    field, args, component, good, bad, rendered, run_program
) -> None:
    shown = rendered(run_program(lambda: component(args(pulumi.Output.from_input(good)))))
    assert good in shown, shown


@pytest.mark.parametrize(("field", "args", "component", "good", "bad", "rendered"), CASES, ids=IDS)
def test_a_bad_value_of_another_stack_fails_when_it_resolves(field, args, component, good, bad, rendered) -> None:
    async def resolve(value: str) -> Any:
        built = args(pulumi.Output.from_input(value))  # unknown when the Args are built: not refused yet
        checked = getattr(built, field)
        assert isinstance(checked, pulumi.Output)
        return await checked.future()

    # The field holds the checked Output: what the component renders from resolves, or fails.
    assert asyncio.run(resolve(good)) == good
    with pytest.raises(ValueError, match=rf"^{type(args(good)).__name__}: {field}: "):
        asyncio.run(resolve(bad))


def test_plain_values_that_must_agree_are_compared_and_outputs_are_not() -> None:
    problems = Problems("ExampleArgs")
    problems.same("a.namespace", "models", "b.namespace", "models")

    async def compare_unknown() -> None:
        problems.same("a.namespace", pulumi.Output.from_input("x"), "b.namespace", "models")

    asyncio.run(compare_unknown())
    problems.raise_if_any()  # agreement, and an unknown value, pass
    problems.same("a.namespace", "models", "b.namespace", "other")
    with pytest.raises(ValueError, match=r"^ExampleArgs: a.namespace 'models' differs from b.namespace 'other'$"):
        problems.raise_if_any()
