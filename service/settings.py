"""The service's settings: one table, read in one place.

Each :class:`Setting` is one row: its Flask config key, its environment variable, its key in
the TOML file named by ``ALSOSEE_CONFIG``, its default, the parser of its value and its help.
Precedence (:func:`resolve`): test config / command-line flag > environment variable > config
file > default; an empty variable counts as unset. A bad value is a ``ValueError`` naming where
it came from (variable, ``key (config file)`` or config key) and the value. The
"Configuration" table of docs/operations.md lists the same rows (a test checks that every
variable here is documented there).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from recommender.model.artifact import DEFAULT_MODEL_DIR, ENV_MODEL_DIR

_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+", re.ASCII)

#: The optional TOML file of settings (environment only).
ENV_CONFIG = "ALSOSEE_CONFIG"


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


def _path(value: Any, source: str) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{source}: expected a directory path, got {value!r}")
    return value


def _table(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{source}: expected a table of options, got {value!r}")
    return dict(value)


@dataclass(frozen=True)
class Setting:
    """One setting: config key, variable (None: file only), TOML key, default, parser, help."""

    key: str
    env: str | None
    toml: str
    default: Any
    parse: Callable[[Any, str], Any]
    doc: str
    #: Other TOML keys accepted for the same setting.
    aliases: tuple[str, ...] = ()


#: The models root (with a ``current`` pointer) or a version directory: app and server.
MODEL_DIR = Setting("MODEL_DIR", ENV_MODEL_DIR, "model_dir", DEFAULT_MODEL_DIR, _path,
                    "models root (with `current`) or a version directory")

#: Settings of the web app (read by ``create_app``).
APP_SETTINGS: tuple[Setting, ...] = (
    MODEL_DIR,
    Setting("MAX_CONTENT_LENGTH", "ALSOSEE_MAX_BODY_BYTES", "max_content_length", 1024 * 1024,
            _int(1), "request body limit of queries (bytes; 413 above it)",
            aliases=("max_body_bytes",)),
    Setting("CORS_ORIGINS", "ALSOSEE_CORS_ORIGINS", "cors_origins", "*", parse_origins,
            "origins whose pages may call the API from a browser (service/cors.py): `*` or "
            "a comma-separated list (a TOML array too)"),
    # Default ranking options (any RankingOptions field; section_half_life as a table),
    # validated by the ranking options themselves when the app loads.
    Setting("RANKING", None, "ranking", None, _table,
            "default ranking options, a TOML table `[ranking]`"),
    Setting("STATE_DB", "ALSOSEE_STATE_DB", "state_db", None, _str,
            "the live state (live articles, takedowns, pins, blocks): a SQLite file (default "
            "`<models root>/state.db`), or `postgresql://user:password@host:5432/db` shared by "
            "several hosts (`pip install 'alsosee[postgres]'`; run `alsosee state migrate` "
            "first)"),
    Setting("STATE_POLL_INTERVAL", "ALSOSEE_STATE_POLL_INTERVAL", "state_poll_interval", 1.0,
            _float, "PostgreSQL state: seconds between each process's polls of the state "
            "version, besides LISTEN/NOTIFY (the bound when a notification is lost or after a "
            "reconnect)"),
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
#: Setting by config key.
BY_KEY: dict[str, Setting] = {s.key: s for s in ALL_SETTINGS}


def toml_keys() -> dict[str, str]:
    """TOML key (and alias) -> config key, for every setting (the file may hold server ones)."""
    keys = {s.toml: s.key for s in ALL_SETTINGS}
    keys.update({alias: s.key for s in ALL_SETTINGS for alias in s.aliases})
    return keys


def load_file(path: str | None = None) -> dict[str, Any]:
    """The TOML file named by ``path`` (default: ``ALSOSEE_CONFIG``), by config key.

    ``RuntimeError`` naming the file when it cannot be read, is not TOML or holds an unknown
    key; an unset ``ALSOSEE_CONFIG`` is an empty file.
    """
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
        if path is None:
            return {}
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise RuntimeError(f"{ENV_CONFIG}={path}: cannot read config file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RuntimeError(f"{ENV_CONFIG}={path}: invalid TOML: {exc}") from exc
    known = toml_keys()
    values: dict[str, Any] = {}
    for name, value in data.items():
        key = known.get(name)
        if key is None:
            raise RuntimeError(f"{path}: unknown key {name!r} (known: {', '.join(sorted(known))})")
        values[key] = value
    return values


def resolve(table: tuple[Setting, ...] = APP_SETTINGS,
            file_values: Mapping[str, Any] | None = None,
            overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every setting of ``table`` by config key: override > env > file > default, parsed.

    ``file_values`` is :func:`load_file`'s result (read here when None); an override of
    ``None`` counts as absent.
    """
    if file_values is None:
        file_values = load_file()
    values: dict[str, Any] = {}
    for s in table:
        env_value = os.environ.get(s.env) if s.env else None
        if overrides is not None and overrides.get(s.key) is not None:
            value, source = overrides[s.key], s.key
        elif env_value and s.env:
            value, source = env_value, s.env
        elif s.key in file_values:
            value, source = file_values[s.key], f"{s.toml} (config file)"
        else:
            values[s.key] = s.default
            continue
        values[s.key] = s.parse(value, source)
    return values


def app_config(test_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The web app's Flask config: every app setting, then the rest of ``test_config``
    (``TESTING`` and the like) as given."""
    values = resolve(APP_SETTINGS, overrides=test_config)
    for key, value in (test_config or {}).items():
        if key not in values:
            values[key] = value
    return values


def read(key: str) -> Any:
    """One setting from its environment variable, else its default (for code that runs
    where no app config exists, e.g. gunicorn's worker class)."""
    setting = BY_KEY[key]
    value = os.environ.get(setting.env) if setting.env else None
    return setting.parse(value, setting.env) if value and setting.env else setting.default


def export(key: str, value: Any) -> None:
    """Set a setting's environment variable, for the worker processes started after this."""
    setting = BY_KEY[key]
    if setting.env is None:
        raise KeyError(f"{key} has no environment variable")
    os.environ[setting.env] = str(value)
