"""alsosee HTTP service: a thin Flask layer over the ``recommender`` library.

``create_app(test_config)`` builds the app. Configuration is read, each layer overriding
the previous one, from:

1. defaults: ``MODEL_DIR = "models"``, ``MAX_CONTENT_LENGTH = 1 MiB``;
2. the TOML file named by ``ALSOSEE_CONFIG`` (optional); its top-level keys are the
   lower-case config keys: ``model_dir = "..."``, ``max_content_length = 1048576``
   (``max_body_bytes`` is accepted as an alias);
3. environment variables ``ALSOSEE_MODEL_DIR``, ``ALSOSEE_MAX_BODY_BYTES`` and
   ``ALSOSEE_CORS_ORIGINS`` (``*`` or comma-separated origins, see ``service/cors.py``);
4. ``test_config`` (upper-case Flask keys: ``TESTING``, ``MODEL_DIR``, ``MAX_CONTENT_LENGTH``).

``MODEL_DIR`` is a models root containing a ``current`` pointer, or a version directory.
The model is loaded once, when the app is created (i.e. once per gunicorn worker). When no
model can be loaded the app still starts: ``/healthz`` answers 200, ``/readyz`` and every API
endpoint answer 503 problem bodies.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from service import settings as _ops_settings

DEFAULT_MODEL_DIR = "models"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

ENV_CONFIG = "ALSOSEE_CONFIG"
ENV_MODEL_DIR = "ALSOSEE_MODEL_DIR"
ENV_MAX_BODY_BYTES = "ALSOSEE_MAX_BODY_BYTES"
ENV_CORS_ORIGINS = "ALSOSEE_CORS_ORIGINS"

# TOML key -> Flask config key.
_TOML_KEYS = {
    "model_dir": "MODEL_DIR",
    "max_content_length": "MAX_CONTENT_LENGTH",
    "max_body_bytes": "MAX_CONTENT_LENGTH",
    "cors_origins": "CORS_ORIGINS",
    # Default ranking options (any RankingOptions field; section_half_life as a table).
    "ranking": "RANKING",
}
# Operational settings (live state, reloads, caching, limits, CORS, server): service/settings.py.
_TOML_KEYS.update(_ops_settings.toml_keys())


def _positive_int(value: Any, source: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{source}: expected a positive integer (bytes), got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: expected a positive integer (bytes), got {value!r}") from None
    if number <= 0:
        raise ValueError(f"{source}: expected a positive integer (bytes), got {value!r}")
    return number


def _load_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise RuntimeError(f"{ENV_CONFIG}={path}: cannot read config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RuntimeError(f"{ENV_CONFIG}={path}: invalid TOML: {exc}") from exc
    config: dict[str, Any] = {}
    for key, value in data.items():
        target = _TOML_KEYS.get(key)
        if target is None:
            raise RuntimeError(
                f"{path}: unknown key {key!r} (known: {', '.join(sorted(_TOML_KEYS))})"
            )
        config[target] = value
    if "MODEL_DIR" in config and not isinstance(config["MODEL_DIR"], str):
        raise RuntimeError(f"{path}: model_dir must be a string")
    return config


def _settings(test_config: Mapping[str, Any] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "MODEL_DIR": DEFAULT_MODEL_DIR,
        "MAX_CONTENT_LENGTH": DEFAULT_MAX_BODY_BYTES,
        "CORS_ORIGINS": "*",
    }
    config_file = os.environ.get(ENV_CONFIG)
    file_values = _load_toml(config_file) if config_file else {}
    settings.update(file_values)
    if os.environ.get(ENV_MODEL_DIR):
        settings["MODEL_DIR"] = os.environ[ENV_MODEL_DIR]
    if os.environ.get(ENV_MAX_BODY_BYTES):
        settings["MAX_CONTENT_LENGTH"] = os.environ[ENV_MAX_BODY_BYTES]
    if os.environ.get(ENV_CORS_ORIGINS):
        settings["CORS_ORIGINS"] = os.environ[ENV_CORS_ORIGINS]
    if test_config is not None:
        settings.update(test_config)
    settings["MODEL_DIR"] = os.fspath(settings["MODEL_DIR"])
    settings["MAX_CONTENT_LENGTH"] = _positive_int(
        settings["MAX_CONTENT_LENGTH"], "MAX_CONTENT_LENGTH / ALSOSEE_MAX_BODY_BYTES"
    )
    _ops_settings.resolve(settings, file_values=file_values, overrides=test_config)
    return settings


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the alsosee Flask app and load its model (see the module docstring)."""
    from recommender.errors import InvalidParameterError, SchemaVersionError
    from service import (
        api,
        caching,
        cors,
        editorial_api,
        embed,
        errors,
        health,
        live_api,
        metrics,
        observability,
        openapi,
        pages,
        protection,
        validation,
    )
    from service.connection import CloseAfterErrorWithBody
    from service.state import EXTENSION_KEY, ServiceState

    app = Flask(__name__)
    app.config.update(_settings(test_config))
    from service.auth import ENV_API_KEYS, parse_keys

    try:
        parse_keys(app.config.get("API_KEYS"))
    except ValueError as exc:
        raise RuntimeError(f"{ENV_API_KEYS} / api_keys: {exc}") from None
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Article ids may contain "//": never let routing rewrite them.
    app.url_map.merge_slashes = False
    app.url_map.converters["article_write"] = validation.WritableArticleId

    try:
        app.extensions[EXTENSION_KEY] = ServiceState.load(
            app.config["MODEL_DIR"], state_db=app.config.get("STATE_DB"),
            poll_interval=app.config.get("STATE_POLL_INTERVAL"),
        )
    except SchemaVersionError as exc:
        raise RuntimeError(str(exc)) from None
    try:
        app.extensions[EXTENSION_KEY].configure_ranking(app.config.get("RANKING"))
    except InvalidParameterError as exc:
        raise RuntimeError(f"invalid [ranking] configuration: {exc}") from exc

    errors.register(app)
    observability.init_app(app)  # first: times and logs everything below, incl. 304s
    caching.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(embed.bp)
    cors.init_app(app)
    app.register_blueprint(live_api.bp)
    app.register_blueprint(editorial_api.bp)
    metrics.init_app(app)
    protection.init_app(app)  # after the blueprints: it wraps their views
    app.after_request(_security_headers)
    # Keep-alive (gthread) and unread request bodies, under any WSGI server entry point:
    # see service/connection.py.
    app.wsgi_app = CloseAfterErrorWithBody(app.wsgi_app)  # type: ignore[method-assign]
    caching.wrap_wsgi(app)  # outermost: a repeated list skips everything above
    return app
