"""Session fixtures: a small trained model, EC keys, a signed model directory.

The ML stack is imported inside the fixtures, not at module level: with
pytest-xdist the controller process loads this file but runs no test, and
should not spend seconds importing scikit-learn for nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.app.signed import KeyPair, SignedModel, copy_signed

if TYPE_CHECKING:
    import numpy as np
    from flask import Flask
    from flask.testing import FlaskClient

    from app.model_loader import LoadedModel
    from app.train import TrainedModel

# Small enough to train in a fraction of a second.
SMALL_SAMPLES = 3000
SMALL_MAX_ITER = 25


@pytest.fixture(scope="session", autouse=True)
def _single_threaded_native_code() -> Iterator[None]:
    # OpenMP workers spin while waiting; on a busy two-core runner that makes
    # training and scoring several times slower than one thread.  Importing
    # scikit-learn first loads its OpenMP runtime, so the limit applies to it.
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def trained() -> TrainedModel:
    from app.train import DEFAULT_SEED, train

    return train(n_samples=SMALL_SAMPLES, seed=DEFAULT_SEED, max_iter=SMALL_MAX_ITER)


@pytest.fixture(scope="session")
def holdout() -> tuple[np.ndarray, np.ndarray]:
    """The rows the session model was not trained on, and their labels."""
    from app.train import DEFAULT_SEED, split_dataset

    _, x_hold, _, y_hold = split_dataset(SMALL_SAMPLES, DEFAULT_SEED)
    return x_hold, y_hold


def _keypair(directory: Path) -> KeyPair:
    from app.keygen import generate_ec_keypair

    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(private=directory / "private.pem", public=directory / "public.pem")
    generate_ec_keypair(pair.private, pair.public)
    return pair


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return _keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """A valid key pair that did not sign anything here."""
    return _keypair(tmp_path_factory.mktemp("other-keys"))


@pytest.fixture(scope="session")
def signed_model(tmp_path_factory: pytest.TempPathFactory, trained: TrainedModel, keys: KeyPair) -> SignedModel:
    from app.sign import sign_model
    from app.train import save

    root = tmp_path_factory.mktemp("signed")
    model_dir = save(trained, root / "current")
    signature = sign_model(model_dir, root / "model.sig", keys.private)
    return SignedModel(model_dir=model_dir, signature=signature, public_key=keys.public)


@pytest.fixture
def signed_copy(tmp_path: Path, signed_model: SignedModel) -> SignedModel:
    """A private copy of the signed model that a test may tamper with."""
    return copy_signed(signed_model, tmp_path)


@pytest.fixture(scope="session")
def loaded_model(signed_model: SignedModel) -> LoadedModel:
    from app.model_loader import load_verified_model

    return load_verified_model(signed_model.settings())


@pytest.fixture(scope="session")
def app(signed_model: SignedModel) -> Flask:
    from app.server import create_app

    return create_app(signed_model.settings())


@pytest.fixture(scope="session")
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client
