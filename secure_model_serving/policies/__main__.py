"""Write (or check) every policy's generated files: template.yaml and constraint.yaml.

    python -m secure_model_serving.policies           # regenerate */template.yaml (from policy.yaml, src.rego
                                                      # and lib/) and */constraint.yaml (the prod stack's render)
    python -m secure_model_serving.policies --check   # exit 1, naming each stale file, when any is out of date

Both are committed so that `gator verify` and reviewers read exactly what is deployed. A template
whose Rego changed is written only when its policy.yaml `version` was raised (policies.version_problem);
both commands exit 1 naming the policy otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from . import TEMPLATE_FILE, PolicyError, load_policies, render_template, version_problem
from .deployed import CONSTRAINT_FILE, deployed_constraints, render_constraint


def _committed(path: Path) -> dict | None:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m secure_model_serving.policies", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="only report stale files")
    arguments = parser.parse_args(argv)
    try:
        policies = load_policies()
        samples = deployed_constraints(policies)
    except PolicyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    problems: list[str] = []
    generated: list[tuple[Path, str]] = []
    for policy in policies:
        template = policy.directory / TEMPLATE_FILE
        problem = version_problem(policy, _committed(template))
        if problem:
            problems.append(problem)
        else:
            generated.append((template, render_template(policy)))
        generated.append((policy.directory / CONSTRAINT_FILE, render_constraint(policy, samples[policy.name])))
    stale = []
    for path, text in generated:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not arguments.check:
            path.write_text(text, encoding="utf-8")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if arguments.check:
        for path in stale:
            print(f"stale: {path} (run: python -m secure_model_serving.policies)", file=sys.stderr)
    return 1 if problems or (arguments.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
