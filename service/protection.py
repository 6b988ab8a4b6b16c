"""Protection for a public service: rate limiting of the expensive endpoint.

* ``POST /v1/related`` (scoring a draft's text) is rate limited per client address with
  flask-limiter: ``RATE_LIMIT`` (default ``60/minute``; ``off`` disables it), counters in
  ``RATE_LIMIT_STORAGE`` (default ``memory://``). In-memory counters are **per worker
  process**: with 4 workers a client can get up to 4x the limit. Point the storage at a
  shared backend (``redis://host:6379``) for an exact limit. Exceeding it gives a 429 problem
  with ``Retry-After``.

Body size limits: ``MAX_CONTENT_LENGTH`` (413 beyond it) and, for ``POST /v1/articles:batch``,
``MAX_BATCH_BYTES``. CORS: :mod:`service.cors`.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

DEFAULT_RATE_LIMIT = "60/minute"
DEFAULT_RATE_LIMIT_STORAGE = "memory://"
#: Views (endpoint names) the rate limit applies to.
LIMITED_ENDPOINTS = ("api.related_to_draft",)


def init_app(app: Flask) -> None:
    rate = str(app.config.get("RATE_LIMIT", DEFAULT_RATE_LIMIT)).strip()
    if rate.lower() not in ("", "off", "none", "0"):
        limiter = Limiter(
            key_func=get_remote_address,
            app=app,
            storage_uri=str(app.config.get("RATE_LIMIT_STORAGE", DEFAULT_RATE_LIMIT_STORAGE)),
            headers_enabled=True,
            default_limits=[],
        )
        for endpoint in LIMITED_ENDPOINTS:
            view = app.view_functions.get(endpoint)
            if view is not None:
                app.view_functions[endpoint] = limiter.limit(rate)(view)
        # flask-limiter checks every request in a before_request hook (~0.3 ms of a by-id
        # request's CPU, measured); other endpoints have no limit, so let them out at once.
        limiter.request_filter(lambda: request.endpoint not in LIMITED_ENDPOINTS)
        app.extensions["alsosee_limiter"] = limiter
