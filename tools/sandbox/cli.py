"""Command line of the policy sandbox.

    python -m tools.sandbox up [--stack STACK | --config-file FILE]  # start, install, print a kubeconfig path
    python -m tools.sandbox apply [--dry-run] [--namespace NS] FILE...  # create objects: admitted or refused
    python -m tools.sandbox status                                     # the running sandbox, if any
    python -m tools.sandbox down                                       # stop everything, delete its state

Exit status: 0 on success; 1 when `up` hit an error or `apply` saw a refusal; 2 on bad input
(unreadable or malformed files, no sandbox running, bad arguments).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tools.manifests import load_yaml_all, unpack_lists
from tools.sandbox.client import ApiError, object_ref
from tools.sandbox.processes import ProcessFailedError
from tools.sandbox.state import SandboxState, clear_pointer, read_pointer, write_pointer
from tools.toolchain import ToolchainError

__all__ = ["main"]


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _running() -> SandboxState | None:
    """The state of the sandbox `up` recorded (its processes may have died since)."""
    root = read_pointer()
    if root is None:
        return None
    return SandboxState.load(root)


def _up(arguments: argparse.Namespace) -> int:
    from tools.sandbox.cluster import bring_up

    existing = read_pointer()
    if existing is not None:
        _error(f"a sandbox is already up (state in {existing}); run `python -m tools.sandbox down` first")
        return 2
    try:
        sandbox = bring_up(arguments.stack, config_file=arguments.config_file)
    except (ToolchainError, ProcessFailedError, TimeoutError, FileNotFoundError, ValueError, ApiError) as error:
        _error(str(error))
        return 1
    write_pointer(sandbox.state.root)
    errors = sandbox.errors
    for item in errors:
        print(f"refused: {item.ref}: {item.error}")
    print(f"applied {len(sandbox.applied)} objects of stack {arguments.stack!r}, {len(errors)} errors")
    print(f"model namespaces: {', '.join(sandbox.state.model_namespaces) or '(none)'}")
    print(f"stop it with: python -m tools.sandbox down   (logs in {sandbox.state.logs})")
    print(f"kubeconfig: {sandbox.state.kubeconfig}")
    return 1 if errors else 0


def _read_documents(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every object of the files; raises ValueError naming the file on anything that is not one."""
    found: list[dict[str, Any]] = []
    for path in paths:
        try:
            documents = unpack_lists(load_yaml_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ValueError(f"{path}: {error}") from None
        for document in documents:
            if not isinstance(document, dict) or not document.get("apiVersion") or not document.get("kind"):
                raise ValueError(f"{path}: every document must be an object with apiVersion and kind")
            if not (document.get("metadata") or {}).get("name"):
                raise ValueError(f"{path}: {document['kind']} without metadata.name")
            found.append(document)
    return found


def _apply(arguments: argparse.Namespace) -> int:
    from tools.sandbox.cluster import admin_client

    state = _running()
    if state is None:
        _error("no sandbox is up: run `python -m tools.sandbox up` first")
        return 2
    try:
        documents = _read_documents(arguments.files)
    except ValueError as error:
        _error(str(error))
        return 2
    client = admin_client(state)
    refused = 0
    for document in documents:
        if arguments.namespace and document.get("metadata", {}).get("namespace"):
            document = {**document, "metadata": {**document["metadata"], "namespace": arguments.namespace}}
        try:
            response = client.create(document, dry_run=arguments.dry_run)
        except ApiError as error:
            refused += 1
            print(f"refused: {object_ref(document)}: {error.message}")
            warnings = error.warnings
        except OSError as error:
            _error(f"the sandbox's API server does not answer ({error}); its logs are in {state.logs}")
            return 1
        else:
            print(f"admitted: {object_ref(document)}")
            warnings = response.warnings
        for warning in warnings:
            print(f"  warning: {warning}")
    print(f"{len(documents) - refused} admitted, {refused} refused{' (dry run)' if arguments.dry_run else ''}")
    return 1 if refused else 0


def _status(_: argparse.Namespace) -> int:
    state = _running()
    if state is None:
        print("no sandbox is up")
        return 1
    print(f"stack: {state.stack}\nserver: {state.server}\nkubeconfig: {state.kubeconfig}")
    for process in state.processes:
        print(
            f"{process.name}: pid {process.pid}, {'running' if process.alive() else 'NOT RUNNING'}, log {process.log}"
        )
    return 0 if all(process.alive() for process in state.processes) else 1


def _down(_: argparse.Namespace) -> int:
    state = _running()
    if state is None:
        clear_pointer()
        print("no sandbox is up")
        return 0
    state.stop()
    clear_pointer()
    print(f"stopped {len(state.processes)} processes and removed {state.root}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.sandbox", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start etcd, kube-apiserver and Gatekeeper; install a stack")
    up.add_argument("--stack", default="dev", help="stack name (stacks/Pulumi.<stack>.yaml; default dev)")
    up.add_argument("--config-file", type=Path, help="install this stack file instead")
    apply = commands.add_parser("apply", help="create objects; print admitted or refused for each")
    apply.add_argument("files", nargs="+", type=Path)
    apply.add_argument("--dry-run", action="store_true", help="judge only (dryRun=All): nothing is stored")
    apply.add_argument("--namespace", help="put namespaced objects into this namespace")
    commands.add_parser("status", help="show the running sandbox")
    commands.add_parser("down", help="stop every process and delete the state directory")
    arguments = parser.parse_args(argv)
    handlers = {"up": _up, "apply": _apply, "status": _status, "down": _down}
    return handlers[arguments.command](arguments)
