"""A stack's model pod as the pinned Istio injects it.

tests/fixtures/mesh/istio-cni-injected-pod.yaml is a pod recorded from the pinned Istio's injector
(CNI mode, native sidecar). Admission pins the model pod's shape, so a test that wants "our pod,
injected" takes the stack's own pod template and adds exactly what the injector added to the
recorded pod: its init containers, its volumes, its annotations and its mesh labels.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

RECORDED_POD = Path(__file__).resolve().parent.parent / "fixtures" / "mesh" / "istio-cni-injected-pod.yaml"
_MESH_LABELS = ("security.istio.io/tlsMode", "service.istio.io/canonical-name", "service.istio.io/canonical-revision")


def recorded_pod() -> dict[str, Any]:
    """The pod the pinned injector wrote, as recorded."""
    return yaml.safe_load(RECORDED_POD.read_text(encoding="utf-8"))


def injected_pod(deployment: dict[str, Any], name: str = "model-injected") -> dict[str, Any]:
    """The Deployment's pod with what the injector added to the recorded pod."""
    recorded = recorded_pod()
    template = copy.deepcopy(deployment["spec"]["template"])
    app_volumes = {mount["name"] for container in recorded["spec"]["containers"] for mount in container["volumeMounts"]}
    metadata = recorded["metadata"]
    spec = template["spec"]
    spec["initContainers"] = [*spec.get("initContainers", []), *recorded["spec"]["initContainers"]]
    spec["volumes"] = [
        *spec.get("volumes", []),
        *(v for v in recorded["spec"]["volumes"] if v["name"] not in app_volumes),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": deployment["metadata"]["namespace"],
            "labels": {**template["metadata"]["labels"], **{key: metadata["labels"][key] for key in _MESH_LABELS}},
            "annotations": {**metadata["annotations"], **template["metadata"].get("annotations", {})},
        },
        "spec": spec,
    }
