"""Validation of request parameters: everything a client sends is checked here, so that no
request can reach the library with a value it would choke on (and no request yields a 500)."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Request
from werkzeug.routing import PathConverter

from recommender.state.live import json_type_name
from service.errors import Problem, invalid_parameter

K_DEFAULT = 5
K_MIN = 1
K_MAX = 100
MAX_ARTICLE_ID_LENGTH = 512

_K_RE = re.compile(r"[0-9]{1,4}", re.ASCII)
_K_DETAIL = f"k must be an integer from {K_MIN} to {K_MAX}"


def _check_k_range(k: int) -> int:
    if not K_MIN <= k <= K_MAX:
        raise invalid_parameter("k", f"{_K_DETAIL}, got {k}")
    return k


def k_from_query(request: Request) -> int:
    """``?k=`` as an int in 1..100 (default 5). ``abc``, ``''``, ``null``, ``1.5``, ``-1``,
    ``+1``, ``0``, ``101`` and repeated ``k`` are all rejected with a 400 naming ``k``."""
    values = request.args.getlist("k")
    if not values:
        return K_DEFAULT
    if len(values) > 1:
        raise invalid_parameter("k", f"{_K_DETAIL}; give it only once")
    raw = values[0]
    if not _K_RE.fullmatch(raw):
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise invalid_parameter("k", f"{_K_DETAIL}, got {shown!r}")
    return _check_k_range(int(raw))


def k_from_json(payload: dict[str, Any]) -> int:
    if "k" not in payload:
        return K_DEFAULT
    k = payload["k"]
    # JSON (and JSON Schema's "integer") does not tell 96 from 96.0: accept an integral
    # float (found by schemathesis), but not 1.5, NaN or a huge 1e308.
    if isinstance(k, float) and k.is_integer() and abs(k) < 2**31:
        k = int(k)
    # bool is an int subclass: reject it explicitly.
    if isinstance(k, bool) or not isinstance(k, int):
        raise invalid_parameter("k", f"{_K_DETAIL}, got JSON {json_type_name(k)}")
    return _check_k_range(k)


class WritableArticleId(PathConverter):
    """``<article_write:article_id>``: an article id as in ``<path:...>`` (it may contain
    ``/``), except that it never ends in a sub-resource of another route (``/related``,
    ``/related.html``, ``/pins``, ``/blocks``). So ``PUT /v1/articles/x/related`` is a 405 of
    the ``related`` route, not the publication of an article called ``x/related``, and the
    ``Allow`` header of ``/v1/articles/x/related`` lists only its own methods (both found by
    schemathesis)."""

    regex = r"[^/].*?(?<!/related)(?<!/related\.html)(?<!/pins)(?<!/blocks)"


def article_id(value: str) -> str:
    if len(value) > MAX_ARTICLE_ID_LENGTH:
        raise invalid_parameter(
            "article_id",
            f"article id is {len(value)} characters long; at most "
            f"{MAX_ARTICLE_ID_LENGTH} are allowed",
        )
    return value


def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object: 415 unless the content type is JSON, 413 when the
    body is larger than ``MAX_CONTENT_LENGTH``, 400 when it is not valid JSON or not an
    object."""
    if not request.is_json:
        raise Problem(
            415,
            "The request body must be JSON sent with 'Content-Type: application/json' "
            f"(got {request.mimetype or 'no content type'!r}).",
            slug="unsupported-media-type",
        )
    raw = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Problem(
            400, f"The request body is not valid JSON: {exc}", slug="malformed-body"
        ) from None
    if not isinstance(payload, dict):
        raise Problem(
            400,
            f"The request body must be a JSON object, got a JSON {json_type_name(payload)}.",
            slug="malformed-body",
        )
    return payload


def optional_string(payload: dict[str, Any], field: str) -> str:
    value = payload.get(field, "")
    if not isinstance(value, str):
        raise invalid_parameter(
            field, f"{field} must be a string, got JSON {json_type_name(value)}"
        )
    return value


MAX_TAGS = 100


def optional_string_list(payload: dict[str, Any], field: str) -> list[str]:
    value = payload.get(field, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_parameter(field, f"{field} must be an array of strings")
    if len(value) > MAX_TAGS:
        raise invalid_parameter(field, f"{field} has {len(value)} items; at most {MAX_TAGS}")
    return value
