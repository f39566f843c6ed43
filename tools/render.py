"""Offline render: run the Pulumi program on the mock engine and write what it would apply.

    python -m tools.render --stack prod --out render/prod
    python -m tools.render --config-file path/to/Pulumi.mystack.yaml --out render/mystack
    python -m tools.render diff render-old/prod render/prod   # see tools/diff.py

Output layout (byte-identical on every run, so reviewers can diff it):

    OUT/<namespace>/<kind>-<name>.yaml   one namespaced Kubernetes object per file
    OUT/cluster/<kind>-<name>.yaml       one cluster-scoped object per file
    OUT/releases/<type>-<name>.yaml      a record of each Helm release / remote component
    OUT/index.json                       every registered resource: type token, name, file

A value the program hands the engine as a Pulumi secret is written as `[secret]` (the keys
around it stay, so a reviewer sees what is set, never the value).

On invalid config it prints the settings error, writes nothing and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools.manifests import load_yaml
from tools.mock_engine import PROJECT, REPO_ROOT, RecordingMocks, Registration, cli_config, is_secret, run_with_mocks

__all__ = ["REDACTED", "Rendered", "render_config", "render_objects", "render_stack", "stack_file", "write_render"]

REDACTED = "[secret]"
"""Written in place of every value the program handed the engine as a Pulumi secret."""

_LEADING_KEYS = ("apiVersion", "kind", "metadata")
_CLUSTER_DIR = "cluster"
_RELEASES_DIR = "releases"


@dataclass(frozen=True)
class Rendered:
    """One registered resource and where it is written (None for component resources)."""

    registration: Registration
    file: str | None
    document: dict[str, Any] | None


def stack_file(stack: str) -> Path:
    """The stack's config file in the project's stackConfigDir."""
    return REPO_ROOT / "stacks" / f"Pulumi.{stack}.yaml"


def _redacted(value: Any) -> Any:
    """A secret's shape with every value replaced: reviewers see which keys it sets, never what."""
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return REDACTED


def _normalise(value: Any) -> Any:
    """Integers as integers (the mock engine returns floats), keys sorted, Nones dropped, secrets redacted."""
    if is_secret(value):
        return _normalise(_redacted(value["value"]))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _normalise(value[key]) for key in sorted(value) if value[key] is not None}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    return value


def _kubernetes_object(inputs: dict[str, Any]) -> dict[str, Any]:
    body = _normalise(inputs)
    ordered = {key: body.pop(key) for key in _LEADING_KEYS if key in body}
    ordered.update(body)
    return ordered


def _is_kubernetes_object(registration: Registration) -> bool:
    inputs = registration.inputs
    return registration.type.startswith("kubernetes:") and "apiVersion" in inputs and "kind" in inputs


def _release_record(registration: Registration) -> dict[str, Any]:
    """Helm releases and remote components are not plain objects: keep what a reviewer needs."""
    inputs = _normalise(registration.inputs)
    record: dict[str, Any] = {"type": registration.type, "name": registration.name}
    for key in ("chart", "version", "namespace", "name", "createNamespace", "atomic", "skipCrds"):
        if key in inputs:
            record["releaseName" if key == "name" else key] = inputs.pop(key)
    repository = (inputs.pop("repositoryOpts", None) or {}).get("repo")
    if repository:
        record["repository"] = repository
    record["values"] = inputs.pop("values", {})
    inputs.pop("compat", None)  # an SDK-internal flag, not part of the release
    if inputs:
        record["inputs"] = inputs
    return record


def _file_name(kind: str, name: str) -> str:
    return f"{kind.lower()}-{name}.yaml"


def _place(registration: Registration) -> Rendered:
    if _is_kubernetes_object(registration):
        document = _kubernetes_object(registration.inputs)
        metadata = document.get("metadata", {})
        if "name" not in metadata:
            raise ValueError(f"{registration.type} {registration.name!r} has no explicit metadata.name")
        folder = metadata.get("namespace", _CLUSTER_DIR)
        return Rendered(registration, f"{folder}/{_file_name(document['kind'], metadata['name'])}", document)
    if registration.custom or not registration.type.startswith(f"{_component_prefix()}:"):
        record = _release_record(registration)
        kind = registration.type.rsplit(":", 1)[-1]
        return Rendered(registration, f"{_RELEASES_DIR}/{_file_name(kind, registration.name)}", record)
    return Rendered(registration, None, None)


def _component_prefix() -> str:
    from secure_model_serving.naming import TYPE_PREFIX

    return TYPE_PREFIX


def render_config(
    stack: str,
    stack_config: dict[str, Any],
    secret_keys: Iterable[str] = (),
    platform_outputs: Mapping[str, Any] | None = None,
) -> list[Rendered]:
    """Run the program for `stack` with a stack file's `config:` map; return what it registers.

    `secret_keys` marks plain values as secrets, as `pulumi up` hands a program its decrypted
    `secure:` values (the renderer itself cannot decrypt them: see `cli_config`). A tenant stack's
    StackReference is answered with `platform_outputs` (the platform stack's outputs).
    """
    return render_with_outputs(stack, stack_config, secret_keys, platform_outputs)[0]


