"""Load the signed fraud model, refusing anything unexpected.

Order of checks in :func:`load_verified_model`:

1. the directory verifies against the signature (``app.verify``);
2. the signed manifest lists exactly the files we expect;
3. each file is read once into memory and its sha256 must equal the signed
   digest, so the bytes we deserialise are the bytes that were verified;
4. the skops file may only contain default-trusted types plus the exact
   allow-list below (checked with ``get_untrusted_types`` before loading and
   enforced again by ``skops.io.loads(trusted=...)``);
5. the estimator and its metadata must match the server's feature schema.

scikit-learn and skops are imported only in step 4, so a refused model never
loads the ML stack and a refusing process exits quickly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import metadata as distribution_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import METADATA_FILENAME, MODEL_FILENAME, SIGNED_FILES, Settings
from app.features import FEATURE_NAMES
from app.verify import ModelVerificationError, TrustAnchor, verify_model

if TYPE_CHECKING:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

# Types outside skops' default-trusted set that a HistGradientBoostingClassifier
# needs.  Anything else reported by get_untrusted_types is refused.
EXPECTED_UNTRUSTED_TYPES: tuple[str, ...] = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


class ModelLoadError(Exception):
    """The model could not be verified or loaded; the server must not serve."""


class UntrustedTypesError(ModelLoadError):
    """The skops file references types outside the allow-list."""


@dataclass(frozen=True)
class ModelMetadata:
    """The parts of metadata.json the server relies on."""

    model_name: str
    model_version: str
    feature_names: tuple[str, ...]
    decision_threshold: float


@dataclass(frozen=True)
class LoadedModel:
    """A verified estimator ready to score feature matrices."""

    estimator: HistGradientBoostingClassifier
    metadata: ModelMetadata
    model_sha256: str

    def fraud_probability(self, matrix: np.ndarray) -> np.ndarray:
        """Probability of the fraud class for each row of ``matrix``."""
        return self.estimator.predict_proba(matrix)[:, 1]


def load_verified_model(settings: Settings) -> LoadedModel:
    """Verify the signature, then load; any failure raises ModelLoadError."""
    try:
        manifest = verify_model(
            settings.model_dir,
            settings.model_signature,
            TrustAnchor.from_settings(settings),
        )
    except ModelVerificationError as exc:
        raise ModelLoadError(str(exc)) from exc
    return load_model_dir(settings.model_dir, expected_digests=manifest.digests)


def load_unverified_model(model_dir: Path) -> LoadedModel:
    """Load without a signature check.  Only for benchmarks comparing overhead."""
    return load_model_dir(model_dir, expected_digests=None)


def load_model_dir(model_dir: Path, expected_digests: Mapping[str, str] | None) -> LoadedModel:
    """Load the two model files, binding them to ``expected_digests`` when given."""
    if expected_digests is not None and set(expected_digests) != set(SIGNED_FILES):
        raise ModelLoadError(f"signed file set {sorted(expected_digests)} differs from expected {list(SIGNED_FILES)}")
    model_bytes, model_sha256 = read_bound(Path(model_dir) / MODEL_FILENAME, expected_digests)
    metadata_bytes, _ = read_bound(Path(model_dir) / METADATA_FILENAME, expected_digests)
    metadata = parse_metadata(metadata_bytes)
    estimator = load_estimator(model_bytes)
    _check_estimator(estimator)
    return LoadedModel(estimator=estimator, metadata=metadata, model_sha256=model_sha256)


def read_bound(path: Path, expected_digests: Mapping[str, str] | None) -> tuple[bytes, str]:
    """Read a file once and bind it to its signed digest (the bytes that will be deserialised)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path.name}: {exc.strerror}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if expected_digests is not None and expected_digests.get(path.name) != digest:
        raise ModelLoadError(f"{path.name} changed after signature verification")
    return data, digest


def load_estimator(data: bytes, allowed: Collection[str] = EXPECTED_UNTRUSTED_TYPES) -> Any:
    """Deserialise skops bytes if every non-default type is in ``allowed``."""
    import skops.io  # deferred: see the module docstring

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # a corrupt zip/schema can raise nearly anything
        raise ModelLoadError(f"model file is not a readable skops archive: {exc}") from exc
    unexpected = sorted(set(untrusted) - set(allowed))
    if unexpected:
        raise UntrustedTypesError(f"model file contains untrusted types: {', '.join(unexpected)}")
    try:
        return skops.io.loads(data, trusted=list(allowed))
    except Exception as exc:
        raise ModelLoadError(f"model file could not be loaded: {exc}") from exc


def _check_estimator(estimator: Any) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier  # deferred like skops

    if not isinstance(estimator, HistGradientBoostingClassifier):
        raise ModelLoadError(f"unexpected estimator type {type(estimator).__name__}")
    if getattr(estimator, "n_features_in_", None) != len(FEATURE_NAMES):
        raise ModelLoadError("estimator was trained on a different number of features")
    # str() never raises, whatever the deserialised labels are.
    if [str(label) for label in getattr(estimator, "classes_", ())] != ["0", "1"]:
        raise ModelLoadError("estimator is not a binary 0/1 classifier")


def parse_metadata(data: bytes) -> ModelMetadata:
    """Validate metadata.json against the server's schema and library versions."""
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ModelLoadError("metadata.json is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise ModelLoadError("metadata.json must hold an object")
    if raw.get("feature_names") != list(FEATURE_NAMES):
        raise ModelLoadError("metadata feature_names differ from the server schema")
    # skops reconstructs objects field by field; a different scikit-learn may
    # silently mis-predict, so refuse instead of guessing.
    runtime_sklearn = _sklearn_version()
    if raw.get("sklearn_version") != runtime_sklearn:
        raise ModelLoadError(
            f"model built with scikit-learn {raw.get('sklearn_version')!r}, runtime has {runtime_sklearn}"
        )
    threshold = raw.get("decision_threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ModelLoadError("metadata decision_threshold must be a number")
    if not (math.isfinite(threshold) and 0.0 < threshold < 1.0):
        raise ModelLoadError("metadata decision_threshold must be in (0, 1)")
    name, version = raw.get("model_name"), raw.get("model_version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise ModelLoadError("metadata model_name/model_version must be strings")
    return ModelMetadata(
        model_name=name,
        model_version=version,
        feature_names=tuple(FEATURE_NAMES),
        decision_threshold=float(threshold),
    )


def _sklearn_version() -> str:
    # Read from the installed distribution so the check needs no sklearn import.
    try:
        return distribution_metadata.version("scikit-learn")
    except distribution_metadata.PackageNotFoundError as exc:
        raise ModelLoadError("scikit-learn is not installed") from exc
