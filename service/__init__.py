"""alsosee HTTP service: a thin Flask layer over the ``recommender`` library.

``create_app(test_config)`` builds the app. Its configuration is the table of
``service/settings.py`` (also docs/operations.md, "Configuration"): each setting is read from,
each layer overriding the previous one, its default, the TOML file named by ``ALSOSEE_CONFIG``
(lower-case keys: ``model_dir = "..."``, ``max_content_length = 1048576``), its ``ALSOSEE_*``
environment variable and ``test_config`` (upper-case Flask keys: ``TESTING``, ``MODEL_DIR``,
``MAX_CONTENT_LENGTH``).

``MODEL_DIR`` is a models root containing a ``current`` pointer, or a version directory.
The model is loaded once, when the app is created (i.e. once per gunicorn worker). When no
model can be loaded the app still starts: ``/healthz`` answers 200, ``/readyz`` and every API
endpoint answer 503 problem bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from service import settings as _settings_table
from service.settings import ENV_CONFIG, ENV_MODEL_DIR

if TYPE_CHECKING:
    from flask import Flask, Response

__all__ = ["ENV_CONFIG", "ENV_MODEL_DIR", "create_app"]


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the alsosee Flask app and load its model (see the module docstring)."""
    # Flask is imported here, not with the package: service.launch and service.settings
    # are used by processes that never build the app (benchmarks, the server's master).
    from flask import Flask

    from recommender.errors import InvalidParameterError, SchemaVersionError
    from service import (
        api,
        cors,
        editorial_api,
        embed,
        errors,
        health,
        http_caching,
        live_api,
        metrics,
        observability,
        openapi,
        pages,
        rate_limits,
        validation,
    )
    from service.connection import CloseAfterErrorWithBody
    from service.state import EXTENSION_KEY, ServiceState

    app = Flask(__name__)
    app.config.update(_settings_table.app_config(test_config))
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
    http_caching.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(embed.bp)
    cors.init_app(app)
    app.register_blueprint(live_api.bp)
    app.register_blueprint(editorial_api.bp)
    metrics.init_app(app)
    rate_limits.init_app(app)  # after the blueprints: it wraps their views
    app.after_request(_security_headers)
    # Keep-alive (gthread) and unread request bodies, under any WSGI server entry point:
    # see service/connection.py.
    app.wsgi_app = CloseAfterErrorWithBody(app.wsgi_app)  # type: ignore[method-assign]
    http_caching.wrap_wsgi(app)  # outermost: a repeated list skips everything above
    return app
