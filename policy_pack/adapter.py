"""Adapt policy_pack.validation to pulumi_policy and serve it as the analyzer the Pulumi CLI calls.

Each Pulumi policy is named after its folder under secure_model_serving/policies/, so a preview names the rule that
failed, and its enforcement level can be tuned per policy with Pulumi's policy config; the
restricted rules and the gate policy `UNJUDGED` stay mandatory whatever that config says (a
config that lowers one is refused with an error naming it).

The analyzer hands a validator its properties wrapped in proxies that raise on values unknown at
preview; `unwrap` turns them into plain data with `Unknown` markers, so validation sees every
value and refuses what it cannot judge instead of the servicer downgrading it to advisory.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from typing import Any

import grpc
from pulumi.runtime.proto import analyzer_pb2 as proto
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UnknownValueError

from policy_pack.validation import MANDATORY_POLICIES, UNJUDGED, Unknown, config_from, policy_names, validate

__all__ = ["PACK_NAME", "MandatoryLevelServicer", "build_policies", "serve", "unwrap"]

PACK_NAME = "secure-model-serving"

_CONFIG_SCHEMA_PROPERTIES = {
    "registries": {"type": "array", "items": {"type": "string"}},
    "exemptImages": {"type": "array", "items": {"type": "string"}},
    "exemptNamespaces": {"type": "array", "items": {"type": "string"}},
}


def unwrap(value: Any, path: str = "") -> Any:
    """Plain dicts, lists and scalars from the analyzer's proxies, recursively; a value unknown at
    preview becomes `Unknown(path)`."""
    if isinstance(value, Mapping):
        plain = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                plain[key] = Unknown(f"{path}.{key}")
                continue
            plain[key] = unwrap(item, f"{path}.{key}")
        return plain
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                items.append(Unknown(f"{path}[{index}]"))
                continue
            items.append(unwrap(item, f"{path}[{index}]"))
        return items
    return value


def _validator(policy: str) -> Callable[[ResourceValidationArgs, Callable[[str, str | None], None]], None]:
    def check(args: ResourceValidationArgs, report_violation: Callable[[str, str | None], None]) -> None:
        config = config_from(unwrap(args.get_config() or {}))
        for finding in validate(args.resource_type, unwrap(args.props), config):
            if finding.policy == policy:
                report_violation(finding.message, args.urn)

    return check


def build_policies(default_level: EnforcementLevel = EnforcementLevel.MANDATORY) -> list[ResourceValidationPolicy]:
    """One ResourceValidationPolicy per policy folder, then the gate policy; the mandatory ones
    (MANDATORY_POLICIES) ignore `default_level`."""
    names = policy_names()
    described = {
        name: f"Gatekeeper policy {name} (secure_model_serving/policies/{name}/src.rego), checked at preview."
        for name in names
    }
    described[UNJUDGED] = "Refuses what the policies cannot judge at preview: unknown values, patches, unpinned charts."
    return [
        ResourceValidationPolicy(
            name=name,
            description=description,
            validate=_validator(name),
            enforcement_level=EnforcementLevel.MANDATORY if name in MANDATORY_POLICIES else default_level,
            config_schema=PolicyConfigSchema(properties=_CONFIG_SCHEMA_PROPERTIES),
        )
        for name, description in described.items()
    ]


class MandatoryLevelServicer(_PolicyAnalyzerServicer):
    """pulumi_policy's analyzer servicer, refusing a config that lowers a mandatory policy."""

    def Configure(self, request: Any, context: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        lowered = sorted(
            name
            for name, value in request.policyConfig.items()
            if name in MANDATORY_POLICIES and value.enforcementLevel not in (proto.MANDATORY, proto.REMEDIATE)
        )
        if lowered:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"policy pack {PACK_NAME}: enforcementLevel of {', '.join(lowered)} cannot be set below mandatory "
                "(the Pod Security Standards rules and the judgeable-resources gate are always mandatory)",
            )
        return super().Configure(request, context)


def serve() -> None:
    """Serve the pack as the CLI expects of an analyzer: gRPC on loopback, the port on stdout."""
    servicer = MandatoryLevelServicer(PACK_NAME, "0.0.1", build_policies(), EnforcementLevel.MANDATORY)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)
