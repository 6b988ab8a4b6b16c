"""Close the connection after an error answer to a request with a body.

gunicorn's threaded worker keeps connections alive (a CMS plugin reuses them). When the app
answers a request without reading its body (413 for a too-large body, 401 before parsing,
...), the unread bytes stay in the connection and gunicorn then reads them as the start of
the next request: the client's next request on that connection fails (measured here:
``RemoteDisconnected`` after a 413; gunicorn issue #3301 describes the same thing). Such
answers are rare, so the connection is simply closed after them (gunicorn closes gracefully,
draining what the client still sends, and answers with ``Connection: close``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def has_body(environ: dict[str, Any]) -> bool:
    """Whether the request carries a body (a non-zero Content-Length, or chunked)."""
    length = environ.get("CONTENT_LENGTH") or "0"
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or length.strip() not in ("", "0")


class CloseAfterErrorWithBody:
    """WSGI middleware: on a 4xx/5xx answer to a request with a body, ask the server to
    close the connection (gunicorn's ``Response.force_close``; a no-op elsewhere)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if not has_body(environ):
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            if status[:1] in ("4", "5"):
                # gunicorn passes its Response's bound start_response.
                force_close = getattr(getattr(start_response, "__self__", None),
                                      "force_close", None)
                if callable(force_close):
                    force_close()
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
