"""API keys for the endpoints that change state (takedowns, pins, blocks, publishing...).

Keys come from ``ALSOSEE_API_KEYS`` (comma-separated) or the config file's ``api_keys``
(a list or a comma-separated string), never from the repository. An entry is either a bare
key or ``name:key``; the name (or a short fingerprint of a bare key) is recorded as the
author of editorial changes. Keys are compared in constant time (``hmac.compare_digest`` over
SHA-256 digests, every configured key checked whatever matched).

Usage::

    from service.auth import require_api_key

    @bp.put("/takedowns/<path:article_id>")
    @require_api_key
    def put_takedown(article_id): ...

A request without ``Authorization: Bearer <key>`` gets a 401 problem (with
``WWW-Authenticate: Bearer``), a wrong key a 403 problem; the view does not run.
``@require_api_key(scope="read")`` protects a read endpoint of the editorial state (who took
what down and why) unless the config sets ``READ_REQUIRES_KEY`` false
(``ALSOSEE_READ_REQUIRES_KEY=false``): those reads need a key by default.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request

from service.errors import Problem

ENV_API_KEYS = "ALSOSEE_API_KEYS"
#: Shortest secret accepted (``openssl rand -hex 16`` gives 32 characters).
MIN_SECRET_LENGTH = 16
REALM = 'Bearer realm="alsosee"'


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes


def parse_keys(value: Any) -> tuple[ApiKey, ...]:
    """``"k1,name:k2"`` or ``["k1", "name:k2"]`` -> keys (empty entries ignored).

    Raises ``ValueError`` (naming the entry by its name or position, never its secret) for
    an empty secret (``"desk:"``, as ``desk:$(openssl rand -hex 16)`` gives without openssl)
    or one shorter than :data:`MIN_SECRET_LENGTH`."""
    if value is None:
        return ()
    if isinstance(value, str):
        entries = value.split(",")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):  # TOML
        entries = list(value)
    else:
        raise ValueError("api_keys must be a string of comma-separated keys or a list of strings")
    keys = []
    for position, entry in enumerate(entries, 1):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, secret = entry.partition(":")
        name, secret = name.strip(), secret.strip()
        if not sep or not name:
            secret = entry  # a bare key (it may itself contain ':')
            name = "key-" + hashlib.sha256(secret.encode()).hexdigest()[:8]
            label = f"API key #{position}"
        else:
            label = f"API key {name!r}"
        if len(secret) < MIN_SECRET_LENGTH:
            what = "has an empty secret" if not secret else \
                f"has a {len(secret)}-character secret"
            raise ValueError(f"{label} {what}; secrets need at least {MIN_SECRET_LENGTH} "
                             "characters (e.g. name:$(openssl rand -hex 16))")
        keys.append(ApiKey(name, hashlib.sha256(secret.encode()).digest()))
    return tuple(keys)


@functools.lru_cache(maxsize=16)
def _parsed(value: Any) -> tuple[ApiKey, ...]:
    return parse_keys(value)


def configured_keys() -> tuple[ApiKey, ...]:
    """The keys of ``app.config["API_KEYS"]`` (service/settings.py), parsed once."""
    value = current_app.config.get("API_KEYS")
    if isinstance(value, list):
        value = tuple(value)
    return _parsed(value)


def _match(token: str) -> ApiKey | None:
    keys = configured_keys()
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    found = None
    for key in keys:  # no early exit: the time taken does not depend on which key matched
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


def check_request(what: str = "This endpoint needs an API key") -> ApiKey:
    """The key of the current request, or raise a 401/403 problem (*what* starts the 401's
    detail: what needed the key)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, f"{what}: send 'Authorization: Bearer <key>'.",
                      slug="unauthorized", title="Unauthorized",
                      headers=[("WWW-Authenticate", REALM)])
    if not configured_keys():
        raise Problem(403, "Writes and previews are disabled: no API key is configured "
                           f"(set {ENV_API_KEYS} or api_keys in the config file).",
                      slug="forbidden", title="Forbidden")
    key = _match(token.strip())
    if key is None:
        raise Problem(403, "The API key is not valid.", slug="forbidden", title="Forbidden",
                      headers=[("WWW-Authenticate", REALM + ', error="invalid_token"')])
    return key


def reads_require_key(app: Flask | None = None) -> bool:
    """Whether reading the editorial state needs a key (``READ_REQUIRES_KEY``; yes unless
    set false, also in an app built without the settings)."""
    config = (app or current_app).config
    return bool(config.get("READ_REQUIRES_KEY", True))


def require_api_key(view: Callable[..., Any] | None = None, *,
                    scope: str = "write") -> Any:
    """Decorator: the view runs only with a valid API key (see the module docstring)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if scope == "write" or reads_require_key():
                g.alsosee_api_key = check_request()
            return fn(*args, **kwargs)

        # Read by service/openapi.py: security, 401 and 403 in the operation's description.
        wrapper.alsosee_auth = "editorial" if scope == "read" else scope  # type: ignore[attr-defined]
        return wrapper

    return decorate(view) if view is not None else decorate


def key_for_some_options(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view open to anyone whose privileged ranking options need a key
    (:func:`service.ranking_params.require_key_for`): its description gets the optional
    bearer security and the 401/403 answers."""
    view.alsosee_auth = "read"  # type: ignore[attr-defined]
    return view


def current_actor() -> str:
    """Who made the current (authenticated) request: the key's name."""
    key = g.get("alsosee_api_key")
    return f"api:{key.name}" if key is not None else "api:anonymous"


def request_key() -> ApiKey | None:
    """The valid API key the current request carries, if any (never raises: for code that
    treats keyed callers differently, such as the rate limiter, on public endpoints)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or not configured_keys():
        return None
    return _match(token.strip())
