"""HTTP caching that never outlives a takedown.

Views decorated with :func:`cacheable` answer with

* ``ETag: "<model version>.<state version>.<code version>"`` - the state version changes on
  every publish, unpublish, takedown or pin (every write to the state database), the model
  version on every reload, so a tag can only match a response that is still right;
* ``Cache-Control: public, max-age=<CACHE_MAX_AGE>`` (short, default 10 s: the longest a
  browser or CDN may show a list without asking again);
* ``304 Not Modified`` when ``If-None-Match`` names the current tag (decided once the view
  answered 200, so an unknown or invalid article stays a 404/400).

Errors and writes get ``Cache-Control: no-store`` (a 404 for an article published a second
later must not be cached).

Each worker also keeps the bodies of recent 200 answers in memory under the same tag
(:mod:`service.response_cache`): a repeated request skips the ranking and the encoding. The
``X-Cache`` response header says ``hit`` or ``miss``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request

from recommender import __version__
from service.response_cache import EXTENSION_KEY, CachedBody, ResponseCache

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MAX_AGE = 10


def cacheable(view: F) -> F:
    """Mark a GET view whose response depends only on the URL, the model and the state."""
    view.alsosee_cacheable = True  # type: ignore[attr-defined]
    return view


def _is_cacheable() -> bool:
    if request.method not in ("GET", "HEAD") or request.endpoint is None:
        return False
    view = current_app.view_functions.get(request.endpoint)
    return bool(getattr(view, "alsosee_cacheable", False))


def etag_for(view: Any) -> str:
    state = view.state_version if view.state_version is not None else "x"
    from service.state import get_state

    editorial = get_state().editorial
    if editorial is not None:  # an expiring pin changes the list without a write
        state = f"{state}p{editorial.snapshot(view.state_version).expired_pins()}"
    return f"{view.version}.{state}.{__version__}"


def _cache_control() -> str:
    max_age = int(current_app.config.get("CACHE_MAX_AGE", DEFAULT_MAX_AGE))
    if max_age <= 0:
        return "no-cache"
    return f"public, max-age={max_age}"


def _cache_key(tag: str) -> tuple[str, str, bytes]:
    return (tag, request.path, request.query_string)


def _before() -> Response | None:
    if not _is_cacheable():
        return None
    from service.state import get_state

    view = get_state().view()  # pins the model and state version for this request
    tag = g.alsosee_etag = etag_for(view)
    cached = current_app.extensions[EXTENSION_KEY].get(_cache_key(tag))
    if cached is None:
        return None
    # Returned from before_request, this skips the view; the after_request hooks (ETag and
    # 304, CORS, request id, logging, metrics) still run as for any answer.
    g.alsosee_cache_hit = True
    return Response(cached.body, status=200, content_type=cached.content_type)


def _after(response: Response) -> Response:
    tag = g.get("alsosee_etag")
    # The 304 is decided here, on a successful answer only: deciding before the view ran
    # answered 304 to an unknown or invalid article id (with "If-None-Match: *" or any
    # current ETag), found by schemathesis. The list is computed anyway (milliseconds).
    if tag is not None and response.status_code == 200:
        hit = g.get("alsosee_cache_hit", False)
        if not hit and not response.is_streamed:
            current_app.extensions[EXTENSION_KEY].put(
                _cache_key(tag), CachedBody(response.get_data(), response.content_type or "")
            )
        response.headers["X-Cache"] = "hit" if hit else "miss"
    if tag is not None and response.status_code == 200 and request.if_none_match.contains(tag):
        not_modified = Response(status=304)
        not_modified.set_etag(tag)
        not_modified.headers["Cache-Control"] = _cache_control()
        for name in ("X-Model-Version", "X-Request-Id", "Vary", "X-Cache"):
            if name in response.headers:
                not_modified.headers[name] = response.headers[name]
        return not_modified
    if tag is not None and response.status_code == 200:
        response.set_etag(tag)
        response.headers["Cache-Control"] = _cache_control()
    elif response.status_code != 304 and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = ResponseCache(
        int(app.config.get("RESPONSE_CACHE_SIZE", 4096)),
        float(app.config.get("RESPONSE_CACHE_TTL", 60.0)),
    )
    app.before_request(_before)
    app.after_request(_after)
