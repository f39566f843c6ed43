"""Loading a verified model: the skops type allow-list and the metadata checks."""

from __future__ import annotations

import copy
import io
import json
import os
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from app.config import METADATA_FILENAME, MODEL_FILENAME
from app.features import FEATURE_NAMES
from app.keygen import generate_ec_keypair
from app.model_loader import (
    EXPECTED_UNTRUSTED_TYPES,
    ModelLoadError,
    UntrustedTypesError,
    load_estimator,
    load_verified_model,
    parse_metadata,
)
from app.server import create_app
from app.sign import sign_model
from app.train import TrainedModel
from tests.app.signed import SignedModel


def _resign(model: SignedModel, estimator_bytes: bytes, tmp_path: Path) -> SignedModel:
    """Replace the estimator and sign the result with a fresh, trusted key."""
    (model.model_dir / MODEL_FILENAME).write_bytes(estimator_bytes)
    private, public = tmp_path / "signer.pem", tmp_path / "signer.pub"
    generate_ec_keypair(private, public)
    sign_model(model.model_dir, model.signature, private)
    return SignedModel(model_dir=model.model_dir, signature=model.signature, public_key=public)


def test_allow_list_is_exactly_what_the_trained_model_needs(trained: TrainedModel) -> None:
    data = skops.io.dumps(trained.estimator)
    assert sorted(skops.io.get_untrusted_types(data=data)) == sorted(EXPECTED_UNTRUSTED_TYPES)


def test_a_smuggled_function_is_refused_before_loading(trained: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real estimator with one extra attribute pointing at os.system.
    estimator = copy.deepcopy(trained.estimator)
    estimator.on_predict = os.system
    data = skops.io.dumps(estimator)

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("skops.io.loads must not run on an untrusted file")

    monkeypatch.setattr(skops.io, "loads", never)
    with pytest.raises(UntrustedTypesError, match="system"):
        load_estimator(data)


def test_a_correctly_signed_model_with_untrusted_types_is_still_refused(
    signed_copy: SignedModel, trained: TrainedModel, tmp_path: Path
) -> None:
    estimator = copy.deepcopy(trained.estimator)
    estimator.on_predict = os.system
    model = _resign(signed_copy, skops.io.dumps(estimator), tmp_path)
    with pytest.raises(UntrustedTypesError):
        load_verified_model(model.settings())
    assert create_app(model.settings()).test_client().get("/readyz").status_code == 503


def test_a_trusted_but_unexpected_estimator_is_refused(signed_copy: SignedModel, tmp_path: Path) -> None:
    # skops trusts LogisticRegression by default; the server still wants its model class.
    features = np.random.default_rng(0).normal(size=(40, len(FEATURE_NAMES)))
    other = LogisticRegression().fit(features, (features[:, 0] > 0).astype(int))
    model = _resign(signed_copy, skops.io.dumps(other), tmp_path)
    with pytest.raises(ModelLoadError, match="unexpected estimator type"):
        load_verified_model(model.settings())


def test_bytes_that_are_not_a_skops_archive_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="not a readable skops archive"):
        load_estimator(b"\x80\x04\x95 definitely not a zip")


def test_the_saved_model_contains_no_pickle(signed_model: SignedModel) -> None:
    archive = zipfile.ZipFile(io.BytesIO((signed_model.model_dir / MODEL_FILENAME).read_bytes()))
    names = archive.namelist()
    assert "schema.json" in names
    assert {name.rsplit(".", 1)[-1] for name in names} <= {"json", "npy"}
    for name in names:
        if name.endswith(".npy"):
            np.load(io.BytesIO(archive.read(name)), allow_pickle=False)


def _metadata(signed_model: SignedModel) -> dict[str, Any]:
    return json.loads((signed_model.model_dir / METADATA_FILENAME).read_text())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sklearn_version", "0.24.2", "scikit-learn"),
        ("feature_names", list(reversed(FEATURE_NAMES)), "feature_names"),
        ("decision_threshold", 1.5, "decision_threshold"),
        ("decision_threshold", True, "decision_threshold"),
        ("decision_threshold", "0.5", "decision_threshold"),
        ("model_version", 1, "model_version"),
    ],
)
def test_metadata_that_does_not_match_the_server_is_refused(
    signed_model: SignedModel, field: str, value: Any, message: str
) -> None:
    raw = _metadata(signed_model) | {field: value}
    with pytest.raises(ModelLoadError, match=message):
        parse_metadata(json.dumps(raw).encode())


def test_metadata_of_the_trained_model_is_accepted(signed_model: SignedModel) -> None:
    parsed = parse_metadata((signed_model.model_dir / METADATA_FILENAME).read_bytes())
    assert parsed.feature_names == FEATURE_NAMES
    assert _metadata(signed_model)["sklearn_version"] == metadata.version("scikit-learn")
