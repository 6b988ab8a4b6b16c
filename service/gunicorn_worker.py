"""Gunicorn workers: their own error answers are RFC 9457 problem bodies, and a slow client
never holds a thread.

Gunicorn answers a request it cannot parse (a raw non-ASCII byte or a space in the request
line, an invalid HTTP version, a request line or header over the limits...) itself, before
Flask sees it, with a small HTML page. A CMS plugin parsing our errors as
``application/problem+json`` would choke on it, so these workers keep gunicorn's decision
(status, reason, message, logging) and only change the body: gunicorn writes its page into a
stand-in socket, and the worker sends the same status as a problem body instead. Should the
page ever not parse (another gunicorn version), gunicorn's own page is sent unchanged.

:func:`service.server.run` selects :class:`ProblemThreadWorker` as gunicorn's ``worker_class``
(whatever the number of threads). Gunicorn's gthread worker hands a connection to a thread as
soon as its first byte arrives and the thread then reads the request with a blocking socket:
four clients sending their headers at one byte per second took every thread of two workers
and time out every other request. This worker reads each request (its head and up to
:data:`BUFFER_LIMIT` bytes of body) in the worker's poller, without a thread, and gives it to
a thread only once it is complete, as a buffering proxy does. A client gets
``ALSOSEE_REQUEST_READ_TIMEOUT`` seconds (default 15) to send that much,
else it is answered 408 and closed; the rest of a larger body must keep coming, each read
within the same time, else the request ends as if the client had disconnected.
"""

from __future__ import annotations

import errno
import html
import json
import logging
import re
import select
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn import glogging, util
from gunicorn.workers.gthread import TConn, ThreadWorker
from gunicorn.workers.sync import SyncWorker

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
#: Longest ``detail`` sent (gunicorn's message may echo the offending request line).
MAX_DETAIL = 300

_STATUS_RE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)\r\n")
_MESSAGE_RE = re.compile(r"</h1>\s*(.*?)\s*</body>", re.S)


class _CapturedSocket:
    """Stands in for the client socket while gunicorn writes its error page
    (``gunicorn.util.write_error`` needs only these three methods)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def gettimeout(self) -> float | None:
        return None

    def setblocking(self, flag: bool) -> None:
        pass

    def sendall(self, data: bytes) -> None:
        self.data += data


def problem_response(page: bytes) -> bytes | None:
    """Gunicorn's HTML error response as an ``application/problem+json`` response with the
    same status (``None`` if it does not look like gunicorn's page)."""
    head, sep, body = page.partition(b"\r\n\r\n")
    status_line = _STATUS_RE.match(head + b"\r\n")
    message = _MESSAGE_RE.search(body.decode("latin-1")) if sep else None
    if status_line is None or message is None:
        return None
    status, reason = int(status_line[1]), status_line[2].decode("latin-1").strip()
    detail = html.unescape(message[1]).strip() or reason
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + "..."
    problem = {"type": "about:blank", "title": reason, "status": status,
               "detail": f"The request could not be read: {detail}"}
    payload = json.dumps(problem).encode("ascii")  # non-ASCII input is \u-escaped
    return (b"HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\nCache-Control: no-store\r\n\r\n"
            % (status, reason.encode("latin-1"), PROBLEM_TYPE.encode(), len(payload))) + payload


class ProblemErrorsMixin:
    """Overrides ``handle_error`` of a gunicorn worker (see the module docstring)."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        captured = _CapturedSocket()
        super().handle_error(req, captured, addr, exc)  # type: ignore[misc]
        page = bytes(captured.data)
        if not page:
            return
        answer = problem_response(page) or page
        try:
            util.write_nonblock(client, answer)
        except Exception:  # noqa: BLE001 - the client may be gone; as gunicorn does
            self.log.debug("Failed to send error message.")  # type: ignore[attr-defined]


class ProblemSyncWorker(ProblemErrorsMixin, SyncWorker):
    """Gunicorn's sync worker, answering its own errors with problem bodies."""


#: Bytes of one request (head and body) read without a thread; a longer body is read by
#: the thread, each read bounded by the same timeout.
BUFFER_LIMIT = 1024 * 1024
READ_CHUNK = 65536
#: Seconds a stopping worker still waits for requests being sent (as gunicorn's linger for
#: kept-alive connections), instead of holding its shutdown for the whole read timeout.
STOP_LINGER = 2.0

_TIMEOUT_PROBLEM = json.dumps({
    "type": "about:blank", "title": "Request Timeout", "status": 408,
    "detail": "The request was not received in time: send the whole request at once.",
}).encode("ascii")
TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                    b"Content-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n"
                    b"\r\n" % (PROBLEM_TYPE.encode(), len(_TIMEOUT_PROBLEM))) + _TIMEOUT_PROBLEM
CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"


def read_timeout() -> float:
    """Seconds a client gets to send a request (head and the buffered part of the body):
    ``ALSOSEE_REQUEST_READ_TIMEOUT`` (set by :func:`service.server.run`), else the default."""
    from service import settings

    return float(settings.read("REQUEST_READ_TIMEOUT"))


def _chunked_complete(body: bytes) -> bool:
    """Whether a chunked body is complete (its last chunk and trailers are in ``body``)."""
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return False
        try:
            size = int(body[pos:eol].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return True  # malformed: gunicorn's parser answers it
        if size == 0:
            return body.find(b"\r\n\r\n", eol) >= 0
        pos = eol + 2 + size + 2
        if pos > len(body):
            return False


def request_complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole HTTP/1 request: its head and, by ``Content-Length``
    or chunked encoding, its body. Anything the parser would refuse counts as complete, so
    that gunicorn's parser answers it at once with its usual error."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return b"\n\n" in data  # bare line feeds: gunicorn refuses them
    body = data[end + 4:]
    length, chunked = 0, False
    for line in data[:end].split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        name = name.strip().lower()
        if not sep:
            continue
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return True
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if chunked:
        return _chunked_complete(body)
    return len(body) >= length


def _expects_continue(data: bytes) -> bool:
    """A complete HTTP/1.1 head with ``Expect: 100-continue`` and no body bytes yet."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or end + 4 != len(data):
        return False
    request_line, _, fields = data[:end].lower().partition(b"\r\n")
    return request_line.endswith(b" http/1.1") and any(
        line.partition(b":")[0].strip() == b"expect" and b"100-continue" in line
        for line in fields.split(b"\r\n"))


class _ReadDeadlineSocket:
    """The socket as the request parser sees it: each read waits ``timeout`` seconds at
    most; past that the client counts as gone (reads return ``b""``: gunicorn closes the
    connection, a body read short becomes Werkzeug's 400 ``ClientDisconnected``)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self.expired = False

    def recv(self, size: int) -> bytes:
        if self.expired:
            return b""
        readable, _, _ = select.select([self._sock], [], [], self._timeout)
        if not readable:
            self.expired = True
            log.warning("a client sent nothing for %.0f s in the middle of its request: "
                        "closing its connection", self._timeout)
            return b""
        return self._sock.recv(size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class ProblemThreadWorker(ProblemErrorsMixin, ThreadWorker):
    """Gunicorn's threaded (gthread) worker, answering its own errors with problem bodies
    and reading each request without a thread until it is complete (module docstring).

    Connections being read wait in :attr:`reading` (in order of their deadline: every
    deadline is "now + the same timeout" when set) and in gunicorn's poller.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout()
        self.reading: dict[TConn, float] = {}
        self.stopping_since: float | None = None

    def _buffering(self) -> bool:
        # TLS is unwrapped in the thread; HTTP/2 prior knowledge reads its own preface.
        h2c = getattr(self.cfg, "http2_cleartext", "off")
        return not self.cfg.is_ssl and h2c not in ("prior-knowledge", "both")

    def accept(self, listener: Any) -> None:
        if not self._buffering():
            return super().accept(listener)
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return None
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        self._start_reading(conn)
        return None

    def on_client_socket_readable(self, conn: TConn, client: Any) -> None:
        """A kept-alive connection's next request starts: read it without a thread too."""
        if not self._buffering():
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._start_reading(conn)
        return None

    def _start_reading(self, conn: TConn, data: bytes = b"") -> None:
        conn.sock.setblocking(False)
        conn.alsosee_buffer = bytearray(data)
        conn.alsosee_continued = False
        self.reading[conn] = time.monotonic() + self.read_timeout
        if data and request_complete(data):
            self._dispatch(conn, registered=False)
            return
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             partial(self._on_request_bytes, conn))

    def _on_request_bytes(self, conn: TConn, _fileobj: Any) -> None:
        try:
            chunk = conn.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        if not chunk:
            self._drop(conn)
            return
        buffer = conn.alsosee_buffer
        buffer += chunk
        if len(buffer) >= BUFFER_LIMIT or request_complete(buffer):
            self._dispatch(conn)
        elif not conn.alsosee_continued and _expects_continue(buffer):
            # The client waits for this before sending its body (gunicorn would send it from
            # the thread; one more interim 100 there is allowed by RFC 9110 section 15.2).
            conn.alsosee_continued = True
            try:
                conn.sock.send(CONTINUE_RESPONSE)
            except OSError:
                self._drop(conn)

    def _dispatch(self, conn: TConn, registered: bool = True) -> None:
        """The request is in: hand it to a thread, its bytes in front of the parser."""
        if registered:
            self.poller.unregister(conn.sock)
        del self.reading[conn]
        data = bytes(conn.alsosee_buffer)
        del conn.alsosee_buffer
        conn.init()  # the HTTP/1 parser (kept across a connection's requests)
        conn.parser.unreader.unread(data)
        unreader = conn.parser.unreader
        if isinstance(getattr(unreader, "sock", None), _ReadDeadlineSocket):
            unreader.sock = unreader.sock._sock
        unreader.sock = _ReadDeadlineSocket(unreader.sock, self.read_timeout)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn: TConn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.reading.pop(conn, None)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Also answer 408 to connections whose request did not arrive in time; a stopping
        worker gives them :data:`STOP_LINGER` seconds at most (not the whole timeout)."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self.stopping_since is None:
            self.stopping_since = now
        while self.reading:
            conn, deadline = next(iter(self.reading.items()))
            if self.stopping_since is not None:
                deadline = min(deadline, self.stopping_since + STOP_LINGER)
            if deadline > now:
                break
            try:
                conn.sock.send(TIMEOUT_RESPONSE)
            except OSError:
                pass
            self._drop(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        """Bytes of a pipelined next request already read go back to the poller until that
        request is complete, instead of straight to a thread."""
        if (self._buffering() and self.alive and not fs.cancelled()
                and fs.exception() is None and fs.result() is True and conn.parser is not None):
            pending = conn.parser.unreader.take_buffered()
            if pending:
                self.reading.pop(conn, None)
                self._start_reading(conn, pending)
                return
        super().finish_request(conn, fs)


class QuietAccessLogger(glogging.Logger):
    """Gunicorn's logger, minus its access-log work while that log is off.

    Whenever any log configuration is given, gunicorn builds the fields of its access-log
    line (a dict of the request's headers and timings) for every request, even when the
    ``gunicorn.access`` logger drops the line. Ours turns that logger off (alsosee writes
    its own JSON line per request), so the fields were ~6% of a worker's busy time on
    cached answers; an operator who turns ``gunicorn.access`` back on gets it as before.
    """

    @property
    def access_log_enabled(self) -> bool:
        return bool(super().access_log_enabled
                    and self.access_log.isEnabledFor(logging.INFO))
