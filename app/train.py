"""Train the fraud model on synthetic data and write a model directory.

The directory holds exactly two files: ``model.skops`` (the estimator, written
with skops, never pickle) and ``metadata.json`` (feature order, version,
decision threshold and hold-out metrics).  Both are covered by the signature
produced by :mod:`app.sign`.

Usage::

    python -m app.train --out DIR [--samples N] [--seed S] [--max-iter N]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops
import skops.io
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split

from app.config import METADATA_FILENAME, MODEL_FILENAME
from app.features import FEATURE_NAMES

MODEL_NAME = "fraud-detector"
MODEL_VERSION = "1.0.0"
DEFAULT_SEED = 20240611
DEFAULT_SAMPLES = 20_000
DEFAULT_MAX_ITER = 100
# Share of fraudulent transactions in the synthetic population.
FRAUD_RATE = 0.03
# The earliest time a zip member can carry: the model file does not depend on when it was written.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKOPS_SCHEMA = "schema.json"


@dataclass(frozen=True)
class TrainedModel:
    """An estimator together with the metadata written next to it."""

    estimator: HistGradientBoostingClassifier
    metadata: dict[str, Any]


def make_dataset(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Imbalanced binary data set, one column per entry of FEATURE_NAMES."""
    features, labels = make_classification(
        n_samples=n_samples,
        n_features=len(FEATURE_NAMES),
        n_informative=6,
        n_redundant=2,
        n_repeated=0,
        n_clusters_per_class=2,
        weights=[1.0 - FRAUD_RATE],
        flip_y=0.005,
        class_sep=1.2,
        random_state=seed,
    )
    return features.astype(np.float64), labels.astype(np.int64)


def _best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    # The last precision/recall pair has no threshold attached.
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def split_dataset(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 80/20 split: ``x_train, x_holdout, y_train, y_holdout``."""
    features, labels = make_dataset(n_samples, seed)
    x_train, x_hold, y_train, y_hold = train_test_split(
        features, labels, test_size=0.2, stratify=labels, random_state=seed
    )
    return x_train, x_hold, y_train, y_hold


def train(
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    max_iter: int = DEFAULT_MAX_ITER,
) -> TrainedModel:
    """Fit the estimator and compute hold-out metrics."""
    x_train, x_hold, y_train, y_hold = split_dataset(n_samples, seed)
    estimator = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=0.1,
        max_leaf_nodes=31,
        early_stopping=False,
        random_state=seed,
    )
    estimator.fit(x_train, y_train)
    scores = estimator.predict_proba(x_hold)[:, 1]
    metadata = {
        "model_name": MODEL_NAME,
        "model_version": MODEL_VERSION,
        "feature_names": list(FEATURE_NAMES),
        # Tuned on the hold-out split, so the F1-optimal point is optimistic.
        "decision_threshold": _best_f1_threshold(y_hold, scores),
        "estimator": type(estimator).__name__,
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "training": {
            "generator": "sklearn.datasets.make_classification",
            "seed": seed,
            "n_samples": n_samples,
            "fraud_rate": float(np.concatenate([y_train, y_hold]).mean()),
            "max_iter": max_iter,
            "holdout_roc_auc": float(roc_auc_score(y_hold, scores)),
            "holdout_average_precision": float(average_precision_score(y_hold, scores)),
        },
    }
    return TrainedModel(estimator=estimator, metadata=metadata)


def save(trained: TrainedModel, out_dir: Path) -> Path:
    """Write the model directory; it must be new or empty so nothing stray gets signed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"model directory {out_dir} is not empty")
    (out_dir / MODEL_FILENAME).write_bytes(reproducible_zip(skops.io.dumps(trained.estimator)))
    (out_dir / METADATA_FILENAME).write_text(
        json.dumps(trained.metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return out_dir


def reproducible_zip(data: bytes) -> bytes:
    """The same skops archive with what depends on the writing process made canonical.

    skops names objects by ``id()`` (``__id__`` in schema.json and ``<id>.npy`` members) and stamps
    each member with the current time. Ids are renumbered in order of first appearance and every
    timestamp fixed, so the same seed gives the same bytes and a rebuild can be checked against a
    signature. References are kept: one id maps to one number everywhere.
    """
    numbers: dict[str, str] = {}

    def renumber(old: str) -> str:
        return numbers.setdefault(old, str(len(numbers)))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            result = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    value = int(renumber(str(value)))
                elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                    value = renumber(value.removesuffix(".npy")) + ".npy"
                else:
                    value = walk(value)
                result[key] = value
            return result
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        schema = json.dumps(walk(json.loads(source.read(_SKOPS_SCHEMA))), sort_keys=True).encode()
        members = {_SKOPS_SCHEMA: (schema, source.getinfo(_SKOPS_SCHEMA))}
        for member in source.infolist():
            if member.filename != _SKOPS_SCHEMA:
                stem = member.filename.removesuffix(".npy")
                if stem not in numbers:
                    raise ValueError(f"skops member {member.filename} is not referenced by its schema")
                members[numbers[stem] + ".npy"] = (source.read(member), member)
        for name in sorted(members):
            content, member = members[name]
            fixed = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            fixed.compress_type = member.compress_type
            fixed.external_attr = member.external_attr
            target.writestr(fixed, content)
    return out.getvalue()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.train", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="model directory to create")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--max-iter", type=int, default=DEFAULT_MAX_ITER)
    args = parser.parse_args(argv)
    if args.samples < 500 or args.max_iter < 1:
        parser.error("--samples must be >= 500 and --max-iter >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    trained = train(n_samples=args.samples, seed=args.seed, max_iter=args.max_iter)
    save(trained, args.out)
    summary = {
        "event": "model_trained",
        "out": str(args.out),
        **trained.metadata["training"],
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
