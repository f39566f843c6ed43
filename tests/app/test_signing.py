"""Model signing and verification: what is accepted, and every tampering that is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from app.config import METADATA_FILENAME, MODEL_FILENAME, SIGNED_FILES, Settings
from app.model_loader import ModelLoadError, load_model_dir, load_verified_model
from app.server import EXIT_MODEL_REFUSED, create_app, create_production_app
from app.sign import sign_model
from app.verify import ModelVerificationError, TrustAnchor, verify_model
from secure_model_serving.serving_contract import VerifyMethod
from tests.app.payloads import transaction
from tests.app.signed import TAMPERINGS, KeyPair, SignedModel, flip_byte
from tests.support.pki import SIGNER_SAN, make_pki


def test_signed_model_verifies_and_the_manifest_lists_the_real_digests(signed_model: SignedModel) -> None:
    trust = TrustAnchor(public_key=signed_model.public_key)
    manifest = verify_model(signed_model.model_dir, signed_model.signature, trust)
    expected = {name: hashlib.sha256((signed_model.model_dir / name).read_bytes()).hexdigest() for name in SIGNED_FILES}
    assert dict(manifest.digests) == expected


def test_signature_is_readable_by_a_non_root_runtime_user(signed_model: SignedModel) -> None:
    # The image is built as root and served as UID 10001.
    mode = stat.S_IMODE(signed_model.signature.stat().st_mode)
    assert mode & stat.S_IROTH
    assert not mode & (stat.S_IWGRP | stat.S_IWOTH)


def test_an_untouched_copy_is_served(signed_copy: SignedModel) -> None:
    # The baseline of the tampering cases below: only the tampering differs.
    client = create_app(signed_copy.settings()).test_client()
    assert client.get("/readyz").status_code == 200
    assert client.post("/v1/predict", json={"transactions": [transaction()]}).status_code == 200


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_tampered_model_is_refused_and_never_served(case: str, signed_copy: SignedModel, other_keys: KeyPair) -> None:
    tampered = TAMPERINGS[case](signed_copy, other_keys.public)
    with pytest.raises(ModelLoadError):
        load_verified_model(tampered.settings())

    client = create_app(tampered.settings()).test_client()
    assert client.get("/readyz").status_code == 503
    response = client.post("/v1/predict", json={"transactions": [transaction()]})
    assert response.status_code == 503
    assert "predictions" not in response.get_json()
    assert client.get("/readyz").status_code == 503


def test_production_factory_fails_closed(signed_copy: SignedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    flip_byte(signed_copy.model_dir / MODEL_FILENAME)
    for name, value in signed_copy.env().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        create_production_app()
    assert exited.value.code == EXIT_MODEL_REFUSED


def test_bytes_changed_after_verification_are_not_loaded(signed_copy: SignedModel) -> None:
    # Verification reads the files once, the loader a second time: the loader
    # must bind what it deserialises to the signed digests.
    trust = TrustAnchor(public_key=signed_copy.public_key)
    manifest = verify_model(signed_copy.model_dir, signed_copy.signature, trust)
    flip_byte(signed_copy.model_dir / MODEL_FILENAME)
    with pytest.raises(ModelLoadError, match="changed after signature verification"):
        load_model_dir(signed_copy.model_dir, expected_digests=manifest.digests)


def test_signing_refuses_to_write_the_signature_into_the_model_dir(signed_copy: SignedModel, keys: KeyPair) -> None:
    with pytest.raises(ModelVerificationError, match="must not be inside"):
        sign_model(signed_copy.model_dir, signed_copy.model_dir / "model.sig", keys.private)
    assert sorted(path.name for path in signed_copy.model_dir.iterdir()) == sorted(SIGNED_FILES)


def test_a_bundle_without_key_hint_still_verifies_and_stdout_stays_json(
    signed_copy: SignedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    # The key hint is unsigned metadata; model_signing print()s a warning
    # without it, which must not reach stdout as plain text.
    bundle = json.loads(signed_copy.signature.read_bytes())
    del bundle["verificationMaterial"]["publicKey"]["hint"]
    signed_copy.signature.write_text(json.dumps(bundle))
    assert create_app(signed_copy.settings()).test_client().get("/readyz").status_code == 200
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert "model_signing_output" in events
    assert "model_loaded" in events


# --- certificate-based signing ----------------------------------------------


SIGNER = "CN=test model signer"


def _cert_settings(model: SignedModel, root: Path, identity: str) -> Settings:
    return model.settings(verify_method=VerifyMethod.CERTIFICATE, certificate_chain=(root,), signer_identity=identity)


def _certificate_signed(
    model: SignedModel, tmp_path: Path, *, signer_usage: bool = True, **leaf: Any
) -> tuple[SignedModel, Path]:
    pki = make_pki(tmp_path / "pki", "test", signer_usage=signer_usage, **leaf)
    signature = sign_model(
        model.model_dir,
        model.signature,
        pki.leaf_key,
        signing_certificate=pki.leaf_cert,
        certificate_chain=[pki.intermediate_cert],
    )
    return SignedModel(model_dir=model.model_dir, signature=signature, public_key=model.public_key), pki.root_cert


def test_certificate_signed_model_verifies_against_its_root(signed_copy: SignedModel, tmp_path: Path) -> None:
    model, root = _certificate_signed(signed_copy, tmp_path)
    settings = _cert_settings(model, root, SIGNER)
    assert load_verified_model(settings).metadata.feature_names


def test_certificate_from_another_hierarchy_is_refused(signed_copy: SignedModel, tmp_path: Path) -> None:
    model, _ = _certificate_signed(signed_copy, tmp_path)
    foreign_root = make_pki(tmp_path / "foreign", "foreign").root_cert
    settings = _cert_settings(model, foreign_root, SIGNER)
    with pytest.raises(ModelLoadError):
        load_verified_model(settings)


# model_signing itself still calls the deprecated Logger.warn on this path.
@pytest.mark.filterwarnings("ignore:The 'warn' method is deprecated:DeprecationWarning")
def test_certificate_without_signing_usage_is_refused(signed_copy: SignedModel, tmp_path: Path) -> None:
    model, root = _certificate_signed(signed_copy, tmp_path, signer_usage=False)
    settings = _cert_settings(model, root, SIGNER)
    with pytest.raises(ModelLoadError, match="cannot be used for signing"):
        load_verified_model(settings)


def test_certificate_signed_model_detects_a_flipped_byte(signed_copy: SignedModel, tmp_path: Path) -> None:
    model, root = _certificate_signed(signed_copy, tmp_path)
    flip_byte(model.model_dir / METADATA_FILENAME)
    settings = _cert_settings(model, root, SIGNER)
    client = create_app(settings).test_client()
    assert client.get("/readyz").status_code == 503


# What a model signer is: code signing, the named identity, valid now.

_NOW = dt.datetime.now(dt.UTC)
_DAY = dt.timedelta(days=1)


@pytest.mark.parametrize("identity", [SIGNER, SIGNER_SAN], ids=["subject", "san"])
def test_the_named_signer_is_admitted_by_subject_or_san(
    signed_copy: SignedModel, tmp_path: Path, identity: str
) -> None:
    model, root = _certificate_signed(signed_copy, tmp_path)
    settings = _cert_settings(model, root, identity)
    assert load_verified_model(settings).metadata.model_name


@pytest.mark.parametrize(
    ("leaf", "identity", "reason"),
    [
        pytest.param({"leaf_usage": ExtendedKeyUsageOID.SERVER_AUTH}, SIGNER, "code-signing", id="tls-server-cert"),
        pytest.param({"leaf_window": (_NOW - 30 * _DAY, _NOW - _DAY)}, SIGNER, "not valid now", id="expired-leaf"),
        pytest.param({"leaf_window": (_NOW + _DAY, _NOW + 30 * _DAY)}, SIGNER, "not valid now", id="not-yet-valid"),
        pytest.param({}, "CN=someone else", "not the configured signer", id="wrong-subject"),
        pytest.param({}, "other@example.test", "not the configured signer", id="wrong-san"),
        pytest.param({}, "test model signer", "not the configured signer", id="bare-common-name"),
    ],
)
def test_a_certificate_that_is_not_the_named_current_code_signer_is_refused(
    signed_copy: SignedModel, tmp_path: Path, leaf: dict[str, Any], identity: str, reason: str
) -> None:
    model, root = _certificate_signed(signed_copy, tmp_path, **leaf)
    settings = _cert_settings(model, root, identity)
    with pytest.raises(ModelLoadError, match=reason):
        load_verified_model(settings)
    assert create_app(settings).test_client().get("/readyz").status_code == 503
