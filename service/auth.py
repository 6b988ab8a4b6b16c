"""Write access: ``Authorization: Bearer <key>`` checked against configured API keys.

Keys come from ``ALSOSEE_API_KEYS`` (comma-separated) or the config file's ``api_keys``
(read by :func:`service.create_app` into ``app.config["API_KEYS"]``), never from the
repository. Every configured key is compared in constant time (``hmac.compare_digest``),
so the time taken says nothing about how much of a guess was right.

* no ``Authorization`` header (or not ``Bearer``): 401 with ``WWW-Authenticate: Bearer``;
* a wrong key: 403;
* no key configured at all: 403 as well (writes are disabled, say so).
"""

from __future__ import annotations

import functools
import hmac
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import current_app, request

from service.errors import Problem

ENV_API_KEYS = "ALSOSEE_API_KEYS"

F = TypeVar("F", bound=Callable[..., Any])


def parse_keys(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Keys from a comma-separated string or a list; blanks dropped."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(k.strip() for k in items if isinstance(k, str) and k.strip())


def configured_keys() -> tuple[str, ...]:
    keys = current_app.config.get("API_KEYS")
    if keys is None:
        keys = os.environ.get(ENV_API_KEYS)
    return parse_keys(keys)


def check_request() -> None:
    """Raise a 401/403 problem unless the request carries a configured key."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "This endpoint changes state: send 'Authorization: Bearer <API key>'.",
            slug="unauthorized", title="Unauthorized",
            headers=[("WWW-Authenticate", 'Bearer realm="alsosee"')],
        )
    keys = configured_keys()
    token = token.strip().encode()
    # Compare against every key (no early exit) so timing does not reveal which matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token, key.encode())
    if not keys:
        raise Problem(403, "Write access is disabled: no API key is configured "
                      f"({ENV_API_KEYS} or api_keys in the config file).",
                      slug="forbidden", title="Forbidden")
    if not matched:
        raise Problem(403, "The API key is not valid.", slug="forbidden", title="Forbidden")


def require_api_key(view: F) -> F:
    """Decorator for views that change state."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_request()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
