"""The upstream CRD schemas at the pinned versions, for a machine without the shared folder.

    python -m tools.upstream_crds fetch DIR    # DIR/<add-on>/... as the shared folder lays it out

The schema tests and the sandbox read CRDs from `../shared/crds` beside the checkout (or
`$SMS_CRDS_DIR`). A hosted CI runner has no such folder, so it fetches each add-on's CRDs from
its upstream repository at the tag of the version `components.versions` pins (a shallow, sparse
git clone of just the CRD paths) and points `SMS_CRDS_DIR` at the result. The paths are where
each project publishes its CRDs (the same paths the shared folder was taken from).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from secure_model_serving.versions import CERT_MANAGER, EXTERNAL_SECRETS, GATEKEEPER, ISTIOD, POLICY_CONTROLLER_IMAGE

__all__ = ["SOURCES", "CrdSource", "fetch", "main"]


@dataclass(frozen=True)
class CrdSource:
    """Where one add-on publishes its CRDs: a GitHub repository, a tag and paths in it."""

    repository: str
    tag: str
    paths: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}.git"


def _image_tag(reference: str) -> str:
    """The tag of `name:tag@digest`."""
    return reference.split("@")[0].rsplit(":", 1)[1]


SOURCES: dict[str, CrdSource] = {
    "gatekeeper": CrdSource("open-policy-agent/gatekeeper", f"v{GATEKEEPER.version}", ("charts/gatekeeper/crds",)),
    "istio": CrdSource("istio/istio", ISTIOD.version, ("manifests/charts/base/files/crd-all.gen.yaml",)),
    "external-secrets": CrdSource(
        "external-secrets/external-secrets", f"v{EXTERNAL_SECRETS.version}", ("config/crds/bases",)
    ),
    "cert-manager": CrdSource("cert-manager/cert-manager", CERT_MANAGER.version, ("deploy/crds",)),
    # The controller's own release (the chart's appVersion), not the chart's version.
    "sigstore-policy-controller": CrdSource(
        "sigstore/policy-controller",
        _image_tag(POLICY_CONTROLLER_IMAGE),
        ("config/300-clusterimagepolicy.yaml", "config/300-trustroot.yaml"),
    ),
}
"""Per add-on (the shared folder's first level): its upstream repository, tag and CRD paths."""


def _git(*arguments: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *arguments], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def fetch(into: Path) -> None:
    """Fetch every add-on's CRDs into `into/<add-on>/`, replacing what was there."""
    for addon, source in SOURCES.items():
        print(f"crds: {addon} from {source.repository} at {source.tag}", flush=True)
        with tempfile.TemporaryDirectory(prefix="crds-") as scratch:
            clone = Path(scratch) / addon
            _git("clone", "--quiet", "--depth", "1", "--branch", source.tag, "--filter=blob:none", "--sparse",
                 source.url, str(clone))  # fmt: skip
            _git("sparse-checkout", "set", "--no-cone", *source.paths, cwd=clone)
            target = into / addon
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for path in source.paths:
                found = clone / path
                files = sorted(found.glob("*.y*ml")) if found.is_dir() else [found]
                if not files or not all(file.is_file() for file in files):
                    raise SystemExit(f"error: {source.repository}@{source.tag} has no CRDs at {path}")
                for file in files:
                    shutil.copy2(file, target / file.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.upstream_crds", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="fetch every add-on's CRDs into DIR")
    fetch_parser.add_argument("into", type=Path, metavar="DIR")
    arguments = parser.parse_args(argv)
    try:
        fetch(arguments.into)
    except subprocess.CalledProcessError as error:
        print(f"error: {' '.join(error.cmd)} failed (exit {error.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
