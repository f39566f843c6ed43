"""One vocabulary: the settings, the components' Args and the tools use the same StrEnums.

Each Args accepts every member of its choice (as the member or as its plain string) and refuses
anything else with a message that lists the choices.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

import pytest

import secure_model_serving.serving_vocabulary as vocabulary
from secure_model_serving import settings
from secure_model_serving.cluster.admission import AdmissionControlArgs
from secure_model_serving.cluster.edge import EdgeTlsArgs
from secure_model_serving.cluster.runtime import AlertTarget, RuntimeDetectionArgs
from secure_model_serving.cluster.signatures import ImageSignaturePolicyArgs
from secure_model_serving.serving_vocabulary import (
    AlertOutput,
    CertificateIssuer,
    EnforcementAction,
    FailurePolicy,
    FalcoPriority,
    SupplyChainMode,
)
from secure_model_serving.tenant.image_policy import ModelImagePolicyArgs
from secure_model_serving.versions import POD_SECURITY_VERSION
from tests.support.stacks import EC_PUBLIC_KEY

REGISTRY = "registry.example.com/models"
KEY = EC_PUBLIC_KEY


def admission(**changes: Any) -> AdmissionControlArgs:
    return AdmissionControlArgs(registries=[REGISTRY], pod_security_version=POD_SECURITY_VERSION, **changes)


def supply_chain(**changes: Any) -> ImageSignaturePolicyArgs:
    return ImageSignaturePolicyArgs(pod_security_version=POD_SECURITY_VERSION, **changes)


def model_image_policy(**changes: Any) -> ModelImagePolicyArgs:
    return ModelImagePolicyArgs(registries=[REGISTRY], public_key=KEY, **changes)


def runtime(**alert: Any) -> RuntimeDetectionArgs:
    target = AlertTarget(**({"output": AlertOutput.SLACK} | alert))
    return RuntimeDetectionArgs(model_namespaces=["fraud-model"], model_image_repositories=[REGISTRY], alerts=target)


def tls(**changes: Any) -> EdgeTlsArgs:
    return EdgeTlsArgs(
        host="fraud-model.example.com",
        pod_security_version=POD_SECURITY_VERSION,
        service_host="fraud-detector.fraud-model.svc.cluster.local",
        service_port=8080,
        paths=["/v1/predict"],
        **changes,
    )


# (field, its choices, the Args it goes into, the members that need no other setting)
CHOICES: list[tuple[str, type[StrEnum], Callable[..., Any], list[StrEnum]]] = [
    ("enforcement_action", EnforcementAction, admission, list(EnforcementAction)),
    ("failure_policy", FailurePolicy, admission, list(FailurePolicy)),
    ("mode", SupplyChainMode, supply_chain, list(SupplyChainMode)),
    ("mode", SupplyChainMode, model_image_policy, list(SupplyChainMode)),
    ("output", AlertOutput, runtime, [AlertOutput.SLACK, AlertOutput.WEBHOOK]),
    ("minimum_priority", FalcoPriority, runtime, list(FalcoPriority)),
    ("issuer", CertificateIssuer, tls, [CertificateIssuer.SELF_SIGNED]),
]


IDS = [f"{row[0]}-{row[2].__name__}" for row in CHOICES]


@pytest.mark.parametrize(("field", "choice", "build", "members"), CHOICES, ids=IDS)
def test_args_take_each_member_as_the_member_or_its_value(field, choice, build, members) -> None:
    for member in members:
        build(**{field: member})
        build(**{field: member.value})


@pytest.mark.parametrize(("field", "choice", "build", "members"), CHOICES, ids=IDS)
def test_args_refuse_a_value_outside_the_vocabulary_and_list_the_choices(field, choice, build, members) -> None:
    expected = ", ".join(member.value for member in choice if member is not AlertOutput.NONE)
    with pytest.raises(ValueError, match=f"{field} must be one of {expected}"):
        build(**{field: "something-else"})


SHARED = sorted(name for name in vocabulary.__all__ if isinstance(getattr(settings, name, None), type))


@pytest.mark.parametrize("name", SHARED)
def test_the_settings_parse_into_the_same_choices(name: str) -> None:
    # The settings import them: one class each, not an equal copy.
    assert getattr(settings, name) is getattr(vocabulary, name)


def test_every_choice_the_settings_offer_is_in_the_vocabulary() -> None:
    assert len(SHARED) == 10
    enums = [value for value in vars(settings).values() if isinstance(value, type) and issubclass(value, StrEnum)]
    # None of its own: every choice is the vocabulary's, or the image contract's (ServerEnv).
    assert {enum.__module__ for enum in enums} <= {
        "secure_model_serving.serving_vocabulary",
        "secure_model_serving.serving_contract",
    }
