"""Run the real Pulumi program on Pulumi's mock engine and record what it registers.

The renderer and the tests share this: the program runs exactly as under `pulumi up` (same
`secure_model_serving.program.run`, same config handling), but every resource registration is captured
instead of being sent to a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pulumi
import yaml
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import source_pb2

from secure_model_serving.settings import UNDECRYPTED_SECRET

__all__ = [
    "PROJECT",
    "REPO_ROOT",
    "AliasSpec",
    "RecordingMocks",
    "Registration",
    "ResourceFlags",
    "cli_config",
    "run_with_mocks",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
_STACK_REFERENCE = "pulumi:pulumi:StackReference"

PROJECT: str = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["name"]
"""The Pulumi project name, read from Pulumi.yaml; it prefixes the project's config keys."""


def is_secret(value: Any) -> bool:
    """True for an input value the SDK handed the engine as a secret (the engine's wire form:
    a map carrying the secret signature, the plain value under `value`)."""
    return isinstance(value, Mapping) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


@dataclass(frozen=True)
class Registration:
    """One resource the program registered."""

    type: str
    """Pulumi type token, e.g. `kubernetes:apps/v1:Deployment`."""
    name: str
    """Pulumi logical name."""
    inputs: dict[str, Any]
    """Inputs as the engine received them: a secret Output arrives wrapped in the engine's secret
    signature (`pulumi.runtime.rpc._special_sig_key`), its plain value inside."""
    custom: bool
    """False for component resources."""
    urn: str = ""
    """The resource's URN; its type chain shows the parents (`...::a:b:Parent$kind:x::name`)."""
    options: ResourceFlags | None = None
    """The resource options the engine received."""


@dataclass(frozen=True)
class ResourceFlags:
    """The resource options that matter for review: protection, ordering, ignored changes."""

    protect: bool
    retain_on_delete: bool
    depends_on: tuple[str, ...]
    """URNs of explicit and implied dependencies."""
    ignore_changes: tuple[str, ...]
    parent: str = ""
    """URN of the parent resource ("" for none)."""
    aliases: tuple[AliasSpec, ...] = ()
    """The aliases the program gave (old names, types or parents the resource answers to)."""


@dataclass(frozen=True)
class AliasSpec:
    """One alias as the engine receives it: the parts that differ from the resource's own."""

    name: str = ""
    type: str = ""
    parent_urn: str = ""
    no_parent: bool = False


class _UrnRecordingMonitor(MockMonitor):
    """The stock mock monitor, remembering the URN and options of each registration.

    URNs carry the whole parent type chain as the real engine's do (the stock mock keeps only
    the nearest parent's type), so tests can check where a resource sits in the tree.
    """

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        parent_chain = parent.split("::")[2] if parent else ""
        if parent_chain and parent_chain != "pulumi:pulumi:Stack":  # the engine leaves the stack out
            type_ = parent_chain + "$" + type_
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.seen: dict[tuple[str, str], tuple[str, ResourceFlags]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        flags = ResourceFlags(
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            depends_on=tuple(sorted(request.dependencies)),
            ignore_changes=tuple(request.ignoreChanges),
            parent=request.parent,
            aliases=tuple(
                AliasSpec(alias.spec.name, alias.spec.type, alias.spec.parentUrn, alias.spec.noParent)
                for alias in request.aliases
                if alias.HasField("spec")
            ),
        )
        self.seen[(request.type, request.name)] = (response.urn, flags)
        return response


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that echo inputs back as state and remember every registration and the stack's exports.

    A StackReference (a tenant stack reading its platform's) is answered with `referenced_outputs`,
    the outputs `pulumi stack output --json` would print for that stack.
    """

    def __init__(self, referenced_outputs: Mapping[str, Any] | None = None) -> None:
        self.registrations: list[Registration] = []
        self.referenced_outputs = referenced_outputs
        self.exported: dict[str, Any] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if args.typ == _STACK_REFERENCE:
            name = args.inputs.get("name")
            if self.referenced_outputs is None:
                raise RuntimeError(
                    f"the program reads the outputs of stack {name}: give them (--platform-outputs FILE)"
                )
            return name, {"name": name, "outputs": dict(self.referenced_outputs), "secretOutputNames": []}
        self.registrations.append(Registration(args.typ, args.name, dict(args.inputs), bool(args.custom)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise RuntimeError(f"the program made an unexpected provider call: {args.token}")


def cli_config(stack_config: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Turn a stack file's `config:` map into what the CLI hands a program.

    The CLI passes every value as a string: scalars as text, structured values as JSON.
    `secure:` values are ciphertext the renderer cannot decrypt; they become a placeholder and
    are marked secret, as the engine would mark them.
    """
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in stack_config.items():
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            config[key] = UNDECRYPTED_SECRET
            secret_keys.append(key)
        elif isinstance(value, str):
            config[key] = value
        else:
            config[key] = json.dumps(value)
    return config, secret_keys


def run_with_mocks(
    program: Callable[[], Any],
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    mocks: RecordingMocks | None = None,
) -> list[Registration]:
    """Run `program` for `stack` with `config` on the mock engine; return its registrations.

    Exceptions raised by the program (e.g. a SettingsError) propagate unchanged; pass `mocks`
    to inspect what was registered before one.
    """
    mocks = mocks or RecordingMocks()
    monitor = _UrnRecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), secret_keys or [])

    @pulumi.runtime.test
    def _run() -> None:
        program()

    # The SDK walks the Python stack at every registration to tell the engine where a resource was
    # declared; the mock engine never reads it, and on a stack of many tenants it is a sixth of
    # the render. Skipped here only: a real engine still gets it.
    def export(name: str, value: Any) -> None:
        # The mock engine has no root stack resource to hold outputs: keep each export's value.
        pulumi.Output.from_input(value).apply(lambda resolved: mocks.exported.__setitem__(name, resolved))

    with (
        patch.object(sdk_resource, "_get_stack_trace", source_pb2.StackTrace),
        patch.object(sdk_resource, "_get_source_position", lambda _trace: None),
        patch.object(pulumi, "export", export),
    ):
        _run()
    return [
        replace(item, urn=monitor.seen[(item.type, item.name)][0], options=monitor.seen[(item.type, item.name)][1])
        for item in mocks.registrations
    ]
