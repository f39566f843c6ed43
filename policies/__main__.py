"""Write (or check) every policy's generated template.yaml.

    python -m policies           # regenerate policies/*/template.yaml from policy.yaml, src.rego and lib/
    python -m policies --check   # exit 1, naming each stale file, when any is out of date

The templates are committed so that `gator verify` and reviewers read exactly what is deployed.
"""

from __future__ import annotations

import argparse
import sys

from policies import TEMPLATE_FILE, load_policies, render_template


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m policies", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale templates")
    arguments = parser.parse_args(argv)
    stale = []
    for policy in load_policies():
        path = policy.directory / TEMPLATE_FILE
        text = render_template(policy)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not arguments.check:
            path.write_text(text, encoding="utf-8")
    if arguments.check and stale:
        for path in stale:
            print(f"stale: {path} (run: python -m policies)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
