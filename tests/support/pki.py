"""A throw-away X.509 hierarchy (root -> intermediate -> signing leaf) for tests.

The leaf is a code-signing certificate named ``CN=<label> model signer`` with the SAN
``SIGNER_SAN``, valid from 2024 to 2036, unless a test asks for another usage or window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.keygen import private_key_pem

_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
_END = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)
SIGNER_SAN = "model-signer@example.test"
"""The leaf's email SAN: one of the identities verification may be pinned to."""


@dataclass(frozen=True)
class Pki:
    """PEM files of one hierarchy."""

    root_cert: Path
    intermediate_cert: Path
    leaf_cert: Path
    leaf_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    signer_usage: bool = True,
    usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CODE_SIGNING,
    window: tuple[dt.datetime, dt.datetime] = (_START, _END),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(window[0])
        .not_valid_after(window[1])
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_key_usage(signer=not ca and signer_usage), critical=True)
    )
    if not ca and signer_usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(SIGNER_SAN)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(
    directory: Path,
    label: str,
    *,
    signer_usage: bool = True,
    leaf_usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CODE_SIGNING,
    leaf_window: tuple[dt.datetime, dt.datetime] = (_START, _END),
) -> Pki:
    """Write a fresh hierarchy under ``directory``; the leaf's extended usage and window may be chosen."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate(f"{label} root", root_key, f"{label} root", root_key, ca=True)
    mid = _certificate(f"{label} intermediate", mid_key, f"{label} root", root_key, ca=True)
    leaf = _certificate(
        f"{label} model signer",
        leaf_key,
        f"{label} intermediate",
        mid_key,
        ca=False,
        signer_usage=signer_usage,
        usage=leaf_usage,
        window=leaf_window,
    )
    paths = Pki(
        root_cert=directory / "root.pem",
        intermediate_cert=directory / "intermediate.pem",
        leaf_cert=directory / "leaf.pem",
        leaf_key=directory / "leaf-key.pem",
    )
    paths.root_cert.write_bytes(_pem(root))
    paths.intermediate_cert.write_bytes(_pem(mid))
    paths.leaf_cert.write_bytes(_pem(leaf))
    paths.leaf_key.write_bytes(private_key_pem(leaf_key))
    return paths
