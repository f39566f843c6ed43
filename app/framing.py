"""Decide, from the bytes received so far, whether an HTTP/1.1 request can be handed to a thread.

The worker (``app.worker``) buffers each request in its event loop and gives it to a worker
thread only when the thread will never wait on the client: the head is complete and so is the
body, or enough of it for the app's size check (a declared length over the limit is refused
from the head alone; a chunked body is complete at its last chunk or once more than the limit
has arrived). Anything malformed is ``READY`` too: gunicorn's parser then refuses it with the
right status. This is framing only, not a parser: it never accepts what the parser would refuse.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["Framing", "Verdict"]

_HEX_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# A chunk-size line longer than this is malformed (real ones are a few bytes); the parser refuses it.
_MAX_CHUNK_LINE = 1024
# Raw bytes a chunked body may take per byte of payload before its framing is deemed abusive:
# one-byte chunks with short extensions stay below this, a flood of extensions does not.
_MAX_FRAMING_OVERHEAD = 8


class Verdict(enum.Enum):
    """What to do with a connection's buffered bytes."""

    WAIT = "wait"
    """Keep reading: a thread would block on the client."""
    READY = "ready"
    """Hand it to a thread: the request (or its refusal) needs nothing more from the client."""
    TOO_LARGE = "too_large"
    """Refuse with 413 now: the framing alone exceeds what any allowed body needs."""


@dataclass(frozen=True)
class Framing:
    """Limits of one server: the largest request head and the largest body the app reads."""

    head_limit: int
    body_limit: int

    def verdict(self, data: bytes) -> Verdict:
        """Whether ``data`` (everything received on the connection for this request) is complete."""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return Verdict.READY if len(data) > self.head_limit else Verdict.WAIT
        headers = _body_headers(data[:end])
        if headers is None:
            return Verdict.READY
        length, chunked = headers
        body = data[end + 4 :]
        if chunked:
            if len(body) > _MAX_FRAMING_OVERHEAD * (self.body_limit + 1) + _MAX_CHUNK_LINE:
                return Verdict.TOO_LARGE
            return _chunked_verdict(body, self.body_limit)
        if length is None or length > self.body_limit:
            return Verdict.READY  # no body, or the app refuses the declared length unread
        return Verdict.READY if len(body) >= length else Verdict.WAIT


def _body_headers(head: bytes) -> tuple[int | None, bool] | None:
    """(Content-Length, chunked) of a request head; None when the parser must judge it."""
    length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            return None
        name, value = name.strip().lower(), value.strip()
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
        elif name == b"transfer-encoding":
            if chunked or value.lower() != b"chunked":
                return None
            chunked = True
    if chunked and length is not None:
        return None
    return length, chunked


def _chunked_verdict(body: bytes, limit: int) -> Verdict:
    position, payload = 0, 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            return Verdict.READY if len(body) - position > _MAX_CHUNK_LINE else Verdict.WAIT
        size_text = body[position:line_end].split(b";", 1)[0].strip()
        if not _HEX_SIZE.fullmatch(size_text):
            return Verdict.READY
        size = int(size_text, 16)
        position = line_end + 2
        if size == 0:
            # The last chunk: complete after an empty line, or after trailers and an empty line.
            if body.startswith(b"\r\n", position) or body.find(b"\r\n\r\n", position) >= 0:
                return Verdict.READY
            return Verdict.WAIT
        available = len(body) - position
        if payload + min(size, available) > limit:
            return Verdict.READY  # more than the limit is here: the app refuses it without waiting
        if available < size + 2:
            return Verdict.WAIT
        payload += size
        position += size + 2
