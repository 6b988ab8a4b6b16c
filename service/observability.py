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

from flask import Flask, Response, g, request

from service import metrics
from service.logfmt import JsonFormatter

__all__ = ["JsonFormatter", "init_app"]

REQUEST_ID_HEADER = "X-Request-Id"
MODEL_VERSION_HEADER = "X-Model-Version"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("alsosee.access")


def _request_id() -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _REQUEST_ID_RE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _before() -> None:
    g.alsosee_start = time.perf_counter()
    g.alsosee_request_id = _request_id()


def _after(response: Response) -> Response:
    from service.state import get_state

    # One lookup of the request and of g (each proxy access costs; this runs every request).
    req = request._get_current_object()  # type: ignore[attr-defined]
    ctx = g._get_current_object()  # type: ignore[attr-defined]
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
    endpoint = rule.rule if rule is not None else "unmatched"
    status = response.status_code
    metrics.record_request(endpoint, req.method, status, seconds)
    if not access_log.isEnabledFor(logging.INFO):  # skip building the line (hot path)
        return response
    access_log.info(
        "%s %s %d", req.method, req.path, status,
        extra={"fields": {
            "event": "request",
            "request_id": request_id,
            "method": req.method,
            "path": req.path,
            "query": req.query_string.decode("latin-1")[:512] or None,
            "endpoint": endpoint,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "bytes": response.calculate_content_length(),
            "model_version": version,
            "state_version": view.state_version if view is not None else None,
            "cache": headers.get("X-Cache"),
            "remote_addr": req.remote_addr,
            "worker": os.getpid(),
        }},
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_before)
    app.after_request(_after)
