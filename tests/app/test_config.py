"""The server reads its environment by the contract's names (serving_contract), with its defaults and bounds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import secure_model_serving.serving_contract as contract
from app.config import ConfigError, Settings
from secure_model_serving.serving_contract import ServerEnv

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_documented_contract() -> None:
    settings = Settings.from_env({})
    assert settings.model_dir == Path("/opt/model/current")
    assert settings.model_signature == Path("/opt/model/model.sig")
    assert settings.model_public_key == Path("/etc/model-signing/public-key.pem")
    assert settings.verify_method == "key"
    assert settings.port == 8080 == contract.PORT
    assert settings.max_batch_size == 256
    assert settings.max_request_bytes == 256 * 1024


def test_public_key_default_is_mount_dir_plus_configmap_key() -> None:
    assert f"{contract.VERIFIER_MOUNT_DIR}/{contract.PUBLIC_KEY_FILE}" == contract.PUBLIC_KEY_PATH


def test_default_signature_is_outside_default_model_dir() -> None:
    signature = Path(contract.MODEL_SIGNATURE)
    model_dir = Path(contract.MODEL_DIR)
    assert not signature.is_relative_to(model_dir)
    assert model_dir.is_relative_to(contract.MODEL_ROOT)


def test_environment_overrides_every_field() -> None:
    env = {
        "MODEL_DIR": "/m",
        "MODEL_SIGNATURE": "/s.sig",
        "MODEL_PUBLIC_KEY": "/k.pem",
        "MODEL_VERIFY_METHOD": "certificate",
        "MODEL_CERTIFICATE_CHAIN": "/a.pem:/b.pem",
        "MODEL_SIGNER_IDENTITY": " CN=model signer ",
        "PORT": "9000",
        "MAX_BATCH_SIZE": "10",
        "MAX_REQUEST_BYTES": "2048",
        "LOG_LEVEL": "debug",
        "GUNICORN_WORKERS": "3",
        "GUNICORN_THREADS": "5",
        "GUNICORN_TIMEOUT": "7",
        "GUNICORN_GRACEFUL_TIMEOUT": "11",
        "REQUEST_READ_TIMEOUT": "4",
    }
    assert set(env) == set(ServerEnv)  # every name of the contract is one the server reads
    settings = Settings.from_env(env)
    assert settings.model_dir == Path("/m")
    assert settings.model_signature == Path("/s.sig")
    assert settings.model_public_key == Path("/k.pem")
    assert settings.certificate_chain == (Path("/a.pem"), Path("/b.pem"))
    assert (settings.port, settings.max_batch_size, settings.max_request_bytes) == (
        9000,
        10,
        2048,
    )
    assert (settings.workers, settings.threads, settings.timeout_seconds) == (3, 5, 7)
    assert (settings.graceful_timeout_seconds, settings.request_read_timeout_seconds) == (11, 4)
    assert settings.signer_identity == "CN=model signer"
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("PORT", "80.5"),
        ("PORT", "1e3"),
        ("MAX_BATCH_SIZE", "0"),
        ("MAX_BATCH_SIZE", "1_000"),
        ("MAX_REQUEST_BYTES", "10"),
        ("GUNICORN_WORKERS", "abc"),
        ("LOG_LEVEL", "loud"),
        ("MODEL_VERIFY_METHOD", "none"),
        ("MODEL_DIR", "  "),
        ("REQUEST_READ_TIMEOUT", "0"),
        ("REQUEST_READ_TIMEOUT", "121"),
        ("GUNICORN_GRACEFUL_TIMEOUT", "0"),
    ],
)
def test_invalid_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({name: value})


def test_certificate_mode_requires_a_chain() -> None:
    with pytest.raises(ConfigError, match="MODEL_CERTIFICATE_CHAIN"):
        Settings.from_env({"MODEL_VERIFY_METHOD": "certificate", "MODEL_SIGNER_IDENTITY": "CN=signer"})


@pytest.mark.parametrize("identity", [None, "", "   "])
def test_certificate_mode_requires_the_signer_identity(identity: str | None) -> None:
    env = {"MODEL_VERIFY_METHOD": "certificate", "MODEL_CERTIFICATE_CHAIN": "/root.pem"}
    if identity is not None:
        env["MODEL_SIGNER_IDENTITY"] = identity
    with pytest.raises(ConfigError, match="MODEL_SIGNER_IDENTITY"):
        Settings.from_env(env)


def test_config_module_imports_only_the_standard_library() -> None:
    # The Pulumi side imports app.config; it must not drag in the ML stack.
    code = (
        "import sys, app.config; "
        "heavy = {'flask', 'numpy', 'sklearn', 'skops', 'model_signing'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"
