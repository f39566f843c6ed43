"""An OCI registry on loopback and the image work done against it, with the real tools only.

    registry   go-containerregistry's in-memory registry (`cmd/registry`), plain HTTP on
               127.0.0.1 (the tools treat a loopback registry as HTTP without being told)
    crane      builds images without Docker: a tarball layer appended to an empty base
               (`crane append`), the config set with `crane mutate`, copies with `crane copy`
    cosign     key pairs, signatures (`cosign sign --key`, no transparency log: keyless and Rekor
               need the internet) and `cosign verify`

Everything here is a thin, typed wrapper: each call runs the pinned binary (tools/toolchain.py)
and fails with the tool's own message.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.sandbox.processes import RunningProcess, free_port, start, wait_until
from tools.toolchain import ensure

__all__ = [
    "OFFLINE_ENV",
    "CosignKey",
    "ImageError",
    "LoopbackRegistry",
    "build_image",
    "copy_image",
    "cosign_key_pair",
    "cosign_sign",
    "cosign_verify",
    "digest_of",
    "export_files",
    "layer_tarball",
    "start_registry",
]

_TIMEOUT = 120.0

OFFLINE_ENV = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}
"""Environment that keeps the Sigstore tools on loopback: any request for another host goes to a
closed loopback port and fails there, visibly, instead of leaving the machine (Go's HTTP client
reads these; loopback is never proxied)."""

# A Sigstore trusted root with no authorities: `cosign verify --key` then skips fetching the
# public-good root from TUF (it needs none to check a key signature without a transparency log).
_EMPTY_TRUSTED_ROOT = '{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}\n'


class ImageError(RuntimeError):
    """A registry, crane or cosign step failed; the message holds the tool's output."""


@dataclass(frozen=True)
class LoopbackRegistry:
    """A running registry: its process and the `host:port` image references start with."""

    process: RunningProcess
    host: str

    def stop(self) -> None:
        self.process.stop()


def _v2_answers(host: str) -> bool:
    with urllib.request.urlopen(f"http://{host}/v2/", timeout=2) as reply:
        return bool(reply.status == 200)


def start_registry(logs: Path) -> LoopbackRegistry:
    """Start the in-memory registry on a free loopback port; ready when `/v2/` answers."""
    port = free_port()
    process = start("registry", [str(ensure("registry")), f"-port={port}"], logs / "registry.log")
    host = f"127.0.0.1:{port}"
    try:
        wait_until(process, lambda: _v2_answers(host), "serving /v2/", _TIMEOUT)
    except BaseException:
        process.stop()
        raise
    return LoopbackRegistry(process, host)


def _run(tool: str, arguments: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    command = [str(ensure(tool)), *arguments]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
        env={**os.environ, **OFFLINE_ENV, **(env or {})},
    )
    if result.returncode != 0:
        raise ImageError(f"{tool} {' '.join(arguments)} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip()


def layer_tarball(path: Path, files: Iterable[tuple[Path, str]]) -> Path:
    """A layer: each (source file, path in the image) as a root-owned, read-only file, with
    fixed times so the same files give the same digest."""
    with tarfile.open(path, "w") as layer:
        directories: set[str] = set()
        for source, target in sorted(files, key=lambda item: item[1]):
            parts = target.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in directories:
                    directories.add(folder)
                    info = tarfile.TarInfo(folder)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    layer.addfile(info)
            data = source.read_bytes()
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(data), 0o444
            layer.addfile(info, io.BytesIO(data))
    return path


def digest_of(reference: str) -> str:
    """`sha256:...` of the manifest `reference` names."""
    return _run("crane", ["digest", reference])


def build_image(
    reference: str,
    layer: Path,
    *,
    entrypoint: Sequence[str],
    user: str,
    env: Mapping[str, str],
    labels: Mapping[str, str],
) -> str:
    """Push an image made of `layer` on an empty base to `reference` (a tag); return its digest."""
    _run("crane", ["append", "--oci-empty-base", f"--new_layer={layer}", f"--new_tag={reference}"])
    _run(
        "crane",
        [
            "mutate",
            reference,
            f"--tag={reference}",
            f"--entrypoint={','.join(entrypoint)}",
            f"--user={user}",
            *(f"--env={key}={value}" for key, value in sorted(env.items())),
            *(f"--label={key}={value}" for key, value in sorted(labels.items())),
        ],
    )
    return digest_of(reference)


def export_files(reference: str, destination: Path, prefix: str) -> Path:
    """Extract the files below `prefix` (an absolute path in the image) from the image's flattened
    filesystem (`crane export`) into `destination`; return `destination`."""
    archive = destination.with_suffix(".tar")
    _run("crane", ["export", reference, str(archive)])
    wanted = prefix.strip("/") + "/"
    with tarfile.open(archive) as flat:
        members = [member for member in flat.getmembers() if member.name.lstrip("/").startswith(wanted)]
        flat.extractall(destination, members=members, filter="data")
    return destination / prefix.strip("/")


def copy_image(source: str, target: str) -> None:
    """Copy an image (same digest) to another repository or tag."""
    _run("crane", ["copy", source, target])


@dataclass(frozen=True)
class CosignKey:
    """A cosign key pair on disk; the private key is encrypted with `password`."""

    private_key: Path
    public_key: Path
    password: str

    @property
    def public_pem(self) -> str:
        return self.public_key.read_text(encoding="utf-8")


def cosign_key_pair(directory: Path, password: str) -> CosignKey:
    """`cosign generate-key-pair` into `directory` (elliptic curve P-256)."""
    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "cosign"
    _run("cosign", ["generate-key-pair", f"--output-key-prefix={prefix}"], {"COSIGN_PASSWORD": password})
    return CosignKey(prefix.with_suffix(".key"), prefix.with_suffix(".pub"), password)


def cosign_sign(key: CosignKey, reference: str) -> None:
    """Sign `reference` (by digest) with `key`; the signature is pushed beside the image. No
    transparency log: Rekor is on the internet (keyless signing is covered by unit tests)."""
    _run(
        "cosign",
        ["sign", f"--key={key.private_key}", "--tlog-upload=false", "--yes", reference],
        {"COSIGN_PASSWORD": key.password},
    )


def cosign_verify(key: CosignKey, reference: str) -> str:
    """`cosign verify` with the public key and no transparency log; returns cosign's JSON."""
    trusted_root = key.public_key.with_name("empty-trusted-root.json")
    trusted_root.write_text(_EMPTY_TRUSTED_ROOT, encoding="utf-8")
    return _run(
        "cosign",
        [
            "verify",
            f"--key={key.public_key}",
            "--insecure-ignore-tlog=true",
            f"--trusted-root={trusted_root}",
            reference,
        ],
    )
