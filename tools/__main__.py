"""`python -m tools <verb> [arguments]`: one entry point for every offline command.

Each verb runs that module's own command line with the rest of the arguments, so
`python -m tools render --stack prod` is `python -m tools.render --stack prod` (the form the
Makefile, the README and CI use; both keep working).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

__all__ = ["VERBS", "main"]

VERBS: dict[str, tuple[str, str]] = {
    "render": ("tools.render", "render a stack offline on Pulumi's mock engine; `render diff OLD NEW` compares two"),
    "policy": ("tools.policy", "judge manifests with the project's Gatekeeper policies (gator)"),
    "audit": ("tools.audit.cli", "the blast-radius audit of workloads"),
    "sandbox": ("tools.sandbox.cli", "etcd, kube-apiserver and Gatekeeper on loopback"),
    "toolchain": ("tools.toolchain", "build or locate the pinned Go engines"),
    "crds": ("tools.upstream_crds", "fetch the upstream CRD schemas at the pinned versions"),
    "app-hashes": ("tools.app_hashes", "rewrite app/requirements.lock with every wheel's sha256"),
    "config-reference": ("tools.config_reference", "write docs/configuration.md from the settings' descriptions"),
}
"""verb -> (the module whose `main(argv)` runs it, one line of help)."""


def _usage() -> str:
    width = max(map(len, VERBS))
    lines = [f"  {verb:<{width}}  {about}" for verb, (_, about) in VERBS.items()]
    return "usage: python -m tools <verb> [arguments]   (python -m tools <verb> --help)\n\nverbs:\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a verb; returns its exit status (2 for an unknown or missing verb)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] in (["-h"], ["--help"]):
        print(_usage())
        return 0
    if not arguments or arguments[0] not in VERBS:
        problem = f"unknown verb {arguments[0]!r}" if arguments else "no verb given"
        print(f"error: {problem}; one of: {', '.join(VERBS)}\n\n{_usage()}", file=sys.stderr)
        return 2
    module, _ = VERBS[arguments[0]]
    return int(importlib.import_module(module).main(arguments[1:]))


if __name__ == "__main__":
    sys.exit(main())
