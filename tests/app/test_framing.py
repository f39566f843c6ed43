"""app.framing: when a buffered request may go to a thread (a thread must never wait on a client)."""

from __future__ import annotations

import pytest

from app.framing import Framing, Verdict

LIMIT = 100
FRAMING = Framing(head_limit=512, body_limit=LIMIT)
HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: m\r\n"


def _chunked(*parts: bytes, end: bytes = b"0\r\n\r\n") -> bytes:
    return HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + end


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        pytest.param(b"", Verdict.WAIT, id="nothing-yet"),
        pytest.param(HEAD, Verdict.WAIT, id="head-unfinished"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n", Verdict.READY, id="no-body"),
        pytest.param(b"GET /x" + b"a" * 600, Verdict.READY, id="head-over-limit-parser-refuses"),
        pytest.param(HEAD + b"Content-Length: 5\r\n\r\nabcd", Verdict.WAIT, id="body-short-by-one"),
        pytest.param(HEAD + b"Content-Length: 5\r\n\r\nabcde", Verdict.READY, id="body-complete"),
        pytest.param(HEAD + b"Content-Length: 101\r\n\r\n", Verdict.READY, id="declared-over-limit-refused-unread"),
        pytest.param(HEAD + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\n", Verdict.READY, id="two-lengths"),
        pytest.param(HEAD + b"Content-Length: -1\r\n\r\n", Verdict.READY, id="bad-length"),
        pytest.param(HEAD + b"Bad header\r\n\r\n", Verdict.READY, id="header-without-colon"),
        pytest.param(
            HEAD + b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", Verdict.READY, id="length-and-chunked"
        ),
        pytest.param(HEAD + b"Transfer-Encoding: gzip\r\n\r\n", Verdict.READY, id="other-coding"),
        pytest.param(_chunked(b"ab", b"cd"), Verdict.READY, id="chunked-complete"),
        pytest.param(_chunked(b"ab", end=b"0\r\nX-T: 1\r\n\r\n"), Verdict.READY, id="chunked-with-trailer"),
        pytest.param(_chunked(b"ab", end=b"0\r\n"), Verdict.WAIT, id="chunked-last-line-unfinished"),
        pytest.param(_chunked(b"ab", end=b""), Verdict.WAIT, id="chunked-no-last-chunk"),
        pytest.param(_chunked(end=b"5\r\nab"), Verdict.WAIT, id="chunk-partly-here"),
        pytest.param(_chunked(b"a" * LIMIT, end=b""), Verdict.WAIT, id="chunked-exactly-limit-so-far"),
        pytest.param(_chunked(b"a" * LIMIT, end=b"1\r\nb"), Verdict.READY, id="chunked-over-limit"),
        pytest.param(_chunked(end=b"zz\r\n"), Verdict.READY, id="bad-chunk-size"),
        pytest.param(_chunked(end=b"0x5\r\n"), Verdict.READY, id="prefixed-chunk-size"),
        pytest.param(_chunked(end=(b"1;" + b"e" * 900 + b"\r\na\r\n") * 3), Verdict.TOO_LARGE, id="extension-flood"),
    ],
)
def test_verdict(data: bytes, verdict: Verdict) -> None:
    assert FRAMING.verdict(data) is verdict
