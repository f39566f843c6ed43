"""Benchmark: the cost of judging one pod with our policy set, beside gatekeeper-library's.

    python -m benchmarks.admission [--stack prod] [--iterations 300] [--library DIR]

Both sets are measured by `gator bench` (the Gatekeeper project's own benchmark: the Rego
driver of the constraint framework, i.e. OPA as the webhook runs it) on the same pods: the
stack's model pod as its Deployment creates it, the same pod as Istio injects it, and a
privileged variant. Ours: every template and constraint the stack renders, with the parameters
it deploys (the model's pod shape included). The anchor: gatekeeper-library's Pod Security
Standards restricted profile (baseline + restricted templates) plus its allowed-repos,
image-digests, disallowed-tags, container-limits and automount templates, with restricted
parameters. Neither set has a namespaceSelector here (`gator bench` reviews objects without
their Namespace), so both judge every pod.

The library is read from `--library` (a gatekeeper-library checkout, or a folder with its
`library/` layout), by default `$SMS_GATEKEEPER_LIBRARY` or the per-user cache
`~/.cache/secure-model-serving/gatekeeper-library/<commit>`; nothing of it is in this repository.
The last line is `per-constraint cost vs gatekeeper-library: R` (our p50 per constraint divided
by theirs).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from secure_model_serving import versions
from secure_model_serving.policies.parameters import MIN_ID
from tools.gator import gator_version, is_policy_object
from tools.render import render_objects
from tools.toolchain import cache_root, ensure

_PSS_RESTRICTED = {
    # Baseline profile.
    "pod-security-policy/privileged-containers": None,
    "pod-security-policy/host-namespaces": None,
    "pod-security-policy/host-network-ports": {"hostNetwork": False},
    "pod-security-policy/host-filesystem": {"allowedHostPaths": []},
    "pod-security-policy/capabilities": {
        "requiredDropCapabilities": ["ALL"],
        "allowedCapabilities": ["NET_BIND_SERVICE"],
    },
    "pod-security-policy/selinux": {"allowedSELinuxOptions": [{"type": "container_t"}]},
    "pod-security-policy/proc-mount": {"procMount": "Default"},
    "pod-security-policy/apparmor": {"allowedProfiles": ["runtime/default", "localhost/*"]},
    "pod-security-policy/seccompv2": {
        "allowedProfiles": ["RuntimeDefault", "Localhost"],
        "allowedLocalhostFiles": ["*"],
    },
    "pod-security-policy/forbidden-sysctls": {
        "forbiddenSysctls": ["*"],
        "allowedSysctls": ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies"],
    },
    # Restricted profile, on top of baseline.
    "pod-security-policy/allow-privilege-escalation": None,
    "pod-security-policy/flexvolume-drivers": {"allowedFlexVolumes": []},
    "pod-security-policy/fsgroup": {"rule": "MustRunAs", "ranges": [{"min": MIN_ID, "max": 65535}]},
    "pod-security-policy/read-only-root-filesystem": None,
    "pod-security-policy/users": {
        "runAsUser": {"rule": "MustRunAs", "ranges": [{"min": MIN_ID, "max": 65535}]},
        "runAsGroup": {"rule": "MustRunAs", "ranges": [{"min": MIN_ID, "max": 65535}]},
    },
    "pod-security-policy/volumes": {
        "volumes": [
            "configMap",
            "csi",
            "downwardAPI",
            "emptyDir",
            "ephemeral",
            "persistentVolumeClaim",
            "projected",
            "secret",
        ]
    },
}
"""The library's restricted profile (website/docs/pspintro.md) and restricted parameters."""


def _library_templates(registries: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """Every library template the anchor loads, with its constraint's parameters."""
    return {
        **_PSS_RESTRICTED,
        "general/allowedrepos": {"repos": [f"{registry.rstrip('/')}/" for registry in registries]},
        "general/imagedigests": None,
        "general/disallowedtags": {"tags": ["latest"]},
        "general/containerlimits": {"cpu": "4", "memory": "8Gi"},
        "general/automount-serviceaccount-token": None,
    }


def default_library() -> Path:
    explicit = os.environ.get("SMS_GATEKEEPER_LIBRARY")
    if explicit:
        return Path(explicit)
    root = cache_root().parent / "gatekeeper-library"
    found = sorted(root.iterdir()) if root.is_dir() else []
    return found[-1] if found else root


def _pods(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model pod as its Deployment creates it, as Istio injects it, and a privileged variant."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "model", "namespace": deployment["metadata"]["namespace"], **template.get("metadata", {})},
        "spec": copy.deepcopy(template["spec"]),
    }
    injected = copy.deepcopy(pod)
    injected["metadata"]["name"] = "model-injected"
    sidecar = {
        "name": "istio-proxy",
        "image": versions.ISTIO_PROXY_IMAGE,
        "restartPolicy": "Always",
        "args": ["proxy", "sidecar"],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 1337,
            "runAsGroup": 1337,
        },
    }
    injected["spec"].setdefault("initContainers", []).append(sidecar)
    privileged = copy.deepcopy(pod)
    privileged["metadata"]["name"] = "model-privileged"
    privileged["spec"]["hostPID"] = True
    privileged["spec"]["containers"][0]["securityContext"] = {"privileged": True, "runAsUser": 0}
    return [pod, injected, privileged]


