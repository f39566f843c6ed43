"""Verify a model directory against its OpenSSF model_signing signature.

Verification runs before any model byte is deserialised.  On top of
``model_signing.verifying.Config.verify`` (which re-hashes the directory and
compares it with the signed manifest: changed, added and removed files all
fail) this module:

* checks the signature file lives outside the hashed directory,
* verifies a private in-memory snapshot of the signature, so the manifest we
  return is exactly the one whose signature was checked, and
* returns that signed manifest (file name -> sha256) so the loader can re-hash
  the bytes it actually deserialises and close the gap between "verified on
  disk" and "loaded into memory".

In certificate mode it also pins what a model signer is, which model_signing
does not: it validates the chain at the leaf's own notBefore (so an expired
leaf passes) and takes a digitalSignature key usage alone as "may sign" (so a
TLS server certificate passes).  Here every certificate of the bundle's chain
must be valid now, the leaf must carry the code-signing extended key usage,
and its subject (RFC 4514) or one of its SANs must equal the configured signer
identity.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import io
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from model_signing import hashing, verifying

from app.config import Settings
from secure_model_serving.serving_contract import VerifyMethod

# A key-signed bundle is a few kB; certificate chains add a few more.
MAX_SIGNATURE_BYTES = 4 * 1024 * 1024
_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
_HASH_ALGORITHM = "sha256"
_logger = logging.getLogger(__name__)


class ModelVerificationError(Exception):
    """The model directory is not covered by a valid signature."""


@dataclass(frozen=True)
class TrustAnchor:
    """What a signature must chain up to: a public key or a certificate chain."""

    method: VerifyMethod = VerifyMethod.KEY
    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] = ()
    signer_identity: str | None = None
    """Certificate mode: the leaf's subject (RFC 4514, e.g. ``CN=model signer``) or one of its SANs."""

    def __post_init__(self) -> None:
        if self.method == VerifyMethod.KEY and self.public_key is None:
            raise ValueError("key verification needs a public key")
        if self.method == VerifyMethod.CERTIFICATE and not self.certificate_chain:
            raise ValueError("certificate verification needs a non-empty chain")
        if self.method == VerifyMethod.CERTIFICATE and not self.signer_identity:
            raise ValueError("certificate verification needs the signer identity")
        if self.method not in set(VerifyMethod):
            raise ValueError(f"unknown verification method {self.method!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustAnchor:
        if settings.verify_method == VerifyMethod.CERTIFICATE:
            return cls(
                method=VerifyMethod.CERTIFICATE,
                certificate_chain=settings.certificate_chain,
                signer_identity=settings.signer_identity,
            )
        return cls(method=VerifyMethod.KEY, public_key=settings.model_public_key)


@dataclass(frozen=True)
class VerifiedManifest:
    """The signed list of files and their sha256 digests."""

    model_name: str
    digests: Mapping[str, str] = field(default_factory=dict)


def model_hashing_config() -> hashing.Config:
    """Hashing settings shared by signing and verification.

    sha256 per file, no symlinks, and nothing ignored -- not even ``.git``
    paths, which model_signing skips by default -- so any extra file fails.
    """
    return (
        hashing.Config()
        .use_file_serialization(hashing_algorithm=_HASH_ALGORITHM, allow_symlinks=False)
        .set_ignored_paths(paths=[], ignore_git_paths=False)
    )


def ensure_outside(signature_path: Path, model_dir: Path) -> None:
    """A signature inside the hashed tree would sign (or break) itself."""
    if signature_path.resolve().is_relative_to(model_dir.resolve()):
        raise ModelVerificationError("the signature file must not be inside the model directory")


def _verifying_config(trust: TrustAnchor) -> verifying.Config:
    config = verifying.Config().set_hashing_config(model_hashing_config())
    if trust.method == VerifyMethod.CERTIFICATE:
        return config.use_certificate_verifier(certificate_chain=list(trust.certificate_chain))
    if trust.public_key is None:
        raise ModelVerificationError("key verification needs a public key")
    return config.use_elliptic_key_verifier(public_key=trust.public_key)


def _read_signature(signature_path: Path) -> bytes:
    if not signature_path.is_file():
        raise ModelVerificationError(f"signature file not found: {signature_path}")
    try:
        with signature_path.open("rb") as handle:
            data = handle.read(MAX_SIGNATURE_BYTES + 1)
    except OSError as exc:  # e.g. a root-only file and a non-root server
        raise ModelVerificationError(f"cannot read signature file: {exc.strerror}") from exc
    if len(data) > MAX_SIGNATURE_BYTES:
        raise ModelVerificationError("signature file is implausibly large")
    return data


def _check_trust_files(trust: TrustAnchor) -> None:
    paths = [trust.public_key] if trust.public_key is not None else list(trust.certificate_chain)
    for path in paths:
        if not path.is_file():
            raise ModelVerificationError(f"trust material not found: {path}")


def parse_signed_manifest(signature: bytes) -> VerifiedManifest:
    """Extract file digests from a bundle (only call after it was verified)."""
    try:
        bundle = json.loads(signature)
        payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True))
        if payload["predicateType"] != _PREDICATE_TYPE:
            raise ModelVerificationError("unsupported signature predicate type")
        model_name = str(payload["subject"][0]["name"])
        digests = _resource_digests(payload["predicate"]["resources"])
    except (KeyError, IndexError, TypeError, ValueError, binascii.Error) as exc:
        raise ModelVerificationError(f"malformed signature payload: {exc}") from exc
    return VerifiedManifest(model_name=model_name, digests=digests)


