"""Generate an elliptic-curve P-256 key pair for model signing.

Meant for tests and local development; production keys belong in a KMS/HSM or
at least a secret store, and only reach the image build as a BuildKit secret.

Usage::

    python -m app.keygen --private-key signing-key.pem --public-key public-key.pem
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, the format model_signing reads."""
    return key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, the format model_signing verifies with."""
    return key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never replace a file, even one created since the check below; the
    # private key gets 0600 from the start so it is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def generate_ec_keypair(private_path: Path, public_path: Path) -> ec.EllipticCurvePrivateKey:
    """Create a fresh P-256 key pair; refuses (FileExistsError) if either file exists, writing neither."""
    existing = [str(path) for path in (private_path, public_path) if os.path.lexists(path)]
    if existing:
        raise FileExistsError(f"refusing to overwrite existing key file(s): {', '.join(existing)}")
    key = ec.generate_private_key(ec.SECP256R1())
    _write_new(private_path, private_key_pem(key), 0o600)
    _write_new(public_path, public_key_pem(key.public_key()), 0o644)
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.keygen", description=__doc__.splitlines()[0])
    parser.add_argument("--private-key", type=Path, required=True)
    parser.add_argument("--public-key", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.private_key.resolve() == args.public_key.resolve():
        parser.error("--private-key and --public-key must be different files")
    try:
        generate_ec_keypair(args.private_key, args.public_key)
    except FileExistsError as error:
        parser.error(str(error))  # one line on stderr, status 2, no traceback
    return 0


if __name__ == "__main__":
    sys.exit(main())
