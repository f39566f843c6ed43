"""The production server (real gunicorn on loopback) under slow and malformed clients.

Slow clients hold connections: some never finish their headers, others declare a body and send it
one byte at a time. There are more of them than the server has threads; the probes must still
answer within a second and a prediction must still succeed, and each slow client is cut off once
the request read deadline passes, with a JSON 408, however steadily it keeps trickling. Requests
gunicorn refuses itself (malformed, overlong, too many or too large headers) are answered with the
app's JSON error document and security headers; the body limit is exact, chunked or not.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.app.payloads import transaction
from tests.app.processes import ServerProcess
from tests.app.signed import SignedModel

WORKERS, THREADS = 2, 4
SLOW_CLIENTS = 24  # more than WORKERS * THREADS, at least 16
READ_TIMEOUT_SECONDS = 3
PROBE_BUDGET_SECONDS = 1.0
TRICKLE_INTERVAL_SECONDS = 0.2
BODY_LIMIT = 4096
SERVER_ENV = {
    "GUNICORN_WORKERS": str(WORKERS),
    "GUNICORN_THREADS": str(THREADS),
    "REQUEST_READ_TIMEOUT": str(READ_TIMEOUT_SECONDS),
    "MAX_REQUEST_BYTES": str(BODY_LIMIT),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, signed_model: SignedModel) -> Iterator[ServerProcess]:
    started = ServerProcess.start(signed_model.env() | SERVER_ENV, tmp_path_factory.mktemp("hostile-logs"))
    try:
        started.wait_ready()
        yield started
    finally:
        started.kill()


class SlowClient(threading.Thread):
    """Opens a connection, sends a first part, then trickles one byte per interval until cut off."""

    def __init__(self, port: int, first: bytes, trickle: bytes) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(first)
        self.trickle = trickle
        self.stop = threading.Event()
        self.answer = b""
        self.cut_off_after: float | None = None

    def run(self) -> None:
        started = time.monotonic()
        try:
            for byte in self.trickle:
                if self.stop.wait(TRICKLE_INTERVAL_SECONDS):
                    return
                self.sock.sendall(bytes([byte]))
        except OSError:
            pass  # the server closed the connection: read what it said
        finally:
            self.cut_off_after = time.monotonic() - started
        self.sock.settimeout(2)
        try:
            while chunk := self.sock.recv(65536):
                self.answer += chunk
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def _slow_clients(port: int, count: int = SLOW_CLIENTS) -> list[SlowClient]:
    clients = []
    for index in range(count):
        if index % 2:
            # Partial headers: the blank line that ends them never comes.
            first = b"GET /healthz HTTP/1.1\r\nHost: model\r\n"
            trickle = b"X-Slow: " + b"a" * 400
        else:
            # A declared body sent one byte at a time.
            body = json.dumps({"transactions": [transaction()]}).encode()
            first = (
                b"POST /v1/predict HTTP/1.1\r\nHost: model\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body) + 400).encode() + b"\r\n\r\n"
            )
            trickle = body + b" " * 400
        clients.append(SlowClient(port, first, trickle))
    for client in clients:
        client.start()
    return clients


def _timed(server: ServerProcess, method: str, path: str, body: bytes | None = None) -> tuple[int, float]:
    started = time.monotonic()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    status, _ = server.request(method, path, body, headers, timeout=PROBE_BUDGET_SECONDS)
    return status, time.monotonic() - started


def test_probes_and_predictions_are_served_while_slow_clients_hold_connections(server: ServerProcess) -> None:
    clients = _slow_clients(server.port)
    try:
        time.sleep(0.5)  # let every slow client be accepted and start trickling
        assert all(client.is_alive() for client in clients)
        for path in ("/healthz", "/readyz"):
            status, seconds = _timed(server, "GET", path)
            assert (status, seconds < PROBE_BUDGET_SECONDS) == (200, True), (path, seconds)
        body = json.dumps({"transactions": [transaction()]}).encode()
        status, seconds = _timed(server, "POST", "/v1/predict", body)
        assert (status, seconds < PROBE_BUDGET_SECONDS) == (200, True), seconds
        assert all(client.is_alive() for client in clients), "the slow clients were still sending"
    finally:
        for client in clients:
            client.close()
        for client in clients:
            client.join(timeout=5)


def test_a_slow_client_is_cut_off_at_the_read_deadline_with_a_json_408(server: ServerProcess) -> None:
    clients = _slow_clients(server.port, 2)
    for client in clients:
        client.join(timeout=READ_TIMEOUT_SECONDS + 5)
        client.close()
        assert client.cut_off_after is not None
        # Cut off at the deadline (checked about once a second), not after the whole trickle.
        assert READ_TIMEOUT_SECONDS - 1 <= client.cut_off_after <= READ_TIMEOUT_SECONDS + 2
        head, _, payload = client.answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), client.answer[:200]
        assert b"x-content-type-options: nosniff" in head.lower()
        assert json.loads(payload)["error"]["code"] == "request_timeout"


# --- refusals written before the app: raw sockets -----------------------------------------------


def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes after a refusal)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _assert_json_refusal(answer: tuple[int, dict[str, str], bytes], status: int) -> dict[str, object]:
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["referrer-policy"] == "no-referrer"
    error = json.loads(body)["error"]
    assert error["status"] == status and error["message"]
    return error


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: m\r\n\r\n", 414, id="overlong-request-line"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: m\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(60)) + b"\r\n",
            431,
            id="too-many-headers",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: m\r\nX-Big: " + b"v" * 5000 + b"\r\n\r\n", 431, id="header-too-large"
        ),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost m\r\n\r\n", 400, id="header-without-colon"),
        pytest.param(b"G(T /healthz HTTP/1.1\r\nHost: m\r\n\r\n", 400, id="invalid-method"),
        pytest.param(b"GET /healthz HTTP/9.9\r\nHost: m\r\n\r\n", 400, id="invalid-version"),
        pytest.param(
            b"POST /v1/predict HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            id="bad-chunk",
        ),
    ],
)
def test_every_refusal_of_gunicorn_itself_is_json_with_the_security_headers(
    server: ServerProcess, request_bytes: bytes, status: int
) -> None:
    _assert_json_refusal(_exchange(server.port, request_bytes), status)


def test_a_well_formed_request_on_the_same_socket_path_is_answered(server: ServerProcess) -> None:
    # The control for the refusals above: the raw-socket helper itself reads a normal answer.
    status, headers, body = _exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["x-content-type-options"] == "nosniff"


def _body_of(size: int) -> bytes:
    """A valid prediction request of exactly ``size`` bytes (JSON padded with spaces)."""
    body = json.dumps({"transactions": [transaction()]}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def _predict(port: int, body: bytes, *, chunked: bool) -> tuple[int, dict[str, str], bytes]:
    head = b"POST /v1/predict HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\nConnection: close\r\n"
    if chunked:
        # Two chunks, so the limit is not just one chunk's size.
        half = len(body) // 2
        framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:]))
        return _exchange(port, head + b"Transfer-Encoding: chunked\r\n\r\n" + framed + b"0\r\n\r\n")
    return _exchange(port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_body_limit_is_exact(server: ServerProcess, chunked: bool) -> None:
    status, _, body = _predict(server.port, _body_of(BODY_LIMIT), chunked=chunked)
    assert status == 200, body[:300]
    assert len(json.loads(body)["predictions"]) == 1
    error = _assert_json_refusal(_predict(server.port, _body_of(BODY_LIMIT + 1), chunked=chunked), 413)
    assert error["code"] == "request_too_large"
