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
import json
import sys
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
    skops.io.dump(trained.estimator, out_dir / MODEL_FILENAME)
    (out_dir / METADATA_FILENAME).write_text(
        json.dumps(trained.metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return out_dir


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
