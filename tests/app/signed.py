"""Signed model directories for tests, and the ways a test may tamper with one."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.config import METADATA_FILENAME, MODEL_FILENAME, Settings

TEST_MAX_BATCH = 32
TEST_MAX_BYTES = 32 * 1024


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


@dataclass(frozen=True)
class SignedModel:
    """A model directory with its signature next to it (outside it)."""

    model_dir: Path
    signature: Path
    public_key: Path

    def settings(self, **overrides: Any) -> Settings:
        base = Settings(
            model_dir=self.model_dir,
            model_signature=self.signature,
            model_public_key=self.public_key,
            max_batch_size=TEST_MAX_BATCH,
            max_request_bytes=TEST_MAX_BYTES,
        )
        return replace(base, **overrides)

    def env(self) -> dict[str, str]:
        """The production entry point's environment variables for this model."""
        return {
            "MODEL_DIR": str(self.model_dir),
            "MODEL_SIGNATURE": str(self.signature),
            "MODEL_PUBLIC_KEY": str(self.public_key),
        }


def copy_signed(source: SignedModel, root: Path) -> SignedModel:
    """A private copy under ``root`` that may be tampered with."""
    model_dir = root / "model" / "current"
    shutil.copytree(source.model_dir, model_dir)
    signature = root / "model" / "model.sig"
    shutil.copyfile(source.signature, signature)
    return SignedModel(model_dir=model_dir, signature=signature, public_key=source.public_key)


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Invert the lowest bit of one byte (the middle one by default)."""
    data = bytearray(path.read_bytes())
    index = len(data) // 2 if offset is None else offset
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def _missing_signature(model: SignedModel, other_key: Path) -> SignedModel:
    model.signature.unlink()
    return model


def _wrong_key(model: SignedModel, other_key: Path) -> SignedModel:
    return replace(model, public_key=other_key)


def _flipped_model_byte(model: SignedModel, other_key: Path) -> SignedModel:
    flip_byte(model.model_dir / MODEL_FILENAME)
    return model


def _flipped_metadata_byte(model: SignedModel, other_key: Path) -> SignedModel:
    flip_byte(model.model_dir / METADATA_FILENAME)
    return model


def _extra_file(model: SignedModel, other_key: Path) -> SignedModel:
    (model.model_dir / "extra.bin").write_bytes(b"\x00")
    return model


def _extra_git_file(model: SignedModel, other_key: Path) -> SignedModel:
    # model_signing skips .git paths unless told not to; we tell it not to.
    (model.model_dir / ".git").mkdir()
    (model.model_dir / ".git" / "config").write_text("[core]\n")
    return model


def _removed_file(model: SignedModel, other_key: Path) -> SignedModel:
    (model.model_dir / METADATA_FILENAME).unlink()
    return model


def _extra_symlink(model: SignedModel, other_key: Path) -> SignedModel:
    (model.model_dir / "alias.skops").symlink_to(MODEL_FILENAME)
    return model


def _truncated_signature(model: SignedModel, other_key: Path) -> SignedModel:
    data = model.signature.read_bytes()
    model.signature.write_bytes(data[: len(data) // 2])
    return model


def _forged_manifest(model: SignedModel, other_key: Path) -> SignedModel:
    # Change the model, then rewrite the signed statement so that it lists
    # the new digest: only the DSSE signature can tell.
    path = model.model_dir / MODEL_FILENAME
    flip_byte(path)
    bundle = json.loads(model.signature.read_bytes())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    for resource in statement["predicate"]["resources"]:
        if resource["name"] == MODEL_FILENAME:
            resource["digest"] = hashlib.sha256(path.read_bytes()).hexdigest()
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    model.signature.write_text(json.dumps(bundle))
    return model


def _signature_inside_model_dir(model: SignedModel, other_key: Path) -> SignedModel:
    inside = model.model_dir / "model.sig"
    model.signature.rename(inside)
    return replace(model, signature=inside)


Tampering = Callable[[SignedModel, Path], SignedModel]

# The refusal cases of the issue first, then further ways to break a model.
TAMPERINGS: dict[str, Tampering] = {
    "missing-signature": _missing_signature,
    "wrong-key": _wrong_key,
    "flipped-model-byte": _flipped_model_byte,
    "extra-file": _extra_file,
    "removed-file": _removed_file,
    "flipped-metadata-byte": _flipped_metadata_byte,
    "extra-git-file": _extra_git_file,
    "extra-symlink": _extra_symlink,
    "truncated-signature": _truncated_signature,
    "forged-manifest": _forged_manifest,
    "signature-inside-model-dir": _signature_inside_model_dir,
}
ISSUE_CASES = ("missing-signature", "wrong-key", "flipped-model-byte", "extra-file", "removed-file")