def render_with_outputs(
    stack: str,
    stack_config: dict[str, Any],
    secret_keys: Iterable[str] = (),
    platform_outputs: Mapping[str, Any] | None = None,
) -> tuple[list[Rendered], dict[str, Any]]:
    """render_config, and the stack's exported outputs."""
    from secure_model_serving.program.run import run

    config, secure_keys = cli_config(stack_config)
    mocks = RecordingMocks(platform_outputs)
    registrations = run_with_mocks(run, stack, config, [*secure_keys, *secret_keys], mocks)
    rendered = [_place(registration) for registration in registrations]
    files = Counter(item.file for item in rendered if item.file)
    clashes = sorted(file for file, count in files.items() if count > 1)
    if clashes:
        raise ValueError(f"two resources render to the same file: {clashes}")
    return sorted(rendered, key=lambda item: (item.registration.type, item.registration.name)), mocks.exported


def _read_stack_config(path: Path) -> dict[str, Any]:
    document = load_yaml(path.read_text()) or {}
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: 'config' must be a mapping")
    return config


def render_stack(
    stack: str, config_file: Path | None = None, platform_outputs: Mapping[str, Any] | None = None
) -> list[Rendered]:
    """Render a stack from its stack file (or from `config_file`)."""
    return render_config(stack, _read_stack_config(config_file or stack_file(stack)), (), platform_outputs)


def render_objects(stack: str) -> list[dict[str, Any]]:
    """Every Kubernetes object the stack would apply, as plain dicts."""
    return [
        item.document
        for item in render_stack(stack)
        if item.document is not None and _is_kubernetes_object(item.registration)
    ]


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)


def write_render(rendered: Iterable[Rendered], out: Path) -> None:
    """Write the render to `out`, replacing it whole (built aside, then moved into place)."""
    items = list(rendered)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for item in items:
            if item.file is None or item.document is None:
                continue
            target = staging / item.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_dump(item.document))
        index = [{"type": item.registration.type, "name": item.registration.name, "file": item.file} for item in items]
        (staging / "index.json").write_text(json.dumps(index, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def summary(rendered: Iterable[Rendered]) -> str:
    """Counts per kind (Kubernetes objects) and per type (releases and components)."""
    counts: Counter[str] = Counter()
    for item in rendered:
        if item.document is not None and "kind" in item.document and "apiVersion" in item.document:
            counts[item.document["kind"]] += 1
        else:
            counts[item.registration.type] += 1
    width = max((len(kind) for kind in counts), default=0)
    return "\n".join(f"  {kind:<{width}}  {count}" for kind, count in sorted(counts.items()))


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="stack name (reads stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--config-file", type=Path, help="render this stack file instead")
    parser.add_argument("--out", type=Path, required=True, help="output directory (replaced whole)")
    parser.add_argument(
        "--platform-outputs",
        type=Path,
        help="a tenant stack's platform outputs (JSON, as `pulumi stack output --json` of the platform prints)",
    )
    parser.add_argument("--outputs", type=Path, help="also write the stack's exported outputs (JSON) to this file")
    arguments = parser.parse_args(argv)
    if not arguments.stack and not arguments.config_file:
        parser.error("give --stack or --config-file")
    if arguments.config_file and not arguments.stack:
        # Pulumi.<stack>.yaml names its stack; fall back to the file's stem.
        stem = arguments.config_file.name
        arguments.stack = stem[len("Pulumi.") : -len(".yaml")] if stem.startswith("Pulumi.") else "stack"
    return arguments


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    from secure_model_serving.settings import SettingsError

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["diff"]:
        from tools.diff import main as diff_main

        return diff_main(argv[1:])
    arguments = _parse_arguments(argv)
    source = arguments.config_file or stack_file(arguments.stack)
    if not source.is_file():
        print(f"error: no stack file {source}", file=sys.stderr)
        return 2
    stack_config = _read_stack_config(source)
    platform_outputs = None
    if arguments.platform_outputs is not None:
        platform_outputs = json.loads(arguments.platform_outputs.read_text())
    elif stack_config.get(f"{PROJECT}:role") == "tenant":
        print(
            f"error: {source.name} is a tenant stack: give its platform's outputs with --platform-outputs FILE "
            "(pulumi stack output --json of the platform stack, or --outputs of its render)",
            file=sys.stderr,
        )
        return 2
    try:
        rendered, outputs = render_with_outputs(arguments.stack, _read_stack_config(source), (), platform_outputs)
    except SettingsError as error:
        print(f"error: {source.name}: {error}", file=sys.stderr)
        return 2
    write_render(rendered, arguments.out)
    if arguments.outputs is not None:
        arguments.outputs.write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
        print(f"wrote the stack's outputs to {arguments.outputs}")
    print(f"rendered stack {arguments.stack!r} of {PROJECT} into {arguments.out}")
    print(summary(rendered))
    return 0


if __name__ == "__main__":
    sys.exit(main())
