"""Request ids, one structured (JSON) log line per request, request metrics, and the
``X-Model-Version`` header.

* ``X-Request-Id``: taken from the request when it is a sane token (1-128 characters of
  ``A-Za-z0-9._:-``, e.g. from a proxy), else a new random id; echoed on the response and
  in the log line, so one request can be followed from the CMS to the server log.
* The access log line goes to the ``alsosee.access`` logger (INFO);
  :class:`service.logfmt.JsonFormatter` formats every record as one JSON object per line
  (``service.server`` installs it).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, request

from service import metrics
from service.logfmt import JsonFormatter

__all__ = ["JsonFormatter", "init_app"]

REQUEST_ID_HEADER = "X-Request-Id"
MODEL_VERSION_HEADER = "X-Model-Version"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("alsosee.access")


def request_id_from(incoming: str) -> str:
    """The caller's ``X-Request-Id`` when it is a sane token, else a new random id."""
    if incoming and _REQUEST_ID_RE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _request_id() -> str:
    return request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))


def _before() -> None:
    g.alsosee_start = time.perf_counter()
    g.alsosee_request_id = _request_id()


def _after(response: Response) -> Response:
    from service.state import get_state

    # One lookup of the request and of g (each proxy access costs; this runs every request).
    req = request._get_current_object()  # type: ignore[attr-defined]
    ctx = g._get_current_object()
    start = getattr(ctx, "alsosee_start", None)
    seconds = time.perf_counter() - start if start is not None else 0.0
    request_id = getattr(ctx, "alsosee_request_id", None) or _request_id()
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request_id
    view = getattr(ctx, "alsosee_view", None)
    version = None
    if view is not None:
        version = view.version
    else:
        serving = get_state().serving
        if serving is not None:
            version = serving.loaded.version
    if version:
        headers[MODEL_VERSION_HEADER] = version
    rule = req.url_rule
    _finish(method=req.method, path=req.path, query=req.query_string.decode("latin-1"),
            endpoint=rule.rule if rule is not None else "unmatched",
            status=response.status_code, seconds=seconds, request_id=request_id,
            nbytes=response.calculate_content_length(), model_version=version,
            state_version=view.state_version if view is not None else None,
            cache=headers.get("X-Cache"), remote_addr=req.remote_addr)
    return response


def finish_cached(environ: dict[str, Any], entry: Any, status: int, request_id: str,
                  started: float) -> None:
    """The metrics and the access-log line of an answer from the response cache
    (:class:`service.response_cache.ResponseCacheMiddleware`), as :func:`_after` writes
    them for Flask's answers."""
    # PATH_INFO is a WSGI "bytes as latin-1" string; Flask's request.path is UTF-8 text.
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    _finish(method="GET", path=path,
            query=environ.get("QUERY_STRING", ""), endpoint=entry.endpoint, status=status,
            seconds=time.perf_counter() - started, request_id=request_id,
            nbytes=len(entry.body) if status == 200 else 0,
            model_version=entry.model_version, state_version=entry.state_version,
            cache="hit", remote_addr=environ.get("REMOTE_ADDR"))


def _finish(*, method: str, path: str, query: str, endpoint: str, status: int,
            seconds: float, request_id: str, nbytes: int | None, model_version: str | None,
            state_version: int | None, cache: str | None, remote_addr: str | None) -> None:
    metrics.record_request(endpoint, method, status, seconds)
    if not access_log.isEnabledFor(logging.INFO):  # skip building the line (hot path)
        return
    access_log.info(
        "%s %s %d", method, path, status,
        extra={"fields": {
            "event": "request",
            "request_id": request_id,
            "method": method,
            "path": path,
            "query": query[:512] or None,
            "endpoint": endpoint,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bytes": nbytes,
            "model_version": model_version,
            "state_version": state_version,
            "cache": cache,
            "remote_addr": remote_addr,
            "worker": os.getpid(),
        }},
    )


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
