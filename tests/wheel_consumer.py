"""A consumer project's Pulumi program, using the installed wheel (tests/test_wheel.py runs it).

The test copies this file into a temporary consumer project that has its own top-level
`components` and `policies` packages, and runs it there as `python -I -S program.py SPEC`: no
environment, no site hooks, no script folder on the import path. SPEC, a JSON file, gives the
import path (the consumer, the wheel's install folder, the dev venv's site-packages), the module
names to look up, and, to build, the Pulumi project name and a stack's config as the CLI hands
it to a program. It prints one JSON report; the test judges it.

Standard library and what the path gives only: nothing of the repository is importable here.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any


def _origin(name: str) -> str | None:
    """Where `name` would be imported from, or None when nothing on the path provides it."""
    spec = importlib.util.find_spec(name)
    return None if spec is None else spec.origin


def _build(project: str, config: dict[str, str], secret_keys: list[str]) -> dict[str, Any]:
    """The installed policies and the whole platform built from the config on Pulumi's mocks."""
    import pulumi

    from secure_model_serving.components import SecureModelPlatform, load_settings, platform_args
    from secure_model_serving.policies import POLICY_DIR, load_policies

    class Recorder(pulumi.runtime.Mocks):
        """Echo inputs back as state; remember each registration."""

        def __init__(self) -> None:
            self.registered: list[dict[str, Any]] = []

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            self.registered.append({"type": args.typ, "name": args.name, "inputs": dict(args.inputs)})
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            raise RuntimeError(f"unexpected provider call: {args.token}")

    policies = load_policies(require_fixtures=False)
    mocks = Recorder()
    pulumi.runtime.set_mocks(mocks, project=project, stack="consumer", preview=False)
    pulumi.runtime.set_all_config(config, secret_keys)

    @pulumi.runtime.test
    def program() -> None:
        SecureModelPlatform("platform", platform_args(load_settings()))  # as the README's consumer does

    program()
    return {
        "policy_dir": str(POLICY_DIR),
        "policies": sorted(policy.name for policy in policies),
        "registered": mocks.registered,
    }


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    sys.path[:0] = spec["path"]  # before the standard library, the only entries -I -S leave
    # The consumer's own packages first: the library must leave them as they are.
    consumer = {name: importlib.import_module(name) for name in ("components", "policies")}
    report: dict[str, Any] = {"sys_path": list(sys.path), "origins": {name: _origin(name) for name in spec["probe"]}}
    if "config" in spec:
        report |= _build(spec["project"], spec["config"], spec["secret_keys"])
        # Every module of the library that the build imported, and where it came from.
        report["library_files"] = {
            name: module.__file__
            for name, module in sorted(sys.modules.items())
            if name.partition(".")[0] == "secure_model_serving"
        }
    report["markers"] = {name: getattr(sys.modules[name], "MARKER", None) for name in consumer}
    report["same_modules"] = all(sys.modules[name] is module for name, module in consumer.items())
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
