"""Cross-origin access (CORS) for pages on newsroom sites: the widget calls the JSON API.

``CORS_ORIGINS`` (env ``ALSOSEE_CORS_ORIGINS``, TOML ``cors_origins``) is ``*`` (any site;
the default, since the read API is public) or a comma-separated list of origins such as
``https://www.example.org,https://staging.example.org``. Credentials (cookies) are never
allowed; write endpoints authenticate with a bearer key, which a browser only sends when a
page's script adds it explicitly.

Uses flask-cors (>= 4.0.2: CVE-2024-6221).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask_cors import CORS

ENV_CORS_ORIGINS = "ALSOSEE_CORS_ORIGINS"
DEFAULT_CORS_ORIGINS = "*"
_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+", re.ASCII)

#: Paths browsers may call from other origins.
CORS_PATHS = (r"/v1/*", r"/oembed", r"/openapi.json")


def parse_origins(value: Any, source: str = "CORS_ORIGINS") -> str | list[str]:
    """``"*"`` or a list of ``scheme://host[:port]`` origins; ``ValueError`` naming *source*."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value if v.strip()]
    else:
        raise ValueError(f"{source}: expected '*' or a comma-separated list of origins, "
                         f"got {value!r}")
    if items == ["*"]:
        return "*"
    if not items:
        raise ValueError(f"{source}: empty; use '*' or list the allowed origins")
    for item in items:
        if not _ORIGIN_RE.fullmatch(item.rstrip("/")):
            raise ValueError(
                f"{source}: {item!r} is not an origin like https://www.example.org"
            )
    return [item.rstrip("/") for item in items]


def init_app(app: Flask) -> None:
    """Answer CORS preflights and add ``Access-Control-*`` headers on the public paths."""
    origins = parse_origins(app.config.get("CORS_ORIGINS", DEFAULT_CORS_ORIGINS),
                            f"CORS_ORIGINS / {ENV_CORS_ORIGINS}")
    resources = {path: {"origins": origins} for path in CORS_PATHS}
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
