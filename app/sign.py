"""Sign a model directory with the OpenSSF model_signing library.

Two modes:

* elliptic-curve private key (PEM); the signature is then self-checked with
  the public half derived from that key, so a broken signature fails the build;
* certificate: private key + signing certificate (+ optional chain of
  intermediate/root certificates embedded in the bundle).

The signature must be written outside the model directory.

Usage::

    python -m app.sign --model-dir DIR --private-key KEY --signature OUT
    python -m app.sign --model-dir DIR --private-key KEY --signature OUT \\
        --signing-certificate LEAF.pem [--certificate-chain CA.pem ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import signing

from app.keygen import public_key_pem
from app.verify import TrustAnchor, ensure_outside, model_hashing_config, verify_model
from secure_model_serving.serving_contract import PUBLIC_KEY_FILE

SIGNATURE_MODE = 0o644


def _signing_config(
    private_key: Path,
    signing_certificate: Path | None,
    certificate_chain: Sequence[Path],
) -> signing.Config:
    config = signing.Config().set_hashing_config(model_hashing_config())
    if signing_certificate is None:
        return config.use_elliptic_key_signer(private_key=private_key)
    return config.use_certificate_signer(
        private_key=private_key,
        signing_certificate=signing_certificate,
        certificate_chain=list(certificate_chain),
    )


def sign_model(
    model_dir: Path,
    signature_path: Path,
    private_key: Path,
    *,
    signing_certificate: Path | None = None,
    certificate_chain: Sequence[Path] = (),
) -> Path:
    """Write a signature bundle for ``model_dir`` to ``signature_path`` atomically."""
    model_dir, signature_path = Path(model_dir), Path(signature_path)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model directory not found: {model_dir}")
    if certificate_chain and signing_certificate is None:
        raise ValueError("a certificate chain needs --signing-certificate")
    ensure_outside(signature_path, model_dir)
    config = _signing_config(private_key, signing_certificate, certificate_chain)
    signature_path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a crash never leaves half a file.
    fd, tmp_name = tempfile.mkstemp(dir=signature_path.parent, prefix=".sig-")
    os.close(fd)
    try:
        config.sign(model_dir, tmp_name)
        # mkstemp creates 0600; the signature is public and must stay readable
        # by the non-root runtime user after a root-owned image build.
        os.chmod(tmp_name, SIGNATURE_MODE)
        os.replace(tmp_name, signature_path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return signature_path


def self_check(model_dir: Path, signature_path: Path, private_key: Path) -> None:
    """Verify a key-mode signature with the public half of ``private_key``."""
    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the signing key must be an elliptic-curve key")
    with tempfile.TemporaryDirectory(prefix="model-pub-") as scratch:
        public_path = Path(scratch) / PUBLIC_KEY_FILE
        public_path.write_bytes(public_key_pem(key.public_key()))
        verify_model(model_dir, signature_path, TrustAnchor(public_key=public_path))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.sign", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--private-key", type=Path, required=True, help="PEM elliptic-curve key")
    parser.add_argument("--signature", type=Path, required=True, help="output bundle path")
    parser.add_argument("--signing-certificate", type=Path, help="PEM leaf certificate")
    parser.add_argument(
        "--certificate-chain",
        type=Path,
        nargs="+",
        default=[],
        help="PEM intermediate/root certificates",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    sign_model(
        args.model_dir,
        args.signature,
        args.private_key,
        signing_certificate=args.signing_certificate,
        certificate_chain=args.certificate_chain,
    )
    mode = "certificate" if args.signing_certificate else "key"
    if mode == "key":
        self_check(args.model_dir, args.signature, args.private_key)
    print(json.dumps({"event": "model_signed", "mode": mode, "signature": str(args.signature)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
