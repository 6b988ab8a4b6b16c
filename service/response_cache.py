"""Per-worker memory of finished related-list answers, served in front of Flask.

Many readers open the same story, so the same related list is asked for again and again. A
repeated answer used to cost a worker more in Flask's request handling (context, routing, the
CORS, caching and logging hooks: ~0.5 ms of CPU per request, measured in-process) than the
ranking itself. :class:`ResponseCacheMiddleware` keeps the finished answer (status, headers,
body) of cacheable GET views and answers a repeat itself, at the WSGI level.

Never stale: an entry is kept with the ETag it was computed under (model version, state
version, expired pins, code version: see :mod:`service.caching`) and is served only while the
current ETag is the same, so a takedown, a pin, a publish or a model reload is honoured from
the next request on. ``RESPONSE_CACHE_TTL`` bounds how long an entry lives (the recency of a
draft is measured from "now").

Keyed by path, query string and ``Origin`` (the CORS headers depend on the caller's origin);
per request it still sets a fresh ``X-Request-Id``, answers ``If-None-Match`` with a 304,
writes the access-log line and counts the request in the metrics, like the Flask path.
Everything else (misses, HEAD, requests with a body, an unavailable state database) goes
through Flask unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from werkzeug.http import parse_etags

from service.connection import has_body
from service.observability import REQUEST_ID_HEADER, request_id_from

EXTENSION_KEY = "alsosee_response_cache"
#: Set by :mod:`service.caching` on a cacheable 200 answer: ``(etag, endpoint rule)``.
ENVIRON_KEY = "alsosee.cacheable"
#: Headers of a 304 (RFC 9110: those a 200 would carry that describe the representation).
NOT_MODIFIED_HEADERS = ("ETag", "Cache-Control", "X-Model-Version", "X-Request-Id", "Vary",
                        "X-Cache")
_NOT_MODIFIED = {name.lower() for name in NOT_MODIFIED_HEADERS}
# Set per request, never stored.
_PER_REQUEST = {"x-request-id", "x-cache"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class CachedResponse:
    etag: str
    status: str
    headers: tuple[tuple[str, str], ...]  # without X-Request-Id and X-Cache
    body: bytes
    endpoint: str  # the route rule, for the metrics and the log
    model_version: str | None
    state_version: int | None


class ResponseCache:
    """A thread-safe TTL + LRU map ``(path, query, origin) -> CachedResponse``.

    Parameters
    ----------
    size : int
        Most entries kept (least recently used go first); 0 disables the cache.
    ttl : float
        Seconds an entry may be reused.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: TTLCache | None = TTLCache(maxsize=size, ttl=ttl) if size > 0 else None
        self._lock = threading.Lock()  # cachetools caches are not thread-safe (gthread)

    @property
    def enabled(self) -> bool:
        return self._entries is not None

    def get(self, key: tuple[str, str, str | None], etag: Callable[[], str | None]
            ) -> CachedResponse | None:
        """The entry for *key* if it was computed under the current ``etag()`` (called only
        when there is an entry: other paths never pay for reading the state version)."""
        if self._entries is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry.etag != etag():
            return None
        return entry

    def put(self, key: tuple[str, str, str | None], entry: CachedResponse) -> None:
        if self._entries is None:
            return
        with self._lock:
            self._entries[key] = entry

    def __len__(self) -> int:
        if self._entries is None:
            return 0
        with self._lock:
            return len(self._entries)


class ResponseCacheMiddleware:
    """WSGI middleware: answer a repeated cacheable GET from :class:`ResponseCache`.

    Parameters
    ----------
    app : WSGI callable
        The Flask app's ``wsgi_app``.
    cache : ResponseCache
    current_etag : callable
        The ETag a cacheable answer would have now (``None`` when it cannot be known, e.g.
        the state database is unavailable: Flask then answers).
    finish : callable
        ``finish(environ, entry, status, request_id, started)``: logs the request and counts
        it in the metrics (the Flask path's observability).
    """

    def __init__(self, app: WSGIApp, cache: ResponseCache, current_etag: Callable[[], str | None],
                 finish: Callable[..., None]) -> None:
        self.app = app
        self.cache = cache
        self.current_etag = current_etag
        self.finish = finish

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if (not self.cache.enabled or environ.get("REQUEST_METHOD") != "GET"
                or has_body(environ)):
            return self.app(environ, start_response)
        started = time.perf_counter()
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
               environ.get("HTTP_ORIGIN"))
        entry = self.cache.get(key, self.current_etag)
        if entry is not None:
            return self._answer(entry, environ, start_response, started)
        return self._compute(key, environ, start_response)

    def _answer(self, entry: CachedResponse, environ: dict[str, Any],
                start_response: Callable[..., Any], started: float) -> list[bytes]:
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        extra = [(REQUEST_ID_HEADER, request_id), ("X-Cache", "hit")]
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match and parse_etags(if_none_match).contains_weak(entry.etag):
            headers = [(n, v) for n, v in entry.headers if n.lower() in _NOT_MODIFIED] + extra
            status, body = "304 NOT MODIFIED", b""
        else:
            headers = [*entry.headers, *extra]
            status, body = entry.status, entry.body
        start_response(status, headers)
        self.finish(environ, entry, int(status[:3]), request_id, started)
        return [body]

    def _compute(self, key: tuple[str, str, str | None], environ: dict[str, Any],
                 start_response: Callable[..., Any]):
        captured: list[Any] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)
        cacheable = environ.get(ENVIRON_KEY)
        if cacheable is None or not captured or not captured[0].startswith("200"):
            return result
        # Only non-streamed answers are marked (service.caching): joining is cheap.
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        etag, endpoint, model_version, state_version = cacheable
        self.cache.put(key, CachedResponse(
            etag=etag, status=captured[0], body=body, endpoint=endpoint,
            headers=tuple((n, v) for n, v in captured[1] if n.lower() not in _PER_REQUEST),
            model_version=model_version, state_version=state_version,
        ))
        return [body]
