"""The sandbox's throw-away PKI: one CA, serving certificates for 127.0.0.1, client certificates.

Everything is generated fresh for each sandbox and lives only in its state directory:

- a CA that signs every certificate below (the API server's `--client-ca-file`, the webhook's
  `caBundle` and the trust anchor of every client);
- the API server's and Gatekeeper's serving certificates, valid for `IP:127.0.0.1` and `localhost`;
- client certificates: the admin (`O=system:masters`) and Gatekeeper's manager;
- the service-account token signing key pair.

Keys are elliptic-curve P-256 and written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertPair", "SandboxPki", "create_pki", "server_certificate"]

_VALIDITY = dt.timedelta(days=2)
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class SandboxPki:
    """Paths of every PEM file the sandbox's processes and clients use."""

    ca: CertPair
    apiserver: CertPair
    admin: CertPair
    gatekeeper_client: CertPair
    webhook: CertPair
    service_account_key: Path
    service_account_public_key: Path


def _write(path: Path, data: bytes, *, private: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _leaf(
    directory: Path,
    stem: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    *,
    server: bool,
    dns_names: tuple[str, ...] = (),
) -> CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(subject, ca_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server:
        names = [x509.IPAddress(_LOOPBACK), *(x509.DNSName(name) for name in ("localhost", *dns_names))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return CertPair(
        cert=_write(directory / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM), private=False),
        key=_write(directory / f"{stem}.key", _key_pem(key), private=True),
    )


def create_pki(directory: Path) -> SandboxPki:
    """Generate the sandbox's CA, certificates and service-account keys into `directory`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("secure-model-serving sandbox CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca = CertPair(
        cert=_write(directory / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), private=False),
        key=_write(directory / "ca.key", _key_pem(ca_key), private=True),
    )
    webhook_dir = directory / "webhook"
    webhook = _leaf(webhook_dir, "tls", ca_key, ca_name, _name("gatekeeper-webhook"), server=True)
    # Gatekeeper reads tls.crt/tls.key from --cert-dir and, for its own readiness probe, ca.crt.
    _write(webhook_dir / "ca.crt", ca.cert.read_bytes(), private=False)
    account_key = ec.generate_private_key(ec.SECP256R1())
    return SandboxPki(
        ca=ca,
        apiserver=_leaf(directory, "apiserver", ca_key, ca_name, _name("kube-apiserver"), server=True),
        admin=_leaf(directory, "admin", ca_key, ca_name, _name("sandbox-admin", "system:masters"), server=False),
        gatekeeper_client=_leaf(
            directory, "gatekeeper-client", ca_key, ca_name, _name("gatekeeper-manager", "system:masters"), server=False
        ),
        webhook=webhook,
        service_account_key=_write(directory / "service-account.key", _key_pem(account_key), private=True),
        service_account_public_key=_write(
            directory / "service-account.pub",
            account_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            private=False,
        ),
    )


def server_certificate(pki: SandboxPki, directory: Path, stem: str, dns_names: tuple[str, ...] = ()) -> CertPair:
    """One more serving certificate from the sandbox's CA, for 127.0.0.1, localhost and `dns_names`
    (a webhook that checks its certificate names its in-cluster Service)."""
    ca_key = serialization.load_pem_private_key(pki.ca.key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{pki.ca.key}: not the sandbox's elliptic-curve CA key")
    ca_name = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes()).subject
    return _leaf(directory, stem, ca_key, ca_name, _name(stem), server=True, dns_names=dns_names)
