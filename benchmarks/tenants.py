"""Benchmark: rendering a shared cluster's platform with 1, 10 and 50 model tenants.

    python -m benchmarks.tenants [--counts 1 10 50] [--repeat 3]

Each stack is the shared production stack (stacks/Pulumi.shared.yaml) with its tenants replaced
by N copies of its first one, each with its own name, namespace, registry path and signer: the
whole program runs on the mock engine, as `make render` does (settings validated, every component
built, every object rendered). Prints the best of `--repeat` runs per count, the marginal cost of a
tenant between consecutive counts, and whether rendering grows linearly (the marginal cost between
the two largest counts at most twice the one between the two smallest) with the largest count
under the 10 s bound. Exits 1 when either does not hold.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
import time
from typing import Any

import yaml

from tools.mock_engine import PROJECT
from tools.render import render_config, stack_file

__all__ = ["main", "tenant_stack"]

BOUND_SECONDS = 10.0
"""The issue's bound for the largest count (50 tenants) on two cores."""
LINEAR_FACTOR = 2.0
"""Largest marginal cost allowed, as a multiple of the smallest: more means something grows faster."""


def tenant_stack(count: int) -> dict[str, Any]:
    """The shared stack's config with `count` tenants cloned from its first."""
    config = yaml.safe_load(stack_file("shared").read_text())["config"]
    key = f"{PROJECT}:models"
    template = config[key][0]
    tenants = []
    for index in range(count):
        entry = copy.deepcopy(template)
        name, path = f"model-{index:03d}", f"tenant-{index:03d}"
        digest = entry["image"].rsplit("@", 1)[1]
        entry["name"] = name
        entry["image"] = f"registry.example.com/models/{path}/{name}@{digest}"
        entry["namespace"]["name"] = f"{path}-ns"
        entry["registries"] = [f"registry.example.com/models/{path}"]
        entry["imageSigner"]["keyless"]["subject"] = f"https://github.com/example/{path}/.github/workflows/r.yml@main"
        entry["rbac"]["deployerGroups"] = [f"{path}-deployers"]
        tenants.append(entry)
    config[key] = tenants
    mesh = copy.deepcopy(config[f"{PROJECT}:mesh"])
    mesh["gateway"]["model"] = tenants[0]["name"]
    config[f"{PROJECT}:mesh"] = mesh
    return config


def _seconds(count: int, repeat: int) -> tuple[float, int]:
    config = tenant_stack(count)
    best, objects = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        rendered = render_config("shared", config)
        best = min(best, time.perf_counter() - started)
        objects = sum(1 for item in rendered if item.document is not None)
    return best, objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tenants", description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    counts = sorted(set(args.counts))
    if len(counts) < 2 or counts[0] < 1:
        parser.error("--counts: give at least two counts, each >= 1")
    _seconds(1, 1)  # warm-up: imports, policy files and the chart pins read once
    measured = {}
    for count in counts:
        seconds, objects = _seconds(count, args.repeat)
        measured[count] = seconds
        print(f"{count:>4} tenants: {seconds:6.2f} s ({objects} rendered files)")
    pairs = list(itertools.pairwise(counts))
    marginals = [(measured[high] - measured[low]) / (high - low) for low, high in pairs]
    for (low, high), marginal in zip(pairs, marginals, strict=True):
        print(f"marginal cost per tenant, {low} -> {high}: {marginal * 1000:.0f} ms")
    growth = marginals[-1] / max(marginals[0], 1e-3)
    linear = growth <= LINEAR_FACTOR
    within = measured[counts[-1]] < BOUND_SECONDS
    print(
        f"tenants: linear {'yes' if linear else 'no'} (last/first marginal {growth:.2f}, bound {LINEAR_FACTOR}); "
        f"{counts[-1]} tenants in {measured[counts[-1]]:.2f} s ({'under' if within else 'over'} {BOUND_SECONDS:.0f} s)"
    )
    return 0 if linear and within else 1


if __name__ == "__main__":
    sys.exit(main())
