"""Gunicorn workers whose own error answers are RFC 9457 problem bodies.

Gunicorn answers a request it cannot parse (a raw non-ASCII byte or a space in the request
line, an invalid HTTP version, a request line or header over the limits...) itself, before
Flask sees it, with a small HTML page. A CMS plugin parsing our errors as
``application/problem+json`` would choke on it, so these workers keep gunicorn's decision
(status, reason, message, logging) and only change the body: gunicorn writes its page into a
stand-in socket, and the worker sends the same status as a problem body instead. Should the
page ever not parse (another gunicorn version), gunicorn's own page is sent unchanged.

:func:`service.server.run` selects :class:`ProblemSyncWorker` (or :class:`ProblemThreadWorker`
when ``threads > 1``) as gunicorn's ``worker_class``.
"""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any

from gunicorn import glogging, util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

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


class ProblemThreadWorker(ProblemErrorsMixin, ThreadWorker):
    """Gunicorn's threaded (gthread) worker, answering its own errors with problem bodies."""


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
