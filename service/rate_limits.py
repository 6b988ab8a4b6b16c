"""Protection for a public service: rate limiting of the expensive endpoint.

``POST /v1/related`` (scoring a draft's text) is rate limited with flask-limiter, counted per
caller:

* a request with a valid API key counts against **its key**: ``KEY_RATE_LIMIT`` (default
  ``600/minute``; ``off`` exempts keyed callers), with per-key values in ``KEY_RATE_LIMITS``
  (``"cms=off,desk=120/minute"``, by the key's name in ``ALSOSEE_API_KEYS``). A CMS back end
  sending every editor's drafts from one address is limited as one caller with its own limit;
* any other request counts against its **client address**: ``RATE_LIMIT`` (default
  ``60/minute``; ``off`` disables every limit). The address is the peer's, unless the peer is
  one of ``TRUSTED_PROXIES`` (addresses or networks, ``"127.0.0.1,10.0.0.0/8"``): then it is
  read from ``X-Forwarded-For``, from the right, skipping trusted proxies (the first address
  not a trusted proxy is the client; what a client writes further left is not believed).

Counters live in ``RATE_LIMIT_STORAGE`` (default ``memory://``). In-memory counters are
**per worker process**: with 4 workers a caller can get up to 4x the limit. Point the storage
at a shared backend (``redis://host:6379/0``, the ``redis`` extra) for one limit across every
worker of every host. Exceeding a limit gives a 429 problem with ``Retry-After``.

A storage URL that names no known backend (or one whose client library is not installed), or
a shared backend that does not answer at start-up, is a ValueError naming the setting: the
server does not start with limits it cannot keep. A backend lost *while serving* does not fail
requests: each worker counts in memory (per worker, as above) and goes back to the shared
counters once the backend answers again (flask-limiter's in-memory fallback; a warning is
logged).

Body size limits: ``MAX_CONTENT_LENGTH`` (413 beyond it) and, for ``POST /v1/articles:batch``,
``MAX_BATCH_BYTES``. CORS: :mod:`service.cors`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from limits import parse_many
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from recommender.urls import without_password
from service.auth import request_key

DEFAULT_RATE_LIMIT = "60/minute"
DEFAULT_KEY_RATE_LIMIT = "600/minute"
DEFAULT_RATE_LIMIT_STORAGE = "memory://"
#: Views (endpoint names) the rate limit applies to.
LIMITED_ENDPOINTS = ("api.related_to_draft",)
OFF = ("", "off", "none", "0")
#: Seconds a Redis connection or command may take: a lost backend costs a request at most
#: this before the worker falls back to in-memory counters.
REDIS_TIMEOUT = 1.0
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: Any) -> tuple[Network, ...]:
    """``"127.0.0.1,10.0.0.0/8"`` (or a list) -> networks; a bad entry is a ValueError
    naming it."""
    if value is None:
        return ()
    entries = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for entry in entries:
        entry = str(entry).strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network "
                             "(e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(networks)


def parse_key_limits(value: Any) -> dict[str, str]:
    """``"cms=off,desk=120/minute"`` (or a TOML table) -> {key name: limit}."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return {str(k): str(v).strip() for k, v in value.items()}
    limits = {}
    for entry in str(value).split(","):
        if not entry.strip():
            continue
        name, sep, limit = entry.partition("=")
        if not sep or not name.strip() or not limit.strip():
            raise ValueError(f"key_rate_limits: expected NAME=LIMIT (e.g. cms=off or "
                             f"desk=120/minute), got {entry.strip()!r}")
        limits[name.strip()] = limit.strip()
    return limits


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: Sequence[str],
                   networks: Sequence[Network]) -> str:
    """The client's address: ``peer``, or when ``peer`` is a trusted proxy, the right-most
    address of ``X-Forwarded-For`` (its values, in order) that is not a trusted proxy."""
    address = peer or "unknown"
    if not networks or not _trusted(address, networks):
        return address
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = hop
        if not _trusted(hop, networks):
            break
    return address


def request_client_address() -> str:
    """:func:`client_address` of the current request, with the app's trusted proxies."""
    return client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"),
                          current_app.extensions["alsosee_trusted_proxies"])