def _our_set(stack_objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every template and constraint the stack renders, with its parameters (the model's pod shape
    included), matched by kind only."""
    policies = [o for o in stack_objects if is_policy_object(o) and o["kind"] != "ExpansionTemplate"]
    return [
        {**o, "spec": {**o["spec"], "match": {"kinds": o["spec"]["match"]["kinds"]}}}
        if o["apiVersion"].startswith("constraints.gatekeeper.sh/")
        else o
        for o in policies
    ]


def library_set(library: Path, registries: Sequence[str]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for folder, parameters in _library_templates(registries).items():
        path = library / "library" / folder / "template.yaml"
        if not path.is_file():
            raise SystemExit(
                f"error: {path} is missing: --library must name a gatekeeper-library checkout "
                "(git clone of open-policy-agent/gatekeeper-library) or a copy of its library/ folder"
            )
        template = yaml.safe_load(path.read_text(encoding="utf-8"))
        kind = template["spec"]["crd"]["spec"]["names"]["kind"]
        spec: dict[str, Any] = {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}}
        if parameters is not None:
            spec["parameters"] = parameters
        name = folder.split("/")[-1]
        objects += [
            template,
            {"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind, "metadata": {"name": name}, "spec": spec},
        ]
    return objects


def _bench(objects: list[dict[str, Any]], iterations: int) -> dict[str, Any]:
    """`gator bench` (Rego engine) over one policy set and the pods; its JSON results."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        path = Path(scratch) / "set.yaml"
        path.write_text("".join(f"---\n{json.dumps(o)}\n" for o in objects), encoding="utf-8")
        finished = subprocess.run(
            [
                str(ensure("gator")),
                "bench",
                "--engine",
                "rego",
                "--iterations",
                str(iterations),
                "--warmup",
                "20",
                "--output",
                "json",
                "--filename",
                str(path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if finished.returncode != 0:
        raise SystemExit(f"error: gator bench failed: {finished.stderr.strip()}")
    results = json.loads(finished.stdout)
    return results[0] if isinstance(results, list) else results


_DURATION_UNITS = {"ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}


def _nanoseconds(duration: str | int) -> float:
    """A Go duration as gator prints it (`15.39ms`, `1m2.5s`, or an integer of ns) in ns."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = re.findall(r"([0-9.]+)(ns|µs|us|ms|s|m|h)", duration)
    if not parts or "".join(value + unit for value, unit in parts) != duration:
        raise SystemExit(f"error: gator bench printed a duration this benchmark cannot read: {duration!r}")
    return sum(float(value) * _DURATION_UNITS[unit] for value, unit in parts)


def _line(label: str, result: dict[str, Any]) -> tuple[str, float]:
    latencies = {key: _nanoseconds(value) for key, value in result["latencies"].items()}
    constraints = result["constraintCount"]
    per_constraint = latencies["p50"] / constraints
    text = (
        f"{label:<20} {result['templateCount']:>3} templates {constraints:>3} constraints  "
        f"p50 {latencies['p50'] / 1e6:7.3f} ms  p99 {latencies['p99'] / 1e6:7.3f} ms  "
        f"per constraint {per_constraint / 1e3:6.1f} us  "
        f"violations {result['violationCount'] // max(result['iterations'], 1)} per round  "
        f"{result['reviewsPerSecond']:8.0f} reviews/s"
    )
    return text, per_constraint


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.admission", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--iterations", type=int, default=300, help="rounds over the pods, per set")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per set (the median is reported)")
    parser.add_argument("--library", type=Path, default=None, help="a gatekeeper-library checkout")
    arguments = parser.parse_args(argv)
    library = arguments.library or default_library()

    stack_objects = render_objects(arguments.stack)
    registries = next(
        (c["spec"]["parameters"]["registries"] for c in stack_objects if c["kind"] == "K8sDenyUntrustedRegistries"), []
    )
    pods = _pods(stack_objects)
    sets = {
        "ours": [*_our_set(stack_objects), *pods],
        "gatekeeper-library": [*library_set(library, registries), *pods],
    }
    print(
        f"engine: {gator_version()} bench --engine rego; {len(pods)} pods; {arguments.runs} alternating runs of "
        f"{arguments.iterations} rounds per set, the run with the median p50 shown; library: {library}"
    )
    # Alternate the sets run by run, so load on the machine falls on both alike.
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in sets}
    for _ in range(arguments.runs):
        for label, objects in sets.items():
            runs[label].append(_bench(objects, arguments.iterations))
    costs = {}
    for label, results in runs.items():
        median = sorted(results, key=lambda result: _nanoseconds(result["latencies"]["p50"]))[len(results) // 2]
        text, costs[label] = _line(label, median)
        print(text)
    print(f"per-constraint cost vs gatekeeper-library: {costs['ours'] / costs['gatekeeper-library']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
