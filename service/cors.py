"""Cross-origin access (CORS) for pages on newsroom sites: the widget calls the JSON API.

``CORS_ORIGINS`` (env ``ALSOSEE_CORS_ORIGINS``, TOML ``cors_origins``; service/settings.py)
is ``*`` (any site; the default, since the read API is public) or a comma-separated list of
origins such as ``https://www.example.org,https://staging.example.org``. Credentials (cookies)
are never allowed; write endpoints authenticate with a bearer key, which a browser only sends
when a page's script adds it explicitly.

Uses flask-cors (>= 4.0.2: CVE-2024-6221).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_cors import CORS

from service.settings import parse_origins

__all__ = ["CORS_PATHS", "init_app", "parse_origins"]


#: Paths browsers may call from other origins.
CORS_PATHS = (r"/v1/*", r"/oembed", r"/openapi.json")


def init_app(app: Flask) -> None:
    """Answer CORS preflights and add ``Access-Control-*`` headers on the public paths."""
    # parsed by the settings table (service/settings.py); a test config may give it raw
    origins = parse_origins(app.config["CORS_ORIGINS"])
    resources: dict[str | re.Pattern[str], dict[str, Any]] = {
        path: {"origins": origins} for path in CORS_PATHS}
    resources[r"/openapi.json"] = {"origins": "*"}
    CORS(
        app,
        resources=resources,
        methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "If-None-Match", "If-Match",
                       "X-Request-Id"],
        expose_headers=["ETag", "Retry-After", "X-Model-Version", "X-Request-Id"],
        supports_credentials=False,
        max_age=600,
        vary_header=True,
    )
    app.extensions["alsosee.cors_origins"] = origins
