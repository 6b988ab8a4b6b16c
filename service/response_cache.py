"""Per-worker memory of rendered related lists (the body bytes of cacheable GET views).

Many readers open the same story, so the same related list is asked for again and again; the
ranking, the JSON encoding and the option parsing then dominate a request (measured: about
two thirds of a worker's CPU per by-id request). An entry is keyed by the request's ETag
(model version, state version, expired pins, code version: see :mod:`service.caching`) and
its path and query string, so a takedown, a pin, a publish or a model reload changes the key
and a stale list is never served; ``RESPONSE_CACHE_TTL`` bounds how long an entry lives (the
recency of a draft is measured from "now"). Only the view's body and content type are kept:
headers that depend on the caller (CORS, request id) are added afresh on every request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import TTLCache

EXTENSION_KEY = "alsosee_response_cache"


@dataclass(frozen=True)
class CachedBody:
    body: bytes
    content_type: str


class ResponseCache:
    """A thread-safe TTL + LRU map ``(etag, path, query) -> CachedBody``.

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
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._entries is not None

    def get(self, key: tuple[str, str, bytes]) -> CachedBody | None:
        if self._entries is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
            return entry

    def put(self, key: tuple[str, str, bytes], entry: CachedBody) -> None:
        if self._entries is None:
            return
        with self._lock:
            self._entries[key] = entry

    def __len__(self) -> int:
        if self._entries is None:
            return 0
        with self._lock:
            return len(self._entries)
