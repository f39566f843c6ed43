"""No stack blocks a node drain: disruption budgets leave room to evict, and spreading counts only
the nodes a pod may run on.

A PodDisruptionBudget whose minAvailable equals the replicas refuses every eviction, so `kubectl
drain` hangs; a DoNotSchedule spread that counts tainted or cordoned nodes leaves the replacement
Pending, and the next eviction waits for it forever. Checked on the rendered objects and on the
values every Helm release gets (the charts render their budgets from those).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.stacks import STACKS

# Per chart: where its values set the replicas and the budget's minAvailable.
RELEASE_BUDGETS = {
    "gatekeeper": (("replicas",), ("pdb", "controllerManager", "minAvailable")),
    "external-secrets": (("replicaCount",), ("podDisruptionBudget", "minAvailable")),
}


def load(render_dir: Path, pattern: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in sorted(render_dir.glob(pattern))]


def dig(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        values = values[key]
    return values


def pod_templates(render_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for obj in load(render_dir, "*/*.yaml"):
        if obj.get("kind") in {"Deployment", "StatefulSet", "DaemonSet"}:
            found.append((f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]))
    return found


def budget_blocks_drain(minimum: int | None, maximum: int | None, replicas: int) -> bool:
    if maximum is not None:
        return maximum < 1
    return minimum is not None and minimum >= replicas


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_budgets_leave_room_to_evict(render_dirs: dict[str, Path], stack: str) -> None:
    objects = load(render_dirs[stack], "*/*.yaml")
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    budgets = [o for o in objects if o.get("kind") == "PodDisruptionBudget"]
    assert budgets, "the model has a PodDisruptionBudget"
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"]
        (target,) = [d for d in deployments if d["spec"]["selector"]["matchLabels"] == selector]
        spec = budget["spec"]
        blocked = budget_blocks_drain(spec.get("minAvailable"), spec.get("maxUnavailable"), target["spec"]["replicas"])
        assert not blocked, f"{stack}: {budget['metadata']['name']} blocks a drain of {target['metadata']['name']}"


@pytest.mark.parametrize("stack", STACKS)
def test_release_budgets_leave_room_to_evict(render_dirs: dict[str, Path], stack: str) -> None:
    checked = set()
    for release in load(render_dirs[stack], "releases/*.yaml"):
        if release.get("chart") not in RELEASE_BUDGETS:
            continue
        replicas_path, minimum_path = RELEASE_BUDGETS[release["chart"]]
        replicas, minimum = dig(release["values"], replicas_path), dig(release["values"], minimum_path)
        assert not budget_blocks_drain(minimum, None, replicas), f"{stack}: {release['chart']} {minimum}/{replicas}"
        checked.add(release["chart"])
    assert "gatekeeper" in checked


def test_the_check_sees_a_blocking_budget() -> None:
    assert budget_blocks_drain(1, None, 1)  # Gatekeeper with one replica and minAvailable 1
    assert budget_blocks_drain(None, 0, 3)
    assert not budget_blocks_drain(0, None, 1)
    assert not budget_blocks_drain(None, 1, 1)


@pytest.mark.parametrize("stack", STACKS)
def test_strict_spreading_counts_only_nodes_the_pod_may_use(render_dirs: dict[str, Path], stack: str) -> None:
    strict = [
        (name, constraint)
        for name, spec in pod_templates(render_dirs[stack])
        for constraint in spec.get("topologySpreadConstraints", [])
        if constraint["whenUnsatisfiable"] == "DoNotSchedule"
    ]
    assert strict, "the model spreads strictly over nodes"
    for name, constraint in strict:
        assert constraint.get("nodeTaintsPolicy") == "Honor", f"{stack}: {name} counts tainted and cordoned nodes"
        assert constraint.get("nodeAffinityPolicy") == "Honor", f"{stack}: {name} counts nodes outside its pool"
