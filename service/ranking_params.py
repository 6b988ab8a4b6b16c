"""Ranking options from a request: query parameters (GET) or JSON fields (POST).

Every :class:`recommender.ranking.RankingOptions` field is accepted under its own name.
List options (``section``, ``exclude_sections``, ``tags``, ``exclude``) repeat in a query
string (``?section=World&section=Europe``) and are arrays in JSON; ``section_half_life`` is
``World:2,Features:90`` in a query string and an object in JSON. In ``POST /v1/related`` the
top-level ``tags`` are the draft's own tags, so the tag *filter* goes in the ``options``
object (which may hold any option).

**One grammar, one description.** Each query parameter is a :class:`QueryParam` of
:data:`QUERY`: its strict wire syntax and the OpenAPI description of exactly that syntax
(served in ``/openapi.json`` through :func:`parameter_components`), so the description cannot
promise what the parser refuses or hide what it accepts; the schemathesis fuzz test checks
both directions. Numbers are decimal (``0.5``, ``1e-3``), booleans ``true``/``false`` (or
``1``/``0``, as PHP sends them), ``none`` switches a nullable option off, dates are ISO 8601
(``2012-05-01``, ``2012-05-01T10:00:00Z``; no offset means UTC). The library's own parser is
more forgiving (CLI flags: ``off``, ``yes``, upper case); HTTP is not, so one request has one
spelling.

Errors: a value that breaks this grammar or a range is a 400 problem naming the field; a
well-formed value naming what the corpus does not have (an unknown section or language) is a
422 (:class:`recommender.errors.UnknownValueError`, raised by the engine).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Request

from recommender import ranking
from recommender.ranking import RankingOptions
from service.errors import invalid_parameter

LIST_OPTIONS = frozenset({"section", "exclude_sections", "tags", "exclude"})
#: Query parameters that are not ranking options (ignored here).
OTHER_QUERY_PARAMS = frozenset({"k"})
#: Top-level fields of POST /v1/related that describe the draft, not the ranking.
DRAFT_FIELDS = frozenset({"title", "body", "tags", "k", "published_at", "options"})

OFF = "none"
#: Largest number of days (half-lives, max_age_days) accepted over HTTP (~2,700 years).
MAX_DAYS = 1_000_000
MAX_LIST = 1000
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", re.ASCII)
_INTEGER_RE = re.compile(r"[0-9]{1,6}", re.ASCII)
_DATE_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:[Zz]|[-+][0-9]{2}:[0-9]{2})?)?",
    re.ASCII)
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
# SECTION:DAYS pairs; a section has no ',', ':' or '=' and is not blank; DAYS > 0 or none.
_DAYS = r"(?:none|[1-9][0-9]{0,5}(?:\.[0-9]{1,6})?|0\.[0-9]{0,5}[1-9])"
_PAIR = r"[^,:=]*[^,:=\s][^,:=]*:" + _DAYS
SECTION_HALF_LIFE_PATTERN = f"^{_PAIR}(?:,{_PAIR})*$"
_SECTION_HALF_LIFE_RE = re.compile(SECTION_HALF_LIFE_PATTERN)


@dataclass(frozen=True)
class QueryParam:
    """A ranking option as a query parameter: how its value is written, and its schema."""

    name: str
    description: str
    schema: dict[str, Any]
    parse: Callable[[str, str], Any]
    repeatable: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def component(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        out = {"name": self.name, "in": "query", "required": False,
               "description": self.description, "schema": self.schema}
        if self.repeatable:
            out.update(style="form", explode=True)
        return out


def _fail(name: str, raw: str, what: str) -> Exception:
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    return invalid_parameter(name, f"{name} must be {what}, got {shown!r}")


def _number(lo: float, hi: float, *, lo_open: bool = False, off: bool = False):
    schema: dict[str, Any] = {"type": "number", "maximum": hi}
    schema["exclusiveMinimum" if lo_open else "minimum"] = lo
    what = f"a number {'>' if lo_open else '>='} {lo:g} and <= {hi:g}" + (
        f" or '{OFF}'" if off else "")

    def parse(name: str, raw: str) -> float | None:
        if off and raw == OFF:
            return None
        if not _NUMBER_RE.fullmatch(raw):
            raise _fail(name, raw, what)
        value = float(raw)
        if value < lo or (lo_open and value == lo) or value > hi:
            raise _fail(name, raw, what)
        return value

    if off:
        schema = {"anyOf": [schema, {"type": "string", "enum": [OFF]}]}
    return schema, parse


def _integer(lo: int, hi: int):
    def parse(name: str, raw: str) -> int:
        if not _INTEGER_RE.fullmatch(raw) or not lo <= int(raw) <= hi:
            raise _fail(name, raw, f"an integer from {lo} to {hi}")
        return int(raw)

    return {"type": "integer", "minimum": lo, "maximum": hi}, parse


def _boolean():
    def parse(name: str, raw: str) -> bool:
        if raw not in _BOOLEANS:
            raise _fail(name, raw, "true or false (or 1 or 0)")
        return _BOOLEANS[raw]

    return {"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]}, parse


def _choice(choices: tuple[str, ...]):
    def parse(name: str, raw: str) -> str | None:
        if raw not in choices:
            raise _fail(name, raw, "one of " + ", ".join(choices))
        return None if raw == OFF else raw

    return {"type": "string", "enum": list(choices)}, parse


def _date():
    def parse(name: str, raw: str) -> dt.datetime | None:
        if raw == OFF:
            return None
        what = f"an ISO 8601 date or date-time (2012-05-01, 2012-05-01T10:00:00Z) or '{OFF}'"
        if not _DATE_RE.fullmatch(raw):
            raise _fail(name, raw, what)
        try:
            return ranking.parse_datetime(name, raw)
        except ValueError:  # InvalidParameterError: a month 13, a February 30...
            raise _fail(name, raw, what) from None

    return {"anyOf": [{"type": "string", "format": "date"},
                      {"type": "string", "format": "date-time"},
                      {"type": "string", "enum": [OFF]}]}, parse


def _string_list():
    def parse(name: str, raw: str) -> str:
        if not raw:
            raise _fail(name, raw, "a non-empty string")
        return raw

    return {"type": "array", "maxItems": MAX_LIST, "items": {"type": "string", "minLength": 1}}, \
        parse


def _language():
    schema, parse = _string_list()
    return schema["items"], parse


def _section_half_life():
    def parse(name: str, raw: str) -> str:
        if not _SECTION_HALF_LIFE_RE.search(raw):
            raise _fail(name, raw, "SECTION:DAYS pairs separated by commas (DAYS > 0, at "
                                   f"most {MAX_DAYS - 1}, or '{OFF}')")
        return raw

    return {"type": "string", "pattern": SECTION_HALF_LIFE_PATTERN}, parse


def _param(name: str, description: str, kind: tuple[dict[str, Any], Callable[[str, str], Any]],
           repeatable: bool = False) -> QueryParam:
    schema, parse = kind
    return QueryParam(name, description, schema, parse, repeatable)


#: Every ranking option except ``k`` as a query parameter (order: as documented).
QUERY: dict[str, QueryParam] = {p.name: p for p in (
    _param("half_life", "Recency half-life in days; `none` switches recency off.",
           _number(0, MAX_DAYS, lo_open=True, off=True)),
    _param("recency_floor", "Share of the similarity a very old story keeps (0-1).",
           _number(0, 1)),
    _param("section_half_life",
           "Per-section half-lives: `SECTION:DAYS` pairs separated by commas "
           "(`News:2,Features:90`; DAYS > 0 or `none`); other sections use `half_life`.",
           _section_half_life()),
    _param("since", "Only stories published from this ISO 8601 date or date-time "
                    "(no offset: UTC); `none`: no bound.", _date()),
    _param("until", "Only stories published until this ISO 8601 date or date-time "
                    "(no offset: UTC); `none`: no bound.", _date()),
    _param("max_age_days", "Only stories at most this many days from the article; "
                           "`none`: no limit.", _number(0, MAX_DAYS, lo_open=True, off=True)),
    _param("direction", "`any`, `before` (earlier coverage) or `after` (follow-ups).",
           _choice(ranking.DIRECTIONS)),
    _param("duplicate_threshold", "Cosine with the article from which a story is the same "
                                  "story (not shown); `none`: off.",
           _number(0, 1, lo_open=True, off=True)),
    _param("near_duplicate_threshold", "Mutual cosine from which two candidates show once; "
                                       "`none`: off.", _number(0, 1, lo_open=True, off=True)),
    _param("collapse_keep", "Which near-duplicate is shown: `newer`, `older` or `higher`.",
           _choice(ranking.KEEP_RULES)),
    _param("diversity", "MMR diversity, 0 (off) to 1.", _number(0, 1)),
    _param("section", "Only this section (repeatable; an unknown section is a 422).",
           _string_list(), repeatable=True),
    _param("exclude_sections", "Never this section (repeatable; an unknown section is a 422).",
           _string_list(), repeatable=True),
    _param("tags", "Only stories with this tag (repeatable).", _string_list(),
           repeatable=True),
    _param("tags_mode", "`any` or `all` of the `tags`.", _choice(ranking.TAG_MODES)),
    _param("language", "Only this language (default: the article's own); `any` for all "
                       "(an unknown language is a 422).", _language()),
    _param("exclude", "Never this article id (repeatable).", _string_list(), repeatable=True),
    _param("status", "`published` (default) or `any`.", _choice(ranking.STATUSES)),
    _param("min_score", "Similarity floor (0-1).", _number(0, 1)),
    _param("fallback", "`latest_in_section`: fill empty slots with the section's newest "
                       "stories; `none`: off.", _choice((*ranking.FALLBACKS, OFF))),
    _param("explain", "Show why each link is there.", _boolean()),
    _param("debug", "Also list dropped candidates and why.", _boolean()),
    _param("explain_terms", "Terms per explanation.", _integer(1, 50)),
    _param("pool", "Candidates examined for collapse and diversity.", _integer(1, 1000)),
)}


def component_name(name: str) -> str:
    """``half_life`` -> ``RankingHalfLife`` (its name in ``components/parameters``)."""
    return "Ranking" + "".join(part.capitalize() for part in name.split("_"))


def parameter_components() -> dict[str, dict[str, Any]]:
    """The OpenAPI parameter objects of :data:`QUERY`, by component name."""
    return {component_name(p.name): p.component() for p in QUERY.values()}


def parameter_group() -> list[dict[str, str]]:
    """``$ref`` objects to every ranking parameter (the ``Ranking`` parameter group)."""
    return [{"$ref": f"#/components/parameters/{component_name(name)}"} for name in QUERY]


def from_query(request: Request) -> dict[str, Any]:
    """Ranking options present in the query string, parsed by :data:`QUERY` (unknown
    parameters are ignored, so that cache-busting or tracking parameters do not break
    embeds)."""
    options: dict[str, Any] = {}
    for name, param in QUERY.items():
        if name not in request.args:
            continue
        values = request.args.getlist(name)
        if param.repeatable:
            if len(values) > MAX_LIST:
                raise invalid_parameter(name, f"at most {MAX_LIST} values, got {len(values)}")
            options[name] = [param.parse(name, value) for value in values]
        elif len(values) > 1:
            raise invalid_parameter(name, f"{name} may be given only once")
        else:
            options[name] = param.parse(name, values[0])
    if not options:  # the common case: the defaults, validated once at start-up
        return options
    # The library's own checks (the same ranges) still run, before any work is done.
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
