"""Render diff: compare two render directories and say first what weakens the security posture.

    python -m tools.render diff OLD_DIR NEW_DIR [--fail-on-weakening]

Both directories are as `python -m tools.render` writes them. Each is read as a whole and the
protections of the model namespaces compared area by area (`tools.posture`); the Markdown report
opens with "Weakens security posture" (one line per weakening: area, object, field, old -> new),
then lists the files added, removed and changed, with a field-level diff for each changed file.

Exit status: 0, or 1 with `--fail-on-weakening` when anything weakens the posture (CI uses it),
2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from tools.posture import read_render, weakenings
from tools.posture.report import RenderDiff, compare_files, format_report

__all__ = ["diff_dirs", "main"]


def diff_dirs(old: Path, new: Path) -> RenderDiff:
    """Compare two render directories: their weakenings and their changed files."""
    before, after = read_render(old), read_render(new)
    return compare_files(before, after, weakenings(before, after))


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tools.render diff", description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the render before the change")
    parser.add_argument("new", type=Path, help="the render after the change")
    parser.add_argument("--fail-on-weakening", action="store_true", help="exit 1 when anything is flagged")
    arguments = parser.parse_args(argv)
    try:
        result = diff_dirs(arguments.old, arguments.new)
    except (ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(result), end="")
    return 1 if arguments.fail_on_weakening and result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
