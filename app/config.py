"""The model server's settings, read from its environment and validated.

What the platform must agree on (the variables' names, the port, paths, mount
points, user and the bounds of each number) is the contract in
serving_contract.py, imported by the components too; this module reads the
environment by those names.  Standard library only, like the contract.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from secure_model_serving.serving_contract import (
    BOUNDS,
    GRACEFUL_TIMEOUT_SECONDS,
    MODEL_DIR,
    MODEL_SIGNATURE,
    PORT,
    PUBLIC_KEY_PATH,
    REQUEST_READ_TIMEOUT_SECONDS,
    ServerEnv,
    VerifyMethod,
)

# --- Defaults of the settings only the server itself uses -----------------------
DEFAULT_MAX_BATCH_SIZE = 256
DEFAULT_MAX_REQUEST_BYTES = 256 * 1024
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4
DEFAULT_TIMEOUT_SECONDS = 30

# EX_CONFIG from sysexits.h: the deployment handed the server something it must not run with.
EXIT_CONFIG = 78

# --- Files inside the signed model directory ---------------------------------
MODEL_FILENAME = "model.skops"
METADATA_FILENAME = "metadata.json"
SIGNED_FILES = (METADATA_FILENAME, MODEL_FILENAME)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """Raised when an environment variable holds an unusable value."""


@dataclass(frozen=True)
class Settings:
    """Validated server settings; build with :meth:`from_env`."""

    model_dir: Path = Path(MODEL_DIR)
    model_signature: Path = Path(MODEL_SIGNATURE)
    model_public_key: Path = Path(PUBLIC_KEY_PATH)
    verify_method: VerifyMethod = VerifyMethod.KEY
    certificate_chain: tuple[Path, ...] = ()
    port: int = PORT
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    log_level: str = DEFAULT_LOG_LEVEL
    workers: int = DEFAULT_WORKERS
    threads: int = DEFAULT_THREADS
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    signer_identity: str | None = None
    graceful_timeout_seconds: int = GRACEFUL_TIMEOUT_SECONDS
    request_read_timeout_seconds: int = REQUEST_READ_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        if self.verify_method not in set(VerifyMethod):
            raise ConfigError(f"{ServerEnv.MODEL_VERIFY_METHOD} must be one of {', '.join(VerifyMethod)}")
        object.__setattr__(self, "verify_method", VerifyMethod(self.verify_method))
        # An empty chain would make model_signing fall back to the public
        # web PKI roots, which must never vouch for our model.
        if self.verify_method == VerifyMethod.CERTIFICATE and not self.certificate_chain:
            raise ConfigError(
                f"{ServerEnv.MODEL_CERTIFICATE_CHAIN} is required when "
                f"{ServerEnv.MODEL_VERIFY_METHOD}={VerifyMethod.CERTIFICATE}"
            )
        # A chain alone admits anyone the CA ever certified; the signer must be named too.
        if self.verify_method == VerifyMethod.CERTIFICATE and not self.signer_identity:
            raise ConfigError(
                f"{ServerEnv.MODEL_SIGNER_IDENTITY} (the signing certificate's subject or a SAN) is required "
                f"when {ServerEnv.MODEL_VERIFY_METHOD}={VerifyMethod.CERTIFICATE}"
            )
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"{ServerEnv.LOG_LEVEL} must be one of {', '.join(_LOG_LEVELS)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate settings; unset variables take the defaults."""
        env = os.environ if environ is None else environ
        return cls(
            model_dir=_path(env, ServerEnv.MODEL_DIR, MODEL_DIR),
            model_signature=_path(env, ServerEnv.MODEL_SIGNATURE, MODEL_SIGNATURE),
            model_public_key=_path(env, ServerEnv.MODEL_PUBLIC_KEY, PUBLIC_KEY_PATH),
            verify_method=env.get(ServerEnv.MODEL_VERIFY_METHOD, VerifyMethod.KEY).strip().lower(),
            certificate_chain=_path_list(env.get(ServerEnv.MODEL_CERTIFICATE_CHAIN, "")),
            signer_identity=env.get(ServerEnv.MODEL_SIGNER_IDENTITY, "").strip() or None,
            port=_int(env, ServerEnv.PORT, PORT),
            max_batch_size=_int(env, ServerEnv.MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_SIZE),
            max_request_bytes=_int(env, ServerEnv.MAX_REQUEST_BYTES, DEFAULT_MAX_REQUEST_BYTES),
            log_level=env.get(ServerEnv.LOG_LEVEL, DEFAULT_LOG_LEVEL).strip().upper(),
            workers=_int(env, ServerEnv.WORKERS, DEFAULT_WORKERS),
            threads=_int(env, ServerEnv.THREADS, DEFAULT_THREADS),
            timeout_seconds=_int(env, ServerEnv.TIMEOUT, DEFAULT_TIMEOUT_SECONDS),
            graceful_timeout_seconds=_int(env, ServerEnv.GRACEFUL_TIMEOUT, GRACEFUL_TIMEOUT_SECONDS),
            request_read_timeout_seconds=_int(env, ServerEnv.REQUEST_READ_TIMEOUT, REQUEST_READ_TIMEOUT_SECONDS),
        )


def _path(env: Mapping[str, str], name: ServerEnv, default: str) -> Path:
    raw = env.get(name, default).strip()
    if not raw:
        raise ConfigError(f"{name} must not be empty")
    return Path(raw)


def _path_list(raw: str) -> tuple[Path, ...]:
    # Colon separated like PATH; empty items are dropped.
    return tuple(Path(item) for item in raw.split(os.pathsep) if item.strip())


def _int(env: Mapping[str, str], name: ServerEnv, default: int) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    # Only plain decimal digits: no signs, underscores or exponents.
    if not text.isascii() or not text.isdigit():
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    value = int(text)
    low, high = BOUNDS[name]
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value
