"""HTTP caching that never outlives a takedown.

Views decorated with :func:`cacheable` answer with

* ``ETag: "<model version>.<state version>.<code version>"`` - the state version changes on
  every publish, unpublish, takedown or pin (every write to the state database), the model
  version on every reload, so a tag can only match a response that is still right;
* ``Cache-Control: public, max-age=<CACHE_MAX_AGE>`` (short, default 10 s: the longest a
  browser or CDN may show a list without asking again);
* ``304 Not Modified`` when ``If-None-Match`` names the current tag, weak or strong (RFC 9110
  weak comparison: nginx marks the tag of a body it gzips ``W/``; decided once the view
  answered 200, so an unknown or invalid article stays a 404/400).

Answers to privileged options (``status=any``, ``debug=true``: they need an API key) get
``Cache-Control: private, no-store`` and are never kept. Errors and writes get
``Cache-Control: no-store`` (a 404 for an article published a second
later must not be cached).

Each worker also keeps its recent 200 answers in memory under the same tag
(:mod:`service.response_cache`, a WSGI middleware in front of Flask): a repeated request
skips Flask, the ranking and the encoding. The ``X-Cache`` response header says ``hit`` or
``miss``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Flask, Response, current_app, g, request

from recommender import __version__

if TYPE_CHECKING:
    from recommender.state.editorial import Editorial
    from service.state import RequestView
from service.response_cache import (
    ENVIRON_KEY,
    EXTENSION_KEY,
    NOT_MODIFIED_HEADERS,
    ResponseCache,
    ResponseCacheMiddleware,
)

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


def etag_for(view: RequestView, editorial: Editorial | None) -> str:
    """The ETag of the answers of *view* (a request's pinned model and state version);
    *editorial* is the service's ``Editorial`` store (``None`` without a state database)."""
    state = view.state_version if view.state_version is not None else "x"
    if editorial is not None:  # an expiring pin changes the list without a write
        state = f"{state}p{editorial.snapshot(view.state_version).expired_pins()}"
    return f"{view.version}.{state}.{__version__}"


def _cache_control() -> str:
    max_age = int(current_app.config.get("CACHE_MAX_AGE", DEFAULT_MAX_AGE))
    if max_age <= 0:
        return "no-cache"
    return f"public, max-age={max_age}"


def _before() -> None:
    if not _is_cacheable():
        return
    from service.state import get_state

    state = get_state()
    view = state.view()  # pins the model and state version for this request
    g.alsosee_etag = etag_for(view, state.editorial)


def _after(response: Response) -> Response:
    tag = g.get("alsosee_etag")
    if g.get("alsosee_private"):  # a keyed preview or debug answer: no cache may keep it
        response.headers["Cache-Control"] = "private, no-store"
        return response
    # The 304 is decided here, on a successful answer only: deciding before the view ran
    # answered 304 to an unknown or invalid article id (with "If-None-Match: *" or any
    # current ETag), found by schemathesis. The list is computed anyway (milliseconds).
    if tag is None or response.status_code != 200:
        if response.status_code != 304 and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
    response.set_etag(tag)
    response.headers["Cache-Control"] = _cache_control()
    response.headers["X-Cache"] = "miss"
    if request.method == "GET" and not response.is_streamed:
        # ResponseCacheMiddleware stores the finished answer (all hooks applied).
        view = g.alsosee_view
        rule = request.url_rule
        request.environ[ENVIRON_KEY] = (tag, rule.rule if rule is not None else "",
                                        view.version, view.state_version)
    if request.if_none_match.contains_weak(tag):
        not_modified = Response(status=304)
        for name in NOT_MODIFIED_HEADERS:
            if name in response.headers:
                not_modified.headers[name] = response.headers[name]
        return not_modified
    return response


def init_app(app: Flask) -> None:
    """ETags, ``Cache-Control`` and 304s for ``@cacheable`` views (Flask hooks)."""
    app.before_request(_before)
    app.after_request(_after)


def wrap_wsgi(app: Flask) -> None:
    """Put the response cache in front of the app (after every other WSGI wrapper: a hit
    skips them all)."""
    from service.observability import finish_cached
    from service.state import EXTENSION_KEY as STATE_KEY

    cache = app.extensions[EXTENSION_KEY] = ResponseCache(
        int(app.config.get("RESPONSE_CACHE_SIZE", 4096)),
        float(app.config.get("RESPONSE_CACHE_TTL", 60.0)),
    )
    state = app.extensions[STATE_KEY]

    def current_etag() -> str | None:
        try:
            return etag_for(state.view(), state.editorial)
        except Exception:  # noqa: BLE001 - no model, database down: Flask answers (503)
            return None

    app.wsgi_app = ResponseCacheMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, cache, current_etag, finish_cached)
