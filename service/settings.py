"""Operational settings: one table, read from the environment and the TOML config file.

Each :class:`Setting` has a Flask config key, an environment variable, a key in the file named
by ``ALSOSEE_CONFIG`` and a default. Precedence: test config / command-line flag > environment
variable > config file > default. The "Configuration" table of docs/operations.md lists the
same rows (a test checks that every variable here is documented there).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _int(minimum: int) -> Callable[[Any, str], int]:
    def parse(value: Any, source: str) -> int:
        if isinstance(value, bool):
            raise ValueError(f"{source}: expected an integer >= {minimum}, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: expected an integer >= {minimum}, got {value!r}") from None
        if number < minimum:
            raise ValueError(f"{source}: expected an integer >= {minimum}, got {value!r}")
        return number

    return parse


def _float(value: Any, source: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: expected a number of seconds, got {value!r}") from None
    if not number > 0:
        raise ValueError(f"{source}: expected a positive number of seconds, got {value!r}")
    return number


def _bool(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{source}: expected true/false, got {value!r}")


def _str(value: Any, source: str) -> str:
    if isinstance(value, list):  # TOML arrays for lists (origins, keys)
        return ",".join(str(v) for v in value)
    if not isinstance(value, str | int | float):
        raise ValueError(f"{source}: expected a string, got {value!r}")
    return str(value)


def _pairs(value: Any, source: str) -> str:
    if isinstance(value, dict):  # TOML table {name = "limit"}
        return ",".join(f"{k}={v}" for k, v in value.items())
    return _str(value, source)


@dataclass(frozen=True)
class Setting:
    key: str
    env: str
    toml: str
    default: Any
    parse: Callable[[Any, str], Any]
    doc: str


#: Settings of the web app (read by ``create_app``), beyond MODEL_DIR and MAX_CONTENT_LENGTH.
APP_SETTINGS: tuple[Setting, ...] = (
    Setting("STATE_DB", "ALSOSEE_STATE_DB", "state_db", None, _str,
            "SQLite file of the live state (live articles, takedowns, pins); "
            "default `<models root>/state.db`"),
    Setting("API_KEYS", "ALSOSEE_API_KEYS", "api_keys", None, _str,
            "comma-separated API keys for write endpoints (none: writes are refused)"),
    Setting("READ_REQUIRES_KEY", "ALSOSEE_READ_REQUIRES_KEY", "read_requires_key", True, _bool,
            "require an API key to read the editorial state (`GET /v1/takedowns`: reasons "
            "and authors; pins, blocks); `false` opens these reads to anyone"),
    Setting("WATCH_MODEL", "ALSOSEE_WATCH_MODEL", "watch_model", False, _bool,
            "reload when the `current` pointer changes (no SIGHUP/POST needed)"),
    Setting("WATCH_INTERVAL", "ALSOSEE_WATCH_INTERVAL", "watch_interval", 1.0, _float,
            "seconds between checks for reload requests (and the pointer, if watched)"),
    Setting("CACHE_MAX_AGE", "ALSOSEE_CACHE_MAX_AGE", "cache_max_age", 10, _int(0),
            "`Cache-Control: max-age` (s) of related lists; 0 = `no-cache`"),
    Setting("RESPONSE_CACHE_SIZE", "ALSOSEE_RESPONSE_CACHE_SIZE", "response_cache_size", 4096,
            _int(0), "related lists (JSON/HTML bodies) each worker keeps in memory, keyed by "
            "URL, model version and state version (a takedown or pin changes the key); 0 = off"),
    Setting("RESPONSE_CACHE_TTL", "ALSOSEE_RESPONSE_CACHE_TTL", "response_cache_ttl", 60.0,
            _float, "seconds a cached related list may be reused (bounds drafts' recency)"),
    Setting("RATE_LIMIT", "ALSOSEE_RATE_LIMIT", "rate_limit", "60/minute", _str,
            "limit of `POST /v1/related` per client address for callers without an API key "
            "(per worker with memory storage); `off` disables every limit"),
    Setting("KEY_RATE_LIMIT", "ALSOSEE_KEY_RATE_LIMIT", "key_rate_limit", "600/minute", _str,
            "limit of `POST /v1/related` per API key (callers with a valid key); `off` "
            "exempts them"),
    Setting("KEY_RATE_LIMITS", "ALSOSEE_KEY_RATE_LIMITS", "key_rate_limits", None, _pairs,
            "per-key limits by key name: `cms=off,desk=120/minute` (a TOML table too)"),
    Setting("TRUSTED_PROXIES", "ALSOSEE_TRUSTED_PROXIES", "trusted_proxies", None, _str,
            "addresses/networks of reverse proxies whose `X-Forwarded-For` names the client "
            "(`127.0.0.1,10.0.0.0/8`); none: the peer's address is the client's"),
    Setting("RATE_LIMIT_STORAGE", "ALSOSEE_RATE_LIMIT_STORAGE", "rate_limit_storage",
            "memory://", _str, "flask-limiter storage URI; `redis://host:6379/0` (`redis` extra) "
            "shares the counters of every worker and host; checked at start-up"),
    Setting("MAX_BATCH_BYTES", "ALSOSEE_MAX_BATCH_BYTES", "max_batch_bytes", 16 * 1024 * 1024,
            _int(1), "body limit of `PUT /v1/articles/<id>` and `POST /v1/articles:batch` (bytes)"),
)

#: Settings of the server process (read by ``service.server``; command-line flags win).
SERVER_SETTINGS: tuple[Setting, ...] = (
    Setting("HOST", "ALSOSEE_HOST", "host", "127.0.0.1", _str, "address to listen on"),
    Setting("PORT", "ALSOSEE_PORT", "port", 8000, _int(0), "port to listen on"),
    Setting("WORKERS", "ALSOSEE_WORKERS", "workers", 2, _int(1),
            "gunicorn worker processes (each maps the model; memory is shared)"),
    # gthread keeps connections alive (a CMS reuses them); measured 1.6x the requests/s of
    # the sync worker with the same 2 workers, on this 2-core machine. 2 threads rather than
    # 4: the same requests/s with a lower tail (the GIL is shared by a worker's threads;
    # 100k by-id, idle machine: p99 15-20 ms vs 25-26 ms, docs/performance.md).
    Setting("THREADS", "ALSOSEE_THREADS", "threads", 2, _int(1),
            "threads per worker (gunicorn's gthread worker, with keep-alive)"),
    Setting("TIMEOUT", "ALSOSEE_TIMEOUT", "timeout", 30, _int(1),
            "seconds a worker may spend on one request before it is restarted"),
    Setting("REQUEST_READ_TIMEOUT", "ALSOSEE_REQUEST_READ_TIMEOUT", "request_read_timeout",
            15.0, _float, "seconds a client gets to send its request (head and first MiB of "
            "body, read without a thread); later body reads each get as long; 408 after"),
    Setting("GRACEFUL_TIMEOUT", "ALSOSEE_GRACEFUL_TIMEOUT", "graceful_timeout", 30, _int(0),
            "seconds workers get to finish requests on shutdown (SIGTERM)"),
    Setting("KEEPALIVE", "ALSOSEE_KEEPALIVE", "keepalive", 5, _int(0),
            "seconds to keep an idle HTTP connection open"),
    Setting("MAX_REQUESTS", "ALSOSEE_MAX_REQUESTS", "max_requests", 0, _int(0),
            "restart a worker after this many requests (0 = never)"),
    Setting("LOG_LEVEL", "ALSOSEE_LOG_LEVEL", "log_level", "info", _str,
            "log level (JSON lines on stderr, one per request at info)"),
)

ALL_SETTINGS = APP_SETTINGS + SERVER_SETTINGS


def toml_keys() -> dict[str, str]:
    """TOML key -> config key, for every setting (the file may hold server ones too)."""
    return {s.toml: s.key for s in ALL_SETTINGS}


def resolve(settings: dict[str, Any], table: tuple[Setting, ...] = APP_SETTINGS,
            file_values: Mapping[str, Any] | None = None,
            overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Fill ``settings`` with every setting of ``table``: override > env > file > default.

    ``settings`` may already hold values from the config file (under the config key).
    """
    for s in table:
        source = None
        if overrides is not None and overrides.get(s.key) is not None:
            value, source = overrides[s.key], s.key
        elif os.environ.get(s.env) is not None:
            value, source = os.environ[s.env], s.env
        elif file_values is not None and s.key in file_values:
            value, source = file_values[s.key], f"{s.toml} (config file)"
        elif s.key in settings:
            value, source = settings[s.key], s.key
        else:
            value = s.default
        settings[s.key] = s.parse(value, source) if (source and value is not None) else value
    return settings
