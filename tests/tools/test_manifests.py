"""tools.manifests: the one reader of manifests the offline tools share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools.manifests import (
    CONTAINER_LISTS,
    POD_CONTROLLER_KINDS,
    WORKLOAD_KINDS,
    InputError,
    containers,
    containers_by_list,
    load_manifests,
    pod_metadata,
    pod_spec,
    unpack_lists,
)

SPEC = {
    "initContainers": [{"name": "setup"}],
    "containers": [{"name": "model"}],
    "ephemeralContainers": [{"name": "debug"}],
}
TEMPLATE = {"metadata": {"labels": {"app": "model"}}, "spec": SPEC}


def workload(kind: str) -> dict[str, Any]:
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": TEMPLATE["metadata"], "spec": SPEC}
    if kind == "CronJob":
        return {"apiVersion": "batch/v1", "kind": kind, "spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}}
    return {"apiVersion": "apps/v1", "kind": kind, "spec": {"template": TEMPLATE}}


@pytest.mark.parametrize("kind", sorted(WORKLOAD_KINDS))
def test_every_workload_kind_yields_its_pod_spec_and_pod_labels(kind: str) -> None:
    document = workload(kind)
    assert pod_spec(document) == SPEC
    assert pod_metadata(document)["labels"] == {"app": "model"}


@pytest.mark.parametrize(
    "document",
    [None, "text", {"apiVersion": "v1", "kind": "Service", "spec": {"ports": []}}, {"kind": "Deployment", "spec": {}}],
)
def test_objects_without_a_pod_template_have_no_pod_spec(document: Any) -> None:
    assert pod_spec(document) is None


def test_no_container_list_is_skipped() -> None:
    assert CONTAINER_LISTS == ("initContainers", "containers", "ephemeralContainers")
    assert [c["name"] for c in containers(SPEC)] == ["setup", "model", "debug"]
    assert set(containers_by_list(SPEC)) == {"initContainers/setup", "containers/model", "ephemeralContainers/debug"}
    assert containers({}) == []


def test_the_expanded_controllers_are_workloads() -> None:
    assert set(POD_CONTROLLER_KINDS) < WORKLOAD_KINDS
    assert {"Pod", "ReplicationController"} <= WORKLOAD_KINDS


def test_lists_are_unpacked_and_empty_documents_dropped() -> None:
    listed = unpack_lists(
        [None, {"kind": "List", "items": [{"kind": "Pod"}, {"kind": "PodList", "items": [{"kind": "Pod"}]}]}]
    )
    assert [d["kind"] for d in listed] == ["Pod", "Pod"]


def test_load_manifests_reads_folders_and_keeps_only_kubernetes_objects(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n---\nconfig: {}\n"
    )
    (tmp_path / "b.yml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
    (tmp_path / "notes.txt").write_text("kind: Pod\n")
    assert [o["kind"] for o in load_manifests([tmp_path])] == ["Service", "Pod"]


@pytest.mark.parametrize(
    ("name", "text", "message"), [("bad.yaml", "a: [", "not valid YAML"), ("gone.yaml", None, "no such file")]
)
def test_unreadable_input_is_one_clear_error_naming_the_file(
    tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=rf"{name}: {message}"):
        load_manifests([path])
