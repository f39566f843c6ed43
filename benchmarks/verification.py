"""Benchmark: the model's start-up verification cost against model size, next to ``openssl dgst -sha256``.

    python -m benchmarks.verification [--sizes 1MB,10MB,100MB,1GB] [--max-size 100MB] [--repeat 3]

For each size, a model directory holding one file of random bytes is written to a temporary
directory (default: the system temp dir, normally /tmp), signed once with a fresh P-256 key,
then timed --repeat times each way:

* start-up -- what the server pays before it deserialises a byte: ``app.verify.verify_model``
  (hash of the directory, manifest comparison, ECDSA signature check) and then the loader's
  re-hash of the bytes it reads into memory (``app.model_loader.read_bound``), so each file is
  hashed twice;
* anchor -- ``openssl dgst -sha256`` on the same file: the hashing floor on this machine (the
  same OpenSSL SHA-256 code Python's hashlib uses), hashing once.

Both read a file that was just written, so both are served from the page cache; the numbers are
hashing and overhead, not disk speed. The ratio start-up / anchor is about 2 when hashing
dominates (two passes against one). Sizes use binary units (1MB = 2**20 bytes). Everything
written is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.keygen import generate_ec_keypair
from app.model_loader import read_bound
from app.sign import sign_model
from app.verify import TrustAnchor, verify_model

_UNITS = {"KB": 2**10, "MB": 2**20, "GB": 2**30}
_CHUNK = 8 * 2**20


def parse_size(text: str) -> int:
    """``"100MB"`` -> bytes; units KB, MB, GB (binary)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]B)\s*", text.upper())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size like 10MB or 1GB: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _size_list(text: str) -> list[int]:
    return [parse_size(item) for item in text.split(",") if item.strip()]


def _label(size: int) -> str:
    for unit in ("GB", "MB", "KB"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}"
    return f"{size}B"


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        remaining = size
        while remaining:
            chunk = min(_CHUNK, remaining)
            handle.write(os.urandom(chunk))
            remaining -= chunk


def _median_seconds(action: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _openssl_sha256(openssl: str, path: Path) -> None:
    subprocess.run([openssl, "dgst", "-sha256", str(path)], check=True, stdout=subprocess.DEVNULL, timeout=600)


def _start_up(model_dir: Path, signature: Path, trust: TrustAnchor) -> None:
    manifest = verify_model(model_dir, signature, trust)
    for name in manifest.digests:
        read_bound(model_dir / name, manifest.digests)


def measure(size: int, root: Path, repeat: int, openssl: str) -> tuple[float, float]:
    """Median seconds of (start-up verification, openssl dgst) for one model of ``size`` bytes."""
    model_dir = root / "model"
    model_dir.mkdir()
    weights = model_dir / "weights.bin"
    _write_random(weights, size)
    generate_ec_keypair(root / "key.pem", root / "key.pub")
    signature = sign_model(model_dir, root / "model.sig", root / "key.pem")
    trust = TrustAnchor(public_key=root / "key.pub")
    verify_seconds = _median_seconds(lambda: _start_up(model_dir, signature, trust), repeat)
    anchor_seconds = _median_seconds(lambda: _openssl_sha256(openssl, weights), repeat)
    return verify_seconds, anchor_seconds


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.verification", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_size_list, default=_size_list("1MB,10MB,100MB,1GB"))
    parser.add_argument("--max-size", type=parse_size, help="skip sizes above this, e.g. 100MB")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per size and tool (median)")
    parser.add_argument("--tmp-dir", type=Path, default=Path(tempfile.gettempdir()), help="where to write models")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be between 1 and 20")
    if args.max_size is not None:
        args.sizes = [size for size in args.sizes if size <= args.max_size]
    if not args.sizes:
        parser.error("no size left to measure")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    openssl = shutil.which("openssl")
    if openssl is None:
        print("openssl is not installed (the anchor is openssl dgst -sha256)", file=sys.stderr)
        return 1
    needed = max(args.sizes) * 2  # the file plus headroom for the filesystem
    if shutil.disk_usage(args.tmp_dir).free < needed:
        print(f"not enough free space in {args.tmp_dir} for {_label(max(args.sizes))}", file=sys.stderr)
        return 1
    print(f"median of {args.repeat} runs; files in {args.tmp_dir}; page cache warm")
    print("start-up = verify_model + the loader's re-hash; anchor = openssl dgst -sha256 (one hash pass)")
    print(f"{'size':>6} {'start-up s':>11} {'anchor s':>9} {'start-up MB/s':>14} {'ratio':>6}")
    for size in sorted(args.sizes):
        with tempfile.TemporaryDirectory(prefix="verify-bench-", dir=args.tmp_dir) as scratch:
            verify_seconds, anchor_seconds = measure(size, Path(scratch), args.repeat, openssl)
        print(
            f"{_label(size):>6} {verify_seconds:>11.3f} {anchor_seconds:>9.3f} "
            f"{size / 2**20 / verify_seconds:>14.1f} {verify_seconds / anchor_seconds:>6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