def _resource_digests(resources: list[dict[str, Any]]) -> dict[str, str]:
    digests: dict[str, str] = {}
    for resource in resources:
        name = resource["name"]
        if resource["algorithm"] != _HASH_ALGORITHM:
            raise ModelVerificationError(f"unexpected digest algorithm for {name}")
        if name in digests:
            raise ModelVerificationError(f"duplicate manifest entry {name}")
        digests[name] = str(resource["digest"]).lower()
    return digests


def verify_model(
    model_dir: Path, signature_path: Path, trust: TrustAnchor, *, now: dt.datetime | None = None
) -> VerifiedManifest:
    """Verify ``model_dir`` against ``signature_path``; raise on any doubt.

    ``now`` is the time certificates must be valid at (the current time unless a test says).
    """
    model_dir, signature_path = Path(model_dir), Path(signature_path)
    if not model_dir.is_dir():
        raise ModelVerificationError(f"model directory not found: {model_dir}")
    ensure_outside(signature_path, model_dir)
    _check_trust_files(trust)
    signature = _read_signature(signature_path)
    # Verify a private copy: what we parse below is then exactly what was
    # checked, even if the file on disk is swapped in the meantime.
    with tempfile.TemporaryDirectory(prefix="model-sig-") as scratch:
        snapshot = Path(scratch) / "model.sig"
        snapshot.write_bytes(signature)
        # model_signing print()s some warnings; keep stdout pure JSON lines.
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                _verifying_config(trust).verify(model_dir, snapshot)
        except Exception as exc:  # model_signing raises many types; all mean "no".
            raise ModelVerificationError(f"signature verification failed: {exc}") from exc
        finally:
            _relay(printed.getvalue())
    if trust.method == VerifyMethod.CERTIFICATE:
        check_signer(signature, trust.signer_identity or "", now or dt.datetime.now(dt.UTC))
    return parse_signed_manifest(signature)


def bundle_certificates(signature: bytes) -> list[x509.Certificate]:
    """The certificates a certificate-signed bundle carries, the signing leaf first."""
    try:
        bundle = json.loads(signature)
        entries = bundle["verificationMaterial"]["x509CertificateChain"]["certificates"]
        certificates = [x509.load_der_x509_certificate(base64.b64decode(entry["rawBytes"])) for entry in entries]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ModelVerificationError(f"the signature carries no readable certificate chain: {exc}") from exc
    if not certificates:
        raise ModelVerificationError("the signature carries no signing certificate")
    return certificates


def check_signer(signature: bytes, identity: str, now: dt.datetime) -> None:
    """The signer is who settings name, may sign code, and every certificate is valid at ``now``."""
    certificates = bundle_certificates(signature)
    for certificate in certificates:
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise ModelVerificationError(
                f"certificate {certificate.subject.rfc4514_string()!r} is not valid now "
                f"(valid {certificate.not_valid_before_utc:%Y-%m-%d} to {certificate.not_valid_after_utc:%Y-%m-%d})"
            )
    leaf = certificates[0]
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = x509.ExtendedKeyUsage([])
    if ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        raise ModelVerificationError("the signing certificate lacks the code-signing extended key usage")
    if identity not in _identities(leaf):
        raise ModelVerificationError(f"the signing certificate is not the configured signer {identity!r}")


def _identities(certificate: x509.Certificate) -> set[str]:
    """Its subject as RFC 4514 text and each DNS, email and URI subject alternative name."""
    names = {certificate.subject.rfc4514_string()}
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return names
    for kind in (x509.DNSName, x509.RFC822Name, x509.UniformResourceIdentifier):
        names.update(san.get_values_for_type(kind))
    return names


def _relay(printed: str) -> None:
    if printed.strip():
        _logger.warning(
            "model_signing printed a message",
            extra={"event": "model_signing_output", "output": printed.strip()},
        )
