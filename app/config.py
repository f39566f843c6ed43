"""Runtime configuration contract of the model server image.

Everything the Kubernetes side needs to agree on (environment variable names,
defaults, port, probe paths, mount points, user id) is defined here once, as
plain constants, so the Pulumi components can import this module and never
re-type a path.  The module only uses the standard library on purpose.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# --- Environment variable names -------------------------------------------
ENV_MODEL_DIR = "MODEL_DIR"
ENV_MODEL_SIGNATURE = "MODEL_SIGNATURE"
ENV_MODEL_PUBLIC_KEY = "MODEL_PUBLIC_KEY"
ENV_MODEL_VERIFY_METHOD = "MODEL_VERIFY_METHOD"
ENV_MODEL_CERTIFICATE_CHAIN = "MODEL_CERTIFICATE_CHAIN"
ENV_PORT = "PORT"
ENV_MAX_BATCH_SIZE = "MAX_BATCH_SIZE"
ENV_MAX_REQUEST_BYTES = "MAX_REQUEST_BYTES"
ENV_LOG_LEVEL = "LOG_LEVEL"
ENV_WORKERS = "GUNICORN_WORKERS"
ENV_THREADS = "GUNICORN_THREADS"
ENV_TIMEOUT = "GUNICORN_TIMEOUT"
ENV_GRACEFUL_TIMEOUT = "GUNICORN_GRACEFUL_TIMEOUT"
ENV_REQUEST_READ_TIMEOUT = "REQUEST_READ_TIMEOUT"
ENV_MODEL_SIGNER_IDENTITY = "MODEL_SIGNER_IDENTITY"

# --- Defaults ----------------------------------------------------------------
# The model is baked into the image under /opt/model; the signature sits next
# to (not inside) the signed directory so it is never part of the hashed tree.
MODEL_ROOT = "/opt/model"
DEFAULT_MODEL_DIR = "/opt/model/current"
DEFAULT_MODEL_SIGNATURE = "/opt/model/model.sig"
# The public key is not baked in: Kubernetes mounts it from a ConfigMap whose
# key PUBLIC_KEY_FILENAME lands in PUBLIC_KEY_MOUNT_DIR.
PUBLIC_KEY_MOUNT_DIR = "/etc/model-signing"
PUBLIC_KEY_FILENAME = "public-key.pem"
DEFAULT_MODEL_PUBLIC_KEY = f"{PUBLIC_KEY_MOUNT_DIR}/{PUBLIC_KEY_FILENAME}"
VERIFY_METHOD_KEY = "key"
VERIFY_METHOD_CERTIFICATE = "certificate"
VERIFY_METHODS = (VERIFY_METHOD_KEY, VERIFY_METHOD_CERTIFICATE)
DEFAULT_VERIFY_METHOD = VERIFY_METHOD_KEY
DEFAULT_PORT = 8080
DEFAULT_MAX_BATCH_SIZE = 256
DEFAULT_MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4
DEFAULT_TIMEOUT_SECONDS = 30
# How long a stopping server finishes the requests it has (gunicorn's graceful_timeout).
DEFAULT_GRACEFUL_TIMEOUT_SECONDS = 20
# The whole time a client has to send one request, head and body, from its first byte (or from
# the connection's accept): a slow client is cut off with 408 after it, and never holds a thread.
DEFAULT_REQUEST_READ_TIMEOUT_SECONDS = 10

# EX_CONFIG from sysexits.h: the deployment handed the server something it must not run with.
EXIT_CONFIG = 78

# --- Files inside the signed model directory ---------------------------------
MODEL_FILENAME = "model.skops"
METADATA_FILENAME = "metadata.json"
SIGNED_FILES = (METADATA_FILENAME, MODEL_FILENAME)

# --- Pod / image facts --------------------------------------------------------
CONTAINER_PORT = DEFAULT_PORT
RUN_AS_USER = 10001
RUN_AS_GROUP = 10001
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
PREDICT_PATH = "/v1/predict"
# The only path the server writes to; mount an emptyDir here when the root
# filesystem is read-only.
WRITABLE_TMP_DIR = "/tmp"
# BuildKit secret id carrying the PEM private key at image build time.
BUILD_SECRET_ID = "model_signing_key"

# --- Hard bounds for operator-supplied values ---------------------------------
_BOUNDS: dict[str, tuple[int, int]] = {
    ENV_PORT: (1, 65535),
    ENV_MAX_BATCH_SIZE: (1, 10_000),
    ENV_MAX_REQUEST_BYTES: (1024, 16 * 1024 * 1024),
    ENV_WORKERS: (1, 64),
    ENV_THREADS: (1, 64),
    ENV_TIMEOUT: (1, 600),
    ENV_GRACEFUL_TIMEOUT: (1, 600),
    ENV_REQUEST_READ_TIMEOUT: (1, 120),
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """Raised when an environment variable holds an unusable value."""


@dataclass(frozen=True)
class Settings:
    """Validated server settings; build with :meth:`from_env`."""

    model_dir: Path = Path(DEFAULT_MODEL_DIR)
    model_signature: Path = Path(DEFAULT_MODEL_SIGNATURE)
    model_public_key: Path = Path(DEFAULT_MODEL_PUBLIC_KEY)
    verify_method: str = DEFAULT_VERIFY_METHOD
    certificate_chain: tuple[Path, ...] = ()
    port: int = DEFAULT_PORT
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    log_level: str = DEFAULT_LOG_LEVEL
    workers: int = DEFAULT_WORKERS
    threads: int = DEFAULT_THREADS
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    signer_identity: str | None = None
    graceful_timeout_seconds: int = DEFAULT_GRACEFUL_TIMEOUT_SECONDS
    request_read_timeout_seconds: int = DEFAULT_REQUEST_READ_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if self.verify_method not in VERIFY_METHODS:
            raise ConfigError(f"{ENV_MODEL_VERIFY_METHOD} must be one of {', '.join(VERIFY_METHODS)}")
        # An empty chain would make model_signing fall back to the public
        # web PKI roots, which must never vouch for our model.
        if self.verify_method == VERIFY_METHOD_CERTIFICATE and not self.certificate_chain:
            raise ConfigError(
                f"{ENV_MODEL_CERTIFICATE_CHAIN} is required when {ENV_MODEL_VERIFY_METHOD}={VERIFY_METHOD_CERTIFICATE}"
            )
        # A chain alone admits anyone the CA ever certified; the signer must be named too.
        if self.verify_method == VERIFY_METHOD_CERTIFICATE and not self.signer_identity:
            raise ConfigError(
                f"{ENV_MODEL_SIGNER_IDENTITY} (the signing certificate's subject or a SAN) is required "
                f"when {ENV_MODEL_VERIFY_METHOD}={VERIFY_METHOD_CERTIFICATE}"
            )
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"{ENV_LOG_LEVEL} must be one of {', '.join(_LOG_LEVELS)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate settings; unset variables take the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            model_dir=_path(env, ENV_MODEL_DIR, DEFAULT_MODEL_DIR),
            model_signature=_path(env, ENV_MODEL_SIGNATURE, DEFAULT_MODEL_SIGNATURE),
            model_public_key=_path(env, ENV_MODEL_PUBLIC_KEY, DEFAULT_MODEL_PUBLIC_KEY),
            verify_method=env.get(ENV_MODEL_VERIFY_METHOD, DEFAULT_VERIFY_METHOD).strip().lower(),
            certificate_chain=_path_list(env.get(ENV_MODEL_CERTIFICATE_CHAIN, "")),
            signer_identity=env.get(ENV_MODEL_SIGNER_IDENTITY, "").strip() or None,
            port=_int(env, ENV_PORT, DEFAULT_PORT),
            max_batch_size=_int(env, ENV_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_SIZE),
            max_request_bytes=_int(env, ENV_MAX_REQUEST_BYTES, DEFAULT_MAX_REQUEST_BYTES),
            log_level=env.get(ENV_LOG_LEVEL, DEFAULT_LOG_LEVEL).strip().upper(),
            workers=_int(env, ENV_WORKERS, DEFAULT_WORKERS),
            threads=_int(env, ENV_THREADS, DEFAULT_THREADS),
            timeout_seconds=_int(env, ENV_TIMEOUT, DEFAULT_TIMEOUT_SECONDS),
            graceful_timeout_seconds=_int(env, ENV_GRACEFUL_TIMEOUT, DEFAULT_GRACEFUL_TIMEOUT_SECONDS),
            request_read_timeout_seconds=_int(env, ENV_REQUEST_READ_TIMEOUT, DEFAULT_REQUEST_READ_TIMEOUT_SECONDS),
        )


def _path(env: Mapping[str, str], name: str, default: str) -> Path:
    raw = env.get(name, default).strip()
    if not raw:
        raise ConfigError(f"{name} must not be empty")
    return Path(raw)


def _path_list(raw: str) -> tuple[Path, ...]:
    # Colon separated like PATH; empty items are dropped.
    return tuple(Path(item) for item in raw.split(os.pathsep) if item.strip())


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    # Only plain decimal digits: no signs, underscores or exponents.
    if not text.isascii() or not text.isdigit():
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    value = int(text)
    low, high = _BOUNDS[name]
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value
