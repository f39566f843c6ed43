"""The contract between the model server image (app/) and the platform that runs it (secure_model_serving/).

Everything both sides must agree on is written here once: the environment variables the server
reads, its port, user and group, its HTTP paths, where the verifier's key is mounted, and the
defaults and bounds of the settings the platform hands it. The server (app/config.py,
app/server.py, ...) and the components (tenant/workload.py, tenant/mesh_policies.py) import this
one file, so they cannot drift apart.

It uses only the standard library on purpose: the image copies it, with the package's empty
__init__, beside app/ (app/Dockerfile), so the server imports the same module as the library
without the image pulling in Pulumi or the library pulling in Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "BOUNDS",
    "BUILD_SECRET_ID",
    "GRACEFUL_TIMEOUT_SECONDS",
    "LIVENESS_PATH",
    "MODEL_DIR",
    "MODEL_ROOT",
    "MODEL_SIGNATURE",
    "PORT",
    "PREDICT_PATH",
    "PUBLIC_KEY_FILE",
    "PUBLIC_KEY_PATH",
    "READINESS_PATH",
    "REQUEST_READ_TIMEOUT_SECONDS",
    "RUN_AS_GROUP",
    "RUN_AS_USER",
    "VERIFIER_MOUNT_DIR",
    "WRITABLE_TMP_DIR",
    "ServerEnv",
    "VerifyMethod",
]


class ServerEnv(StrEnum):
    """The environment variables the model server reads (each optional: unset takes the default)."""

    MODEL_DIR = "MODEL_DIR"
    MODEL_SIGNATURE = "MODEL_SIGNATURE"
    MODEL_PUBLIC_KEY = "MODEL_PUBLIC_KEY"
    MODEL_VERIFY_METHOD = "MODEL_VERIFY_METHOD"
    MODEL_CERTIFICATE_CHAIN = "MODEL_CERTIFICATE_CHAIN"
    MODEL_SIGNER_IDENTITY = "MODEL_SIGNER_IDENTITY"
    PORT = "PORT"
    MAX_BATCH_SIZE = "MAX_BATCH_SIZE"
    MAX_REQUEST_BYTES = "MAX_REQUEST_BYTES"
    LOG_LEVEL = "LOG_LEVEL"
    WORKERS = "GUNICORN_WORKERS"
    THREADS = "GUNICORN_THREADS"
    TIMEOUT = "GUNICORN_TIMEOUT"
    GRACEFUL_TIMEOUT = "GUNICORN_GRACEFUL_TIMEOUT"
    REQUEST_READ_TIMEOUT = "REQUEST_READ_TIMEOUT"


class VerifyMethod(StrEnum):
    """How the server verifies the model's signature (`MODEL_VERIFY_METHOD`)."""

    KEY = "key"
    """Against the public key at `MODEL_PUBLIC_KEY` (the default)."""
    CERTIFICATE = "certificate"
    """Against a CA chain (`MODEL_CERTIFICATE_CHAIN`), accepting one named signer (`MODEL_SIGNER_IDENTITY`)."""


# --- the pod's shape ------------------------------------------------------------------------
PORT = 8080
"""The container port the server listens on (unprivileged)."""
RUN_AS_USER = 10001
"""The image's numeric user (its Dockerfile's USER); the pod runs as it."""
RUN_AS_GROUP = 10001
"""The image's numeric group."""
LIVENESS_PATH = "/healthz"
"""Answers while the process lives."""
READINESS_PATH = "/readyz"
"""Answers 200 only once the model was verified and loaded."""
PREDICT_PATH = "/v1/predict"
"""The one prediction endpoint (POST)."""
WRITABLE_TMP_DIR = "/tmp"
"""The only path the server writes to: an emptyDir under a read-only root filesystem."""

# --- the model and its verifier -------------------------------------------------------------
MODEL_ROOT = "/opt/model"
"""Where the image bakes the signed model in."""
MODEL_DIR = f"{MODEL_ROOT}/current"
"""The signed model directory (the default of `MODEL_DIR`)."""
MODEL_SIGNATURE = f"{MODEL_ROOT}/model.sig"
"""Its signature, beside (not inside) the signed tree (the default of `MODEL_SIGNATURE`)."""
VERIFIER_MOUNT_DIR = "/etc/model-signing"
"""The public key is not in the image: the platform mounts the verifier's files here."""
PUBLIC_KEY_FILE = "public-key.pem"
"""The public key's file name under VERIFIER_MOUNT_DIR."""
PUBLIC_KEY_PATH = f"{VERIFIER_MOUNT_DIR}/{PUBLIC_KEY_FILE}"
"""The default of `MODEL_PUBLIC_KEY`."""
BUILD_SECRET_ID = "model_signing_key"
"""The BuildKit secret carrying the PEM private key at image build time."""

# --- settings the platform hands the server -------------------------------------------------
REQUEST_READ_TIMEOUT_SECONDS = 10
"""Default of `REQUEST_READ_TIMEOUT`: the time a client has to send one whole request."""
GRACEFUL_TIMEOUT_SECONDS = 20
"""Default of `GUNICORN_GRACEFUL_TIMEOUT`: how long a stopping server finishes its requests."""

BOUNDS: Mapping[ServerEnv, tuple[int, int]] = MappingProxyType(
    {
        ServerEnv.PORT: (1, 65535),
        ServerEnv.MAX_BATCH_SIZE: (1, 10_000),
        ServerEnv.MAX_REQUEST_BYTES: (1024, 16 * 1024 * 1024),
        ServerEnv.WORKERS: (1, 64),
        ServerEnv.THREADS: (1, 64),
        ServerEnv.TIMEOUT: (1, 600),
        ServerEnv.GRACEFUL_TIMEOUT: (1, 600),
        ServerEnv.REQUEST_READ_TIMEOUT: (1, 120),
    }
)
"""The inclusive range the server accepts for each integer setting; it refuses to start outside it."""
