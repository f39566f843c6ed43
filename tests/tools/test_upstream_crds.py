"""The hosted-CI fetch of upstream CRDs covers every add-on of the shared folder, at the pinned
tags, and lays the files out the way the schema tests and the sandbox read them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from secure_model_serving.versions import CERT_MANAGER, GATEKEEPER, ISTIOD
from tests.support.stacks import SHARED_CRDS
from tools import upstream_crds
from tools.upstream_crds import SOURCES, CrdSource


def test_every_add_on_of_the_shared_folder_is_fetched_at_its_pinned_tag() -> None:
    if SHARED_CRDS.is_dir():
        assert set(SOURCES) == {path.name for path in SHARED_CRDS.iterdir() if path.is_dir()}
    assert SOURCES["gatekeeper"].tag == f"v{GATEKEEPER.version}"
    assert SOURCES["istio"].tag == ISTIOD.version
    assert SOURCES["cert-manager"].tag == CERT_MANAGER.version
    assert SOURCES["sigstore-policy-controller"].tag == "v0.13.1"  # the chart's app, not its version


def _upstream(tmp_path: Path) -> Path:
    """A local repository with CRDs in a folder and a single file, tagged v1.0.0."""
    repo = tmp_path / "upstream"
    (repo / "deploy" / "crds").mkdir(parents=True)
    (repo / "deploy" / "crds" / "a.yaml").write_text("kind: CustomResourceDefinition\n")
    (repo / "deploy" / "crds" / "b.yaml").write_text("kind: CustomResourceDefinition\n")
    (repo / "config").mkdir()
    (repo / "config" / "one.yaml").write_text("kind: CustomResourceDefinition\n")
    (repo / "README.md").write_text("not fetched\n")
    for command in (
        ["init", "--quiet"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "crds"],
        ["tag", "v1.0.0"],
    ):
        subprocess.run(["git", *command], cwd=repo, check=True)
    return repo


def test_fetch_copies_each_path_of_the_tag_into_its_add_on_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _upstream(tmp_path)
    source = CrdSource("example/upstream", "v1.0.0", ("deploy/crds", "config/one.yaml"))
    monkeypatch.setattr(CrdSource, "url", property(lambda _: f"file://{repo}"))
    monkeypatch.setattr(upstream_crds, "SOURCES", {"example": source})
    out = tmp_path / "crds"
    assert upstream_crds.main(["fetch", str(out)]) == 0
    assert sorted(p.name for p in (out / "example").iterdir()) == ["a.yaml", "b.yaml", "one.yaml"]


def test_a_missing_path_or_tag_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _upstream(tmp_path)
    monkeypatch.setattr(CrdSource, "url", property(lambda _: f"file://{repo}"))
    monkeypatch.setattr(upstream_crds, "SOURCES", {"example": CrdSource("e/u", "v1.0.0", ("nowhere",))})
    with pytest.raises(SystemExit, match="no CRDs at nowhere"):
        upstream_crds.fetch(tmp_path / "crds")
    monkeypatch.setattr(upstream_crds, "SOURCES", {"example": CrdSource("e/u", "v9.9.9", ("config",))})
    assert upstream_crds.main(["fetch", str(tmp_path / "crds")]) == 1
