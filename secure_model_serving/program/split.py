"""Split ownership: a platform stack and per-team tenant stacks, joined by a StackReference.

The platform stack (`role: platform`) exports its own settings as the output `platformConfig`
(every key but the secret-only ones, which stay in that stack). A tenant stack (`role: tenant`)
names the platform's stack in `platformStack` and holds only what is the tenant's own; the
program reads the platform's output, lays the tenant's keys over it, and validates the result as
one stack of one model: the same checks as everywhere, plus that the platform registered this
tenant's namespace and registry paths. A tenant stack that sets a platform key is refused.

Offline (`python -m tools.render --platform-outputs FILE`), the mock engine answers the
StackReference with the outputs in FILE, as `pulumi stack output --json` prints them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await

from ..settings import SECRET_ONLY_KEYS, SettingsError, decode_config_value
from ..settings.tenants import TENANT_KEYS as SINGLE_FORM_TENANT_KEYS

__all__ = ["PLATFORM_OUTPUT", "TENANT_KEYS", "platform_config", "read_platform_config", "with_platform_config"]

PLATFORM_OUTPUT = "platformConfig"
"""The platform stack's output its tenant stacks read."""


def _tenant_stack_keys() -> dict[str, frozenset[str] | None]:
    """The single-model form's tenant keys (secure_model_serving.settings.tenants), by top-level key: the
    whole key (None), or these keys inside a platform section; and the keys of the split itself."""
    owned: dict[str, frozenset[str] | None] = {"role": None, "platformStack": None}
    for single, _ in SINGLE_FORM_TENANT_KEYS:
        section, _, inner = single.rstrip(".").partition(".")
        owned[section] = (owned.get(section) or frozenset()) | {inner} if inner else None
    return owned


TENANT_KEYS: Mapping[str, frozenset[str] | None] = _tenant_stack_keys()
"""What a tenant stack may set: whole keys (None), or these keys inside a platform section."""


def _own_keys(raw: Mapping[str, Any], project: str) -> dict[str, Any]:
    """The project's keys of a config, without their prefix, their values decoded."""
    prefix = f"{project}:"
    return {key.removeprefix(prefix): decode_config_value(v) for key, v in raw.items() if key.startswith(prefix)}


def platform_config(raw: Mapping[str, Any], project: str) -> str:
    """The platform stack's settings its tenants build on (keys without the project prefix), as JSON
    text: an output's numbers would otherwise come back as floats, which the settings refuse."""
    own = _own_keys(raw, project)
    kept = {key: value for key, value in own.items() if key not in SECRET_ONLY_KEYS and key != "role"}
    return json.dumps(kept, sort_keys=True)


def read_platform_config(stack: str) -> dict[str, Any]:
    """The `platformConfig` output of the platform stack `stack` (org/project/stack)."""
    reference = pulumi.StackReference(f"platform-{stack.replace('/', '-')}", stack_name=stack)
    # The settings are validated before any resource is built, so the output is read now; the
    # SDK's own synchronous bridge (as its synchronous invokes use) waits for it.
    details = _sync_await(reference.get_output_details(PLATFORM_OUTPUT))
    if not isinstance(details.value, str):
        raise SettingsError(f"platformStack: {stack} has no output {PLATFORM_OUTPUT} (is it a stack of role platform?)")
    return dict(json.loads(details.value))


def with_platform_config(
    raw: Mapping[str, Any], project: str, read: Callable[[str], Mapping[str, Any]] = read_platform_config
) -> dict[str, Any]:
    """`raw` (a stack's config) as the program validates it: unchanged for roles all and platform;
    for a tenant stack, the platform's settings with the tenant's own keys laid over them."""
    own = _own_keys(raw, project)
    if own.get("role") != "tenant":
        return dict(raw)
    problems = []
    for key, value in own.items():
        if key not in TENANT_KEYS:
            problems.append(
                f"  {project}:{key}: belongs to the platform stack; a tenant stack sets only {sorted(TENANT_KEYS)}"
            )
            continue
        allowed = TENANT_KEYS[key]
        if allowed is not None and isinstance(value, Mapping):
            problems += [
                f"  {project}:{key}.{inner}: belongs to the platform stack; a tenant sets only {sorted(allowed)} here"
                for inner in value
                if inner not in allowed
            ]
    stack = own.get("platformStack")
    if not isinstance(stack, str):
        problems.append(f"  {project}:platformStack: is required with role tenant (org/project/stack)")
    if problems:
        raise SettingsError("invalid stack configuration:\n" + "\n".join(sorted(problems)))
    assert isinstance(stack, str)
    merged: dict[str, Any] = dict(read(stack))
    for key, value in own.items():
        base = merged.get(key)
        merged[key] = {**base, **value} if isinstance(base, Mapping) and isinstance(value, Mapping) else value
    others = {key: value for key, value in raw.items() if not key.startswith(f"{project}:")}
    return {**others, **{f"{project}:{key}": value for key, value in merged.items()}}
