"""The training script's output directory and the key generator."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import METADATA_FILENAME, SIGNED_FILES
from app.features import FEATURE_NAMES
from app.keygen import generate_ec_keypair
from app.train import TrainedModel, save
from tests.app.signed import SignedModel

REPO_ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("existing", ["key.pem", "key.pub", "both"])
def test_keygen_never_overwrites_either_key_and_says_so(tmp_path: Path, existing: str) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    present = [private, public] if existing == "both" else [tmp_path / existing]
    for path in present:
        path.write_text("existing")
    result = subprocess.run(
        [sys.executable, "-m", "app.keygen", "--private-key", str(private), "--public-key", str(public)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to overwrite existing key file(s)" in result.stderr
    assert "Traceback" not in result.stderr
    for path in present:
        assert path.read_text() == "existing"
    # Nothing half-written: the file that did not exist still does not.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in present)


def test_keygen_command_writes_both_keys(tmp_path: Path) -> None:
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    args = ["--private-key", str(private), "--public-key", str(public)]
    subprocess.run([sys.executable, "-m", "app.keygen", *args], cwd=REPO_ROOT, check=True, capture_output=True)
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert serialization.load_pem_public_key(public.read_bytes()) == key.public_key()


def test_the_model_artifact_is_reproducible_byte_for_byte(tmp_path: Path) -> None:
    # Two trainings from the same seed (in two fresh processes, so nothing is shared) write
    # identical directories: a build can be re-run and its signature checked against the first.
    outputs = []
    for run in ("first", "second"):
        out = tmp_path / run
        command = [sys.executable, "-m", "app.train", "--out", str(out), "--samples", "2000", "--max-iter", "10"]
        subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True)
        outputs.append({path.name: path.read_bytes() for path in sorted(out.iterdir())})
    assert sorted(outputs[0]) == sorted(SIGNED_FILES)
    assert outputs[0] == outputs[1]
