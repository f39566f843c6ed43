"""The production entry point as a real process: gunicorn with app/gunicorn.conf.py.

Tampered models make it exit non-zero before it ever listens.  One tampering
runs as a real gunicorn process; every issue case is also loaded in this
process the way gunicorn's master preloads the app (``gunicorn.util.import_app``
on the config's ``wsgi_app``), since each real start pays about a second of
imports before it refuses.  A signed model is served on 127.0.0.1; when the
machine allows it (see the ``gunicorn_server`` fixture) the server runs with a
read-only root filesystem, only /tmp writable, as the runtime UID/GID, and the
test checks that too.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gunicorn.util import import_app

from app.model_loader import LoadedModel
from app.server import EXIT_MODEL_REFUSED
from secure_model_serving.serving_contract import RUN_AS_GROUP, RUN_AS_USER
from tests.app.payloads import rows_payload
from tests.app.processes import (
    GUNICORN_CONF,
    REPO_ROOT,
    SERVER_ENV,
    ServerProcess,
    read_only_wrapper,
    sandbox_available,
)
from tests.app.signed import ISSUE_CASES, TAMPERINGS, KeyPair, SignedModel, copy_signed

# Small, so that an oversized upload stays cheap.
SERVER_LIMITS = {"MAX_REQUEST_BYTES": "4096"}
# The tampering that also runs as a real gunicorn process.
REAL_PROCESS_CASE = "flipped-model-byte"


def _json_entries(lines: list[str]) -> list[dict[str, Any]]:
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"log line is not JSON: {line!r}")
    return entries


def _assert_refused_before_listening(status: int | str | None, output: str) -> None:
    assert status == EXIT_MODEL_REFUSED
    assert "Listening at" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert [entry.get("event") for entry in _json_entries(lines)] == ["model_refused"]


def _configured_wsgi_app() -> str:
    """The ``wsgi_app`` of the gunicorn config, read rather than run (running it sets env vars)."""
    tree = ast.parse((REPO_ROOT / GUNICORN_CONF).read_text())
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "wsgi_app" for t in node.targets)
    ]
    return str(ast.literal_eval(value))


def _preload_in_process(
    model_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int | str | None, str]:
    """What the master does before it listens, here: (exit status, output)."""
    for key in [key for key in os.environ if key in SERVER_ENV]:
        monkeypatch.delenv(key)
    for key, value in model_env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()  # drop anything printed before
    with pytest.raises(SystemExit) as exited:
        import_app(_configured_wsgi_app())
    captured = capsys.readouterr()
    return exited.value.code, captured.out + captured.err


@pytest.mark.parametrize("case", ISSUE_CASES)
def test_entry_point_exits_non_zero_on_a_tampered_model(
    case: str,
    tmp_path: Path,
    signed_model: SignedModel,
    other_keys: KeyPair,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tampered = TAMPERINGS[case](copy_signed(signed_model, tmp_path), other_keys.public)
    _assert_refused_before_listening(*_preload_in_process(tampered.env(), monkeypatch, capsys))


def test_the_gunicorn_process_exits_non_zero_on_a_tampered_model(
    tmp_path: Path, signed_model: SignedModel, other_keys: KeyPair
) -> None:
    tampered = TAMPERINGS[REAL_PROCESS_CASE](copy_signed(signed_model, tmp_path), other_keys.public)
    server = ServerProcess.start(tampered.env(), tmp_path / "logs")
    _assert_refused_before_listening(server.wait_exit(), server.output())


def _world_readable_copy(model: SignedModel, root: Path) -> SignedModel:
    # pytest's temp dirs are private to their owner; the runtime user must read the model.
    copy = copy_signed(model, root)
    public_key = root / "public-key.pem"
    shutil.copyfile(model.public_key, public_key)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return SignedModel(model_dir=copy.model_dir, signature=copy.signature, public_key=public_key)


@pytest.fixture
def gunicorn_server(tmp_path: Path, signed_model: SignedModel) -> Iterator[ServerProcess]:
    """The production entry point serving the signed model on 127.0.0.1.

    Where possible (root, util-linux) it runs as in the pod: read-only root
    filesystem with a writable /tmp, as the runtime UID/GID.
    """
    if not sandbox_available():
        server = ServerProcess.start(signed_model.env() | SERVER_LIMITS, tmp_path / "logs")
        yield server
        server.kill()
        return
    root = Path(tempfile.mkdtemp(prefix="read-only-model-"))
    try:
        model = _world_readable_copy(signed_model, root)
        wrapper = read_only_wrapper(root, RUN_AS_USER, RUN_AS_GROUP)
        server = ServerProcess.start(model.env() | SERVER_LIMITS, tmp_path / "logs", wrapper=wrapper)
        yield server
        server.kill()
    finally:
        shutil.rmtree(root)


def test_gunicorn_serves_the_verified_model(
    gunicorn_server: ServerProcess, loaded_model: LoadedModel, holdout: tuple[np.ndarray, np.ndarray]
) -> None:
    server = gunicorn_server
    try:
        server.wait_ready()
        if server.sandboxed:
            assert server.uids() == {RUN_AS_USER}
        assert server.request("GET", "/healthz")[0] == 200

        rows = holdout[0][:8]
        status, body = server.post_json("/v1/predict", rows_payload(rows))
        assert status == 200
        served = [item["fraud_probability"] for item in body["predictions"]]
        np.testing.assert_array_equal(served, loaded_model.fraud_probability(rows))

        status, raw = server.request(
            "POST", "/v1/predict", b'{"transactions": NaN}', {"Content-Type": "application/json"}
        )
        assert (status, json.loads(raw)["error"]["code"]) == (400, "invalid_json")
        # A chunked upload (an iterable body has no length) over the limit is
        # refused, never parsed as a truncated prefix.
        oversized = b'{"transactions": [' + b" " * 5000 + b"]}"
        status, _ = server.request("POST", "/v1/predict", iter([oversized]), {"Content-Type": "application/json"})
        assert status == 413
    finally:
        returncode = server.stop()
    assert returncode == 0, server.output()[-2000:]

    entries = _json_entries(server.log_lines())
    assert "model_loaded" in [entry.get("event") for entry in entries]
    requests = [(entry["path"], entry["status"]) for entry in entries if entry.get("event") == "http_request"]
    assert ("/v1/predict", 200) in requests
    assert ("/v1/predict", 413) in requests
