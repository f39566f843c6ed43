"""Benchmark: pod create latency through the real API server, with our constraints, none, and an anchor.

    python -m benchmarks.admission_latency [--stack prod] [--creates 200] [--library DIR]

Brings up the policy sandbox (etcd, kube-apiserver, the Gatekeeper manager as its webhook, on
loopback) with the stack installed, then creates the model's pod (its Deployment's pod template)
in the model namespace many times (`dryRun=All`: every admission step runs, nothing is stored),
one after another as a client would, and prints p50/p99 latency and creates per second for:

1. the stack's whole constraint set;
2. no constraints (the same webhook round trip with nothing to evaluate): the anchor;
3. gatekeeper-library's Pod Security Standards restricted bundle and its allowed-repos,
   image-digests, disallowed-tags, container-limits and automount templates (read as in
   benchmarks.admission, from a checkout or the per-user cache), in place of ours;

and each latency's ratio to the anchor's. The sandbox is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.admission import default_library, library_set
from tools.gator import is_policy_object
from tools.sandbox.client import ApiClient, ApiError, Identity
from tools.sandbox.cluster import PROBE_USER, bring_up

_STATUS_TIMEOUT = 120.0
_PROBE = Identity(PROBE_USER, ("system:masters",))
_POLL = 0.25


def _progress(message: str) -> None:
    print(f"  sandbox: {message}", file=sys.stderr, flush=True)


def _model_pod(deployment: dict[str, Any]) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    metadata = {
        **template.get("metadata", {}),
        "generateName": "bench-",
        "namespace": deployment["metadata"]["namespace"],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def _constraints(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["apiVersion"].startswith("constraints.gatekeeper.sh/")]


def _create(client: ApiClient, pod: dict[str, Any]) -> str:
    try:
        client.create(pod, dry_run=True)
    except ApiError as error:
        return f"refused ({error.message[:120]})"
    return "admitted"


def _measure(client: ApiClient, pod: dict[str, Any], creates: int) -> tuple[list[float], str]:
    """Latencies of `creates` sequential creates, and the verdict (the same for every create)."""
    verdict = _create(client, pod)  # warm-up
    samples = []
    for _ in range(creates):
        started = time.perf_counter()
        _create(client, pod)
        samples.append(time.perf_counter() - started)
    return samples, verdict


def _wait(check: Any, what: str) -> None:
    deadline = time.monotonic() + _STATUS_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {_STATUS_TIMEOUT:.0f}s")
        time.sleep(_POLL)


def _denied(client: ApiClient, obj: dict[str, Any]) -> bool:
    """True when Gatekeeper refuses `obj` (asked as the probe user Pod Security Admission exempts)."""
    try:
        client.create(obj, dry_run=True, identity=_PROBE)
    except ApiError as error:
        return "validation.gatekeeper.sh" in error.message
    return False


def _install(client: ApiClient, objects: list[dict[str, Any]], canary: dict[str, Any]) -> None:
    """Apply templates then constraints; wait until Gatekeeper enforces them (the canary is denied)."""
    for obj in objects:
        if obj["kind"] == "ConstraintTemplate":
            client.apply(obj)
    for obj in objects:
        if obj["kind"] == "ConstraintTemplate":
            _, path = client.paths(obj)
            client.wait_for(path, lambda o: bool((o.get("status") or {}).get("created")), obj["metadata"]["name"], 60)
    client.forget_discovery()
    for obj in objects:
        if obj["kind"] != "ConstraintTemplate":
            client.apply(obj)
    _wait(lambda: _denied(client, canary), "the library's constraints enforced")


def _line(label: str, samples: list[float], anchor: list[float] | None) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    rate = len(samples) / sum(samples)
    text = f"{label:<28} p50 {p50 * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms  {rate:7.1f} creates/s"
    if anchor is not None:
        base = sorted(anchor)
        base_p99 = base[min(len(base) - 1, round(0.99 * (len(base) - 1)))]
        text += f"  x{p50 / statistics.median(base):.2f} p50, x{p99 / base_p99:.2f} p99 vs no constraints"
    return text


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.admission_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--creates", type=int, default=200, help="pod creates per configuration")
    parser.add_argument("--library", type=Path, default=None, help="a gatekeeper-library checkout")
    arguments = parser.parse_args(argv)
    library = arguments.library or default_library()

    sandbox = bring_up(arguments.stack, progress=_progress)
    try:
        client = sandbox.client
        (deployment,) = sandbox.plan.of_kind("Deployment")
        pod = _model_pod(deployment)
        canary = {**pod, "spec": {**pod["spec"], "hostPID": True}}
        ours, ours_verdict = _measure(client, pod, arguments.creates)

        for constraint in _constraints(sandbox.plan.objects):
            client.delete(constraint)
        _wait(lambda: not _denied(client, canary), "every constraint removed from Gatekeeper")
        none, none_verdict = _measure(client, pod, arguments.creates)

        registries = next(
            c["spec"]["parameters"]["registries"]
            for c in _constraints(sandbox.plan.objects)
            if c["kind"] == "K8sDenyUntrustedRegistries"
        )
        anchor_set = [o for o in library_set(library, registries) if is_policy_object(o)]
        _install(client, anchor_set, canary)
        theirs, theirs_verdict = _measure(client, pod, arguments.creates)
    finally:
        sandbox.stop()

    ours_count = len(_constraints(sandbox.plan.objects))
    print(f"stack {arguments.stack}: {arguments.creates} sequential pod creates (dryRun=All) per configuration")
    print(_line(f"ours ({ours_count} constraints)", ours, none) + f"  [{ours_verdict}]")
    print(_line("no constraints", none, None) + f"  [{none_verdict}]")
    print(_line(f"library ({len(_constraints(anchor_set))} constraints)", theirs, none) + f"  [{theirs_verdict}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
