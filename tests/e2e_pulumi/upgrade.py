"""The upgrade step's pure parts: the older program's tree, and the verdict on the engine's steps.

A stack created by the program as it was before model tenants (`UPGRADE_FROM`, one `model:`)
is previewed and updated by the current program. The older tree comes from the clone's own
history (`git archive`; CI's clone is a full one). Upgrading is safe when the engine replaces
and deletes nothing and creates nothing but the new ModelTenant component: every resource of
the old state is answered by the current program, under its old URN or through an alias.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from secure_model_serving.naming import TYPE_PREFIX
from tests.e2e_pulumi.events import Step
from tools.mock_engine import REPO_ROOT

__all__ = ["MODEL_TENANT_TYPE", "UPGRADE_FROM", "UpgradeVerdict", "export_tree", "judge_upgrade"]

UPGRADE_FROM = "6c2d1f15d9ba6bc535f1ecdd1765d2ac6cb21bfe"
"""The last commit before model tenants ("deny-model-pod-widening: the model image must lie
below..."): the program every existing one-`model` stack was created with."""
MODEL_TENANT_TYPE = f"{TYPE_PREFIX}:tenant:ModelTenant"
"""The one resource an upgrade may create: the component the moved resources now sit under."""

# The engine's step operations (`pulumi preview --event-log`), by what they do to a resource.
_REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced", "discard-replaced", "import-replacement"})
_DELETE_OPS = frozenset({"delete", "discard"})
_CREATE_OPS = frozenset({"create", "import"})


def export_tree(revision: str, folder: Path) -> Path:
    """Write the files of `revision` of this clone into `folder` (`git archive`); return it."""
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", f"{revision}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"the upgrade step needs commit {revision} in the clone's history (a full clone): {message}")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(folder, filter="data")
    return folder


@dataclass(frozen=True)
class UpgradeVerdict:
    """What one engine operation of the upgrade did, by resource (URNs, sorted)."""

    same: int
    moved: int
    """Of the `same`, those the engine matched through an alias (their old URN differs)."""
    updated: list[str]
    replaced: list[str]
    deleted: list[str]
    created: list[str]
    unexpected_created: list[str]

    @property
    def safe(self) -> bool:
        return not (self.replaced or self.deleted or self.unexpected_created)

    def line(self, revision: str) -> str:
        return (
            f"upgrade from {revision[:7]}: {self.same} same ({self.moved} moved by alias), "
            f"{len(self.updated)} updated, {len(self.replaced)} replaced, {len(self.deleted)} deleted, "
            f"{len(self.created)} created"
        )

    def problems(self) -> str:
        """Each replaced, deleted or unexpectedly created URN, one per line."""
        rows = [
            *(f"replaced {urn}" for urn in self.replaced),
            *(f"deleted {urn}" for urn in self.deleted),
            *(f"created {urn}" for urn in self.unexpected_created),
        ]
        return "\n".join(rows)


def judge_upgrade(done: Sequence[Step]) -> UpgradeVerdict:
    """The verdict on the steps of the current program's preview or `up` of the old state."""
    same = [step for step in done if step.op == "same"]
    created = [step for step in done if step.op in _CREATE_OPS]
    return UpgradeVerdict(
        same=len(same),
        moved=sum(1 for step in same if step.old_urn and step.old_urn != step.urn),
        updated=sorted(step.urn for step in done if step.op == "update"),
        replaced=sorted({step.urn for step in done if step.op in _REPLACE_OPS}),
        deleted=sorted(step.urn for step in done if step.op in _DELETE_OPS),
        created=sorted(step.urn for step in created),
        unexpected_created=sorted(step.urn for step in created if step.type != MODEL_TENANT_TYPE),
    )
