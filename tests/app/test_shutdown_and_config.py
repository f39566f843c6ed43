"""The production entry point stopping and refusing to start, as a real gunicorn process.

A graceful stop (SIGTERM, what the kubelet sends after the preStop delay) finishes a request that
is still arriving and refuses new connections outright instead of queueing and dropping them. A bad
environment value stops the server before it listens, with one JSON log line and EX_CONFIG.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from app.config import EXIT_CONFIG
from tests.app.payloads import transaction
from tests.app.processes import ServerProcess
from tests.app.signed import SignedModel


def test_a_stopping_server_serves_the_request_in_flight_and_refuses_new_connections(
    tmp_path: Path, signed_model: SignedModel
) -> None:
    server = ServerProcess.start(signed_model.env() | {"GUNICORN_WORKERS": "1"}, tmp_path / "logs")
    try:
        server.wait_ready()
        body = json.dumps({"transactions": [transaction()]}).encode()
        head = b"POST /v1/predict HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as in_flight:
            in_flight.sendall(head + body[:10])
            time.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(1.5)
            # The listening socket is closed: a new client is refused, not accepted and dropped.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
            in_flight.sendall(body[10:])
            answer = b""
            while chunk := in_flight.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["predictions"]
        assert server.wait_exit() == 0, server.output()[-2000:]
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("name", "value"),
    [("GUNICORN_WORKERS", "two"), ("REQUEST_READ_TIMEOUT", "0"), ("LOG_LEVEL", "chatty")],
)
def test_a_bad_environment_value_exits_with_one_json_line(
    tmp_path: Path, signed_model: SignedModel, name: str, value: str
) -> None:
    server = ServerProcess.start(signed_model.env() | {name: value}, tmp_path / "logs")
    assert server.wait_exit() == EXIT_CONFIG
    lines = server.log_lines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert (entry["event"], entry["level"]) == ("config_refused", "critical")
    assert name in entry["reason"]
    assert "Traceback" not in server.output()
