"""The training script's output directory and the key generator."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import METADATA_FILENAME, SIGNED_FILES
from app.features import FEATURE_NAMES
from app.keygen import generate_ec_keypair
from app.train import TrainedModel, save
from tests.app.signed import SignedModel


def test_model_directory_holds_exactly_the_signed_files(signed_model: SignedModel) -> None:
    assert sorted(path.name for path in signed_model.model_dir.iterdir()) == sorted(SIGNED_FILES)


def test_metadata_records_schema_and_a_model_that_learned(signed_model: SignedModel) -> None:
    metadata = json.loads((signed_model.model_dir / METADATA_FILENAME).read_text())
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert 0.0 < metadata["decision_threshold"] < 1.0
    assert metadata["training"]["holdout_roc_auc"] > 0.9
    assert 0.01 < metadata["training"]["fraud_rate"] < 0.1


def test_save_refuses_a_non_empty_directory(trained: TrainedModel, tmp_path: Path) -> None:
    (tmp_path / "stray.txt").write_text("would be signed too")
    with pytest.raises(FileExistsError):
        save(trained, tmp_path)


def test_keygen_writes_a_private_p256_key_only_the_owner_can_read(tmp_path: Path) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    generate_ec_keypair(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert serialization.load_pem_public_key(public.read_bytes()) == key.public_key()


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    private.write_text("existing")
    with pytest.raises(FileExistsError):
        generate_ec_keypair(private, public)
    assert private.read_text() == "existing"
