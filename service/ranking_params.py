"""Ranking options from a request: query parameters (GET) or JSON fields (POST).

Every :class:`recommender.ranking.RankingOptions` field is accepted under its own name.
List options (``section``, ``exclude_sections``, ``tags``, ``exclude``) repeat in a query
string (``?section=World&section=Europe``) and are arrays in JSON; ``section_half_life`` is
``World:2,Features:90`` in a query string and an object in JSON. In ``POST /v1/related`` the
top-level ``tags`` are the draft's own tags, so the tag *filter* goes in the ``options``
object (which may hold any option). Validation errors are 400 problems naming the field.
"""

from __future__ import annotations

from typing import Any

from flask import Request

from recommender.ranking import RankingOptions
from service.errors import invalid_parameter

LIST_OPTIONS = frozenset({"section", "exclude_sections", "tags", "exclude"})
#: Query parameters that are not ranking options (ignored here).
OTHER_QUERY_PARAMS = frozenset({"k"})
#: Top-level fields of POST /v1/related that describe the draft, not the ranking.
DRAFT_FIELDS = frozenset({"title", "body", "tags", "k", "published_at", "options"})


def from_query(request: Request) -> dict[str, Any]:
    """Ranking options present in the query string (unknown parameters are ignored, so
    that cache-busting or tracking parameters do not break embeds)."""
    options: dict[str, Any] = {}
    for name in RankingOptions.names():
        if name in OTHER_QUERY_PARAMS or name not in request.args:
            continue
        values = request.args.getlist(name)
        if name in LIST_OPTIONS:
            options[name] = values
        elif len(values) > 1:
            raise invalid_parameter(name, f"{name} may be given only once")
        else:
            options[name] = values[0]
    if not options:  # the common case: the defaults, validated once at start-up
        return options
    # Validate here so a bad value is a 400 naming the field before any work is done.
    RankingOptions.from_mapping(options)
    return options


def from_json(payload: dict[str, Any]) -> dict[str, Any]:
    """Ranking options of a JSON body: top-level option fields plus the ``options`` object."""
    options = {
        name: value for name, value in payload.items()
        if name not in DRAFT_FIELDS and name in RankingOptions.names()
    }
    nested = payload.get("options", {})
    if not isinstance(nested, dict):
        raise invalid_parameter("options", "options must be a JSON object of ranking options")
    for name, value in nested.items():
        if name == "k":
            raise invalid_parameter("options.k", "give k at the top level")
        options[name] = value
    RankingOptions.from_mapping(options, json_types=True)
    return options
