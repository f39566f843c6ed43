"""The gunicorn worker of the model server: threads only ever see complete requests.

gunicorn's ``gthread`` worker hands a connection to a thread as soon as its first byte
arrives; the thread then blocks reading the rest. A client that sends its headers or its body
slowly holds that thread for as long as it likes, and a few more such clients than threads
starve the probes. This worker keeps gthread's threads, keep-alive handling and shutdown, and
puts one stage in front of them: every request (fresh, kept-alive or pipelined) is first read
in the worker's event loop, without blocking, until ``app.framing`` says a thread will not wait
on the client. A slow client then costs one buffered connection in the loop, not a thread, and
is cut off with a JSON 408 when ``REQUEST_READ_TIMEOUT`` (counted from the accept, or from the
first byte of a kept-alive request) passes, however steadily it trickles.

We chose this over an event-loop worker (gevent, ASGI): those also need a read deadline, add
native dependencies and monkey-patching to a preloaded scikit-learn process, and still run the
model on the event loop. Here the model runs in threads as before and only reading moved.

Two more duties:

* every refusal gunicorn writes itself (400 malformed, 414 request line, 431 headers, ...) is
  the app's JSON error document with the security headers (``app.responses``), not HTML;
* on a graceful stop the worker first accepts every connection already queued on the listening
  socket and serves it, then closes its copy of the socket, so no connection is accepted by the
  kernel and then dropped unserved.

Plain HTTP/1.1 only: TLS is terminated by the mesh sidecar, and the worker refuses to start with
TLS or HTTP/2 configured (its stage does not speak them).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from app.config import Settings
from app.framing import Framing, Verdict
from app.responses import raw_error_response

__all__ = ["BufferedThreadWorker"]

_RECV_BYTES = 64 * 1024


class _CapturedError:
    """Stands in for the client socket so gunicorn's refusal can be read back, then rewritten."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # gunicorn's write_nonblock then writes without touching blocking mode

    def sendall(self, data: bytes) -> None:
        self.data += data


class _Reading:
    """A connection whose current request is still arriving."""

    __slots__ = ("data", "deadline")

    def __init__(self, data: bytes, deadline: float) -> None:
        self.data = bytearray(data)
        self.deadline = deadline


class BufferedThreadWorker(ThreadWorker):
    """gthread with request buffering, read deadlines, JSON refusals and an accept drain at stop."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or "h2" in cfg.http_protocols:
            raise RuntimeError("app.worker.BufferedThreadWorker serves plain HTTP/1.1 only (no TLS, no HTTP/2)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = Settings.from_env()
        self.read_timeout = float(settings.request_read_timeout_seconds)
        cfg = self.cfg
        head_limit = cfg.limit_request_line + cfg.limit_request_fields * (cfg.limit_request_field_size + 2) + 4
        self.framing = Framing(head_limit=head_limit, body_limit=settings.max_request_bytes)
        # Insertion order is deadline order: every deadline is "now + read_timeout".
        self.reading: dict[TConn, _Reading] = {}

    # --- the stage in front of the threads ------------------------------------------

    def enqueue_req(self, conn: TConn) -> None:
        """Every way to a thread comes through here: read the request first, then hand it over."""
        if not conn.initialized:
            conn.init()  # plain HTTP/1.1: only builds the parser, no I/O
        held = conn.parser.unreader.take_buffered()  # pipelined bytes read ahead by a thread
        self._advance(conn, _Reading(held, time.monotonic() + self.read_timeout), registered=False)

    def _advance(self, conn: TConn, state: _Reading, *, registered: bool) -> None:
        verdict = self.framing.verdict(bytes(state.data))
        if verdict is Verdict.WAIT:
            if not registered:
                conn.sock.setblocking(False)
                self.reading[conn] = state
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
            return
        if registered:
            self._unregister(conn)
        if verdict is Verdict.TOO_LARGE:
            self._refuse(conn, 413, "request body framing exceeds the size limit")
            return
        conn.parser.unreader.unread(bytes(state.data))
        conn.sock.setblocking(True)
        super().enqueue_req(conn)

    def _on_readable(self, conn: TConn, _sock: socket.socket) -> None:
        state = self.reading[conn]
        try:
            chunk = conn.sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away before finishing its request
            self._unregister(conn)
            self._close(conn)
            return
        state.data += chunk
        self._advance(conn, state, registered=True)

    def _unregister(self, conn: TConn) -> None:
        del self.reading[conn]
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    def _refuse(self, conn: TConn, status: int, message: str) -> None:
        self.log.warning(
            "request refused before the app",
            extra={"event": "request_refused", "status": status, "remote_addr": _peer(conn)},
        )
        try:
            conn.sock.setblocking(False)
            conn.sock.send(raw_error_response(status, message))  # small: fits the socket buffer
        except OSError:
            pass
        self._close(conn)

    def murder_pending(self) -> None:
        """gthread's sweep of idle connections, plus the read deadline of requests still arriving."""
        super().murder_pending()
        now = time.monotonic()
        for conn, state in list(self.reading.items()):
            if state.deadline > now:
                break
            self._unregister(conn)
            if state.data:
                self._refuse(conn, 408, f"the request did not arrive within {self.read_timeout:g} seconds")
            else:
                self._close(conn)  # never said anything: nothing to answer

    # --- refusals written by gunicorn itself ------------------------------------------

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's classification, logging and access log, with the app's JSON document written."""
        captured = _CapturedError()
        super().handle_error(req, captured, addr, exc)
        status = _status_of(captured.data)
        message = "internal server error" if status >= 500 else "the request could not be parsed"
        try:
            client.setblocking(False)
            client.sendall(raw_error_response(status, message))
        except OSError:
            self.log.debug("Failed to send error message.")

    # --- graceful stop ---------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        if not enabled and not self.alive:
            self._accept_queued()
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for listener in self.sockets:
                listener.close()  # new connections are refused, not queued and dropped

    def _accept_queued(self) -> None:
        """Take every connection the kernel already completed on the listening sockets."""
        for listener in self.sockets:
            listener.setblocking(False)
            while True:
                try:
                    client, address = listener.accept()
                except OSError as error:
                    if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                        break
                    raise
                self.nr_conns += 1
                self.enqueue_req(TConn(self.cfg, client, address, listener.getsockname()))


def _status_of(response: bytes) -> int:
    try:
        return int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 500


def _peer(conn: TConn) -> str:
    client = conn.client
    return str(client[0]) if isinstance(client, tuple) and client else str(client)
