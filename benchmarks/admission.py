"""Benchmark: admission time per object for the whole rendered policy set.

    python -m benchmarks.admission [--stack prod] [--objects 200] [--rounds 5]

Renders the stack, compiles its ConstraintTemplates once, then judges a mix of objects (the
stack's own Deployment, which is expanded into its Pod, a hardened Pod, and privileged variants
of both) as CREATE requests, one object at a time as the webhook would. Prints p50, p99 and the
per-constraint cost with the Rego engine's name and the number of objects and constraints.
Gatekeeper's webhook times out after a few seconds; the aim is well under a millisecond per
constraint.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Any

from tools.policy_engine import PolicyEngine, engine_version, split_policy_objects
from tools.render import render_objects


def _workload_mix(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bench", "namespace": deployment["metadata"]["namespace"]},
        "spec": copy.deepcopy(deployment["spec"]["template"]["spec"]),
    }
    bad_pod = copy.deepcopy(pod)
    bad_pod["spec"]["hostPID"] = True
    bad_pod["spec"]["containers"][0]["securityContext"] = {"privileged": True, "runAsUser": 0}
    bad_deployment = copy.deepcopy(deployment)
    bad_deployment["spec"]["template"]["spec"] = bad_pod["spec"]
    return [deployment, pod, bad_pod, bad_deployment]


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.admission", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--objects", type=int, default=200, help="objects judged per round")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args(argv)

    objects = render_objects(arguments.stack)
    policy_set, reviewed = split_policy_objects(objects)
    namespaces = [o for o in reviewed if o["kind"] == "Namespace"]
    started = time.perf_counter()
    engine = PolicyEngine(policy_set)
    compile_seconds = time.perf_counter() - started

    mix = _workload_mix(reviewed)
    engine.review(mix, namespaces=namespaces)  # warm-up
    samples: list[float] = []
    for _ in range(arguments.rounds):
        for index in range(arguments.objects):
            subject = mix[index % len(mix)]
            began = time.perf_counter()
            engine.review([subject], namespaces=namespaces)
            samples.append(time.perf_counter() - began)

    constraints = len(policy_set.constraints)
    p50, p99 = _percentile(samples, 0.50), _percentile(samples, 0.99)
    print(f"engine:       {engine_version()}")
    print(f"stack:        {arguments.stack} ({constraints} constraints, {len(policy_set.templates)} templates)")
    print(f"objects:      {len(samples)} judged ({len(mix)} kinds of object, workloads expanded into pods)")
    print(f"compile:      {compile_seconds * 1000:.1f} ms (once, at start)")
    mean = statistics.fmean(samples)
    print(f"per object:   p50 {p50 * 1000:.3f} ms, p99 {p99 * 1000:.3f} ms, mean {mean * 1000:.3f} ms")
    print(f"per constraint (p50 / {constraints}): {p50 / constraints * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
