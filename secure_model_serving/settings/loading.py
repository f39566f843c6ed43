"""Loading: read the stack's Pulumi config, keep credentials secret, and report every problem at once.

`parse_settings` turns the raw config (keys `namespace:key`) into `StackSettings` or raises one
`SettingsError` whose lines name each key; `load_settings` does it for the running program.
Settings typed `SecretStr` (SECRET_ONLY_KEYS) are accepted only as Pulumi secrets; every other
setting ends up in plain text in Kubernetes objects, so a secret given for one is refused.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any

import pulumi
from pydantic import SecretStr, ValidationError

from .stack import StackSettings
from .tenants import tenant_key
from .values import KeyedError


class SettingsError(pulumi.RunError):
    """Stack config is invalid. A RunError, so the Pulumi CLI prints it without a traceback."""


_TOP_LEVEL_KEYS = {field.alias or name for name, field in StackSettings.model_fields.items()}


def decode_config_value(value: Any) -> Any:
    """The CLI hands structured config over as JSON text; scalars stay strings ("1.36" too)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _format_location(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    location = _format_location(error["loc"])
    context_error = (error.get("ctx") or {}).get("error")
    if isinstance(context_error, KeyedError):
        # A `models:` entry's own validators name keys as the single-model form does.
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            return tenant_key(context_error.key, loc[1]), str(context_error)
        return context_error.key, str(context_error)
    kind = error["type"]
    if kind == "extra_forbidden":
        return location, "unknown key (check the spelling against the config reference)"
    if kind == "missing":
        return location, "is required"
    message = str(context_error) if context_error is not None else error["msg"]
    return location, message


def _is_secret_type(annotation: Any) -> bool:
    return annotation is SecretStr or any(_is_secret_type(arg) for arg in typing.get_args(annotation))


SECRET_ONLY_KEYS = frozenset(
    field.alias or name for name, field in StackSettings.model_fields.items() if _is_secret_type(field.annotation)
)
"""Settings that are credentials (typed SecretStr): accepted only as Pulumi secrets (`pulumi config
set --secret`). The program keeps each one a secret Output: state holds it encrypted, renders redact it."""

_SECRET_IN_CONFIG = (
    "is a secret in the stack file, but this setting ends up in plain text in Kubernetes objects "
    "(Pulumi state and the render); keep credentials in the external store (secrets.*), in a "
    "Kubernetes Secret referenced by name (runtime.alerts.secretName) or in a secret-only setting "
    f"({', '.join(sorted(SECRET_ONLY_KEYS))}), and write this setting in plain text"
)


def _plain_text_credential(full_key: str) -> str:
    return (
        f"is a credential: give it as a Pulumi secret (pulumi config set --secret {full_key} ...), never in plain text"
    )


def _secure_path(value: Any, path: str) -> str | None:
    """Path of the first `{secure: ...}` value below `value` (the CLI's view of an encrypted leaf)."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return path
        for key, item in value.items():
            found = _secure_path(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _secure_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


def parse_settings(raw: Mapping[str, Any], namespace: str, secret_keys: Collection[str] = ()) -> StackSettings:
    """Validate a stack's config (keys `namespace:key`) into StackSettings or raise SettingsError.

    `namespace` is the Pulumi project name. Keys of other namespaces (`kubernetes:context`, ...)
    belong to providers and are ignored. `secret_keys` are the full keys the engine marked
    secret (`secure:` values). The settings in SECRET_ONLY_KEYS must be secrets: the program keeps
    them secret Outputs. Every other setting is written into Kubernetes objects in plain text,
    so a secret given for one would land unencrypted in state and in the render: it is refused,
    naming the key, before anything is created. No secret's value ever appears in an error.
    """
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for full_key, value in raw.items():
        prefix, _, key = full_key.partition(":")
        if prefix != namespace:
            continue
        if key not in _TOP_LEVEL_KEYS:
            problems.append((key, f"unknown key; expected one of {', '.join(sorted(_TOP_LEVEL_KEYS))}"))
            continue
        decoded = decode_config_value(value)
        secure = _secure_path(decoded, key)
        if key in SECRET_ONLY_KEYS:
            if full_key not in secret_keys:
                problems.append((key, _plain_text_credential(full_key)))
                continue
        elif full_key in secret_keys or secure:
            problems.append((secure or key, _SECRET_IN_CONFIG))
            continue
        values[key] = decoded
    # The known keys are validated even when others were refused, so one stack file's every problem
    # is reported at once; a key refused above is not reported again as missing.
    refused = {_top_level(key) for key, _ in problems}
    try:
        settings = StackSettings.model_validate(values)
    except ValidationError as error:
        described = (_describe(item) for item in error.errors(include_url=False))
        problems += [(key, message) for key, message in described if _top_level(key) not in refused]
    else:
        if not problems:
            return settings
    lines = sorted({f"  {namespace}:{key}: {message}" for key, message in problems})
    raise SettingsError("invalid stack configuration:\n" + "\n".join(lines))


def _top_level(key: str) -> str:
    """The stack-file key a problem's dotted path starts at (`mesh` of `mesh.gateway.host`)."""
    return re.split(r"[.\[]", key, maxsplit=1)[0]


def raw_pulumi_config() -> dict[str, Any]:
    """All config keys the engine handed this program (set in-process or via PULUMI_CONFIG)."""
    from pulumi.runtime import config as runtime_config

    merged = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return merged


def _secret_config_keys(keys: Collection[str]) -> set[str]:
    """The config keys the engine marked secret."""
    from pulumi.runtime import config as runtime_config

    # The language host writes `null` when a stack has no secret at all.
    listed = runtime_config.get_config_secret_keys_env() or ()
    return {key for key in keys if runtime_config.is_config_secret(key)} | set(listed)


def load_settings(prepare: Callable[[Mapping[str, Any], str], Mapping[str, Any]] | None = None) -> StackSettings:
    """Read and validate the current stack's config. Call before registering any resource.

    `prepare(raw, project)` may complete the config first (a tenant stack lays its keys over its
    platform's settings: components.split)."""
    raw = raw_pulumi_config()
    secret_keys = _secret_config_keys(raw)
    project = pulumi.get_project()
    return parse_settings(prepare(raw, project) if prepare else raw, namespace=project, secret_keys=secret_keys)