def _caller() -> tuple[str, str]:
    """(limit, bucket) of the current request, computed once per request."""
    found = g.get("alsosee_rate_caller")
    if found is None:
        key = request_key()
        config = current_app.config
        if key is not None:
            limits = current_app.extensions["alsosee_key_rate_limits"]
            limit = limits.get(key.name, str(config.get("KEY_RATE_LIMIT",
                                                        DEFAULT_KEY_RATE_LIMIT)))
            found = (limit, f"key:{key.name}")
        else:
            found = (str(config.get("RATE_LIMIT", DEFAULT_RATE_LIMIT)).strip(),
                     f"addr:{request_client_address()}")
        g.alsosee_rate_caller = found
    return found


def _check_limit(value: str, source: str) -> None:
    if value.strip().lower() in OFF:
        return
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"{source}: {value!r} is not a rate limit (e.g. 60/minute, "
                         "10/second;1000/hour, or off)") from None


def check_storage(uri: str) -> dict[str, Any]:
    """Storage options for ``uri`` after checking it names a backend that answers now;
    otherwise a ValueError naming the setting and the URL."""
    source = "rate_limit_storage (ALSOSEE_RATE_LIMIT_STORAGE)"
    scheme = uri.partition("://")[0].lower()
    if scheme == "memory" and "://" in uri:
        return {}  # nothing to reach (and no throwaway storage with its own timer thread)
    options: dict[str, Any] = {}
    if scheme in _REDIS_SCHEMES:
        options = {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT}
    shown = without_password(uri)
    try:
        storage = storage_from_string(uri, **options)
    except ConfigurationError as exc:
        why = str(exc).replace(uri, shown)
        raise ValueError(f"{source}: {shown!r} is not a usable storage URL ({why}; e.g. "
                         "memory:// or redis://host:6379/0, which needs the redis extra)"
                         ) from None
    if not storage.check():
        raise ValueError(f"{source}: the storage at {shown!r} does not answer; start it or "
                         "correct the URL (the server does not start with limits it cannot "
                         "keep)")
    return options


def init_app(app: Flask) -> None:
    """Install the rate limiter (settings: module docstring); bad settings: ValueError."""
    app.extensions["alsosee_trusted_proxies"] = parse_networks(app.config.get("TRUSTED_PROXIES"))
    key_limits = parse_key_limits(app.config.get("KEY_RATE_LIMITS"))
    app.extensions["alsosee_key_rate_limits"] = key_limits
    rate = str(app.config.get("RATE_LIMIT", DEFAULT_RATE_LIMIT)).strip()
    _check_limit(rate, "rate_limit (ALSOSEE_RATE_LIMIT)")
    _check_limit(str(app.config.get("KEY_RATE_LIMIT", DEFAULT_KEY_RATE_LIMIT)),
                 "key_rate_limit (ALSOSEE_KEY_RATE_LIMIT)")
    for name, limit in key_limits.items():
        _check_limit(limit, f"key_rate_limits (ALSOSEE_KEY_RATE_LIMITS) for key {name!r}")
    if rate.lower() not in OFF:
        storage = str(app.config.get("RATE_LIMIT_STORAGE", DEFAULT_RATE_LIMIT_STORAGE)).strip()
        limiter = Limiter(
            key_func=lambda: _caller()[1],
            app=app,
            storage_uri=storage,
            storage_options=check_storage(storage),
            # a backend lost while serving: count per worker in memory until it is back
            in_memory_fallback_enabled=True,
            swallow_errors=True,
            # counters of every host sharing the backend meet under one name
            key_prefix="alsosee",
            headers_enabled=True,
            default_limits=[],
        )
        route_limit = limiter.limit(lambda: _caller()[0],
                                    exempt_when=lambda: _caller()[0].lower() in OFF)
        for endpoint in LIMITED_ENDPOINTS:
            view = app.view_functions.get(endpoint)
            if view is not None:
                # flask-limiter types its wrapper as possibly async; these views are not
                app.view_functions[endpoint] = route_limit(view)  # type: ignore[assignment]
        # flask-limiter checks every request in a before_request hook (~0.3 ms of a by-id
        # request's CPU, measured); other endpoints have no limit, so let them out at once.
        limiter.request_filter(lambda: request.endpoint not in LIMITED_ENDPOINTS)
        app.extensions["alsosee_limiter"] = limiter
