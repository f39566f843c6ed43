"""Command line of the blast-radius audit (`python -m tools.audit`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tools.audit import audit
from tools.audit.pods import API_AUDIENCES
from tools.audit.report import format_markdown
from tools.manifests import InputError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0, or 2 on bad input)."""
    parser = argparse.ArgumentParser(prog="python -m tools.audit", description="Blast-radius audit of workloads.")
    parser.add_argument("paths", nargs="+", type=Path, help="YAML files or directories (a render, kubectl output)")
    parser.add_argument("--stack", help="judge with this stack's policies instead of those in the paths")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument(
        "--api-audience",
        action="append",
        default=[],
        metavar="AUDIENCE",
        help="an audience the cluster's API server accepts (its --api-audiences), besides "
        f"{', '.join(API_AUDIENCES)}; repeatable",
    )
    arguments = parser.parse_args(argv)
    try:
        entries = audit(arguments.paths, arguments.stack, (*API_AUDIENCES, *arguments.api_audience))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        json.dumps(entries, indent=2) if arguments.json else format_markdown(entries),
        end="\n" if arguments.json else "",
    )
    return 0
