"""Ranking options from a request: query parameters (GET) or JSON fields (POST).

Every :class:`recommender.ranking.options.RankingOptions` field is accepted under its own name.
List options (``section``, ``exclude_sections``, ``tags``, ``exclude``) repeat in a query
string (``?section=World&section=Europe``) and are arrays in JSON; ``section_half_life`` is
``World:2,Features:90`` in a query string and an object in JSON. In ``POST /v1/related`` the
top-level ``tags`` are the draft's own tags, so the tag *filter* goes in the ``options``
object (which may hold any option).

**One grammar, one description.** Each option declared in
:data:`recommender.ranking.spec.OPTIONS` is a :class:`QueryParam` of :data:`QUERY`:
its strict syntax in a query string and in JSON, and the OpenAPI description of exactly that
syntax (put into ``/openapi.json`` by :func:`add_to_spec`: the ``Ranking*`` parameters and
the ``RankingOptions`` schema), so the description cannot promise what the parser refuses or
hide what it accepts; the schemathesis fuzz test checks both directions. Numbers are decimal
(``0.5``, ``1e-3``), booleans ``true``/``false`` (or ``1``/``0``, as PHP sends them), ``none``
switches a nullable option off, dates are ISO 8601 (``2012-05-01``, ``2012-05-01T10:00:00Z``;
no offset means UTC). The library's own parser is more forgiving (CLI flags: ``off``, ``yes``,
upper case); HTTP is not, so one request has one spelling.

**Privileged options.** ``status=any`` (previews: unpublished and killed stories) and
``debug=true`` (the dropped candidates, taken-down ids among them) show what readers must not
see: a request using either needs an API key (:func:`require_key_for`), on every path that
takes ranking options (query string or JSON); without one it is a 401/403 problem.

Errors: a value that breaks this grammar or a range is a 400 problem naming the field; a
well-formed value naming what the corpus does not have (an unknown section or language) is a
400 of type ``unusable-value`` (:class:`recommender.errors.UnusableValueError`, raised by the
engine).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Request, g

from recommender.ranking import options as ranking
from recommender.ranking import placements
from recommender.ranking import spec as rs
from recommender.ranking.options import RankingOptions
from recommender.ranking.spec import OptionSpec
from service.auth import check_request
from service.errors import invalid_parameter

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
_PLACEMENTS_RE = re.compile(placements.PATTERN, re.ASCII)


@dataclass(frozen=True)
class Kind:
    """How one kind of option is written: query-string schema and parser, JSON schema and
    parser (both parsers raise 400 problems naming the field and return library values)."""

    schema: dict[str, Any]
    parse: Callable[[str, str], Any]
    json_schema: dict[str, Any]
    parse_json: Callable[[str, Any], Any]


@dataclass(frozen=True)
class QueryParam:
    """A ranking option: how its value is written (query string and JSON), and its schemas."""

    name: str
    description: str
    kind: Kind
    repeatable: bool = False

    @property
    def schema(self) -> dict[str, Any]:
        return self.kind.schema

    def parse(self, name: str, raw: str) -> Any:
        return self.kind.parse(name, raw)

    def parse_json(self, name: str, value: Any) -> Any:
        return self.kind.parse_json(name, value)

    def component(self) -> dict[str, Any]:
        """The OpenAPI parameter object."""
        out = {"name": self.name, "in": "query", "required": False,
               "description": self.description, "schema": self.schema}
        if self.repeatable:
            out.update(style="form", explode=True)
        return out


def _fail(name: str, raw: Any, what: str) -> Exception:
    shown = raw if not isinstance(raw, str) or len(raw) <= 40 else raw[:40] + "..."
    return invalid_parameter(name, f"{name} must be {what}, got {shown!r}")


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _number(lo: float, hi: float, *, lo_open: bool = False, off: bool = False) -> Kind:
    schema: dict[str, Any] = {"type": "number", "maximum": hi}
    schema["exclusiveMinimum" if lo_open else "minimum"] = lo
    what = f"a number {'>' if lo_open else '>='} {lo:g} and <= {hi:g}"

    def in_range(name: str, raw: Any, value: Any) -> float:
        if not _is_number(value) or value < lo or (lo_open and value == lo) or value > hi:
            raise _fail(name, raw, what + (f" or '{OFF}'" if off else ""))
        return float(value)

    def parse(name: str, raw: str) -> float | None:
        if off and raw == OFF:
            return None
        if not _NUMBER_RE.fullmatch(raw):
            raise _fail(name, raw, what + (f" or '{OFF}'" if off else ""))
        return in_range(name, raw, float(raw))

    def parse_json(name: str, value: Any) -> float | None:
        if off and value is None:
            return None
        return in_range(name, value, value)

    query = {"anyOf": [schema, {"type": "string", "enum": [OFF]}]} if off else schema
    return Kind(query, parse, _nullable(schema) if off else schema, parse_json)


def _integer(lo: int, hi: int) -> Kind:
    what = f"an integer from {lo} to {hi}"

    def parse(name: str, raw: str) -> int:
        if not _INTEGER_RE.fullmatch(raw) or not lo <= int(raw) <= hi:
            raise _fail(name, raw, what)
        return int(raw)

    def parse_json(name: str, value: Any) -> int:
        # JSON (and JSON Schema's "integer") does not tell 5 from 5.0.
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**31:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _fail(name, value, what)
        return value

    schema = {"type": "integer", "minimum": lo, "maximum": hi}
    return Kind(schema, parse, schema, parse_json)


def _boolean() -> Kind:
    def parse(name: str, raw: str) -> bool:
        if raw not in _BOOLEANS:
            raise _fail(name, raw, "true or false (or 1 or 0)")
        return _BOOLEANS[raw]

    def parse_json(name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise _fail(name, value, "a JSON boolean")
        return value

    return Kind({"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]}, parse,
                {"type": "boolean"}, parse_json)


def _choice(choices: tuple[str, ...]) -> Kind:
    def parse(name: str, raw: Any) -> str | None:
        if not isinstance(raw, str) or raw not in choices:
            raise _fail(name, raw, "one of " + ", ".join(choices))
        return None if raw == OFF else raw

    nullable = OFF in choices
    schema = {"type": "string", "enum": list(choices)}

    def parse_json(name: str, value: Any) -> str | None:
        return None if nullable and value is None else parse(name, value)

    return Kind(schema, parse, _nullable(schema) if nullable else schema, parse_json)


def _date() -> Kind:
    what = f"an ISO 8601 date or date-time (2012-05-01, 2012-05-01T10:00:00Z) or '{OFF}'"

    def parse(name: str, raw: Any) -> dt.datetime | None:
        if raw == OFF:
            return None
        if not isinstance(raw, str) or not _DATE_RE.fullmatch(raw):
            raise _fail(name, raw, what)
        try:
            return ranking.parse_datetime(name, raw)
        except ValueError:  # InvalidParameterError: a month 13, a February 30...
            raise _fail(name, raw, what) from None

    def parse_json(name: str, value: Any) -> dt.datetime | None:
        return None if value is None else parse(name, value)

    dates = [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
    return Kind({"anyOf": [*dates, {"type": "string", "enum": [OFF]}]}, parse,
                {"anyOf": [*dates, {"type": "string", "enum": [OFF]}, {"type": "null"}]},
                parse_json)


def parse_iso_datetime(name: str, value: Any) -> dt.datetime:
    """An ISO 8601 date or date-time in the HTTP grammar (``2012-05-01``,
    ``2012-05-01T10:00:00Z``, no offset: UTC), as an aware datetime; else a 400 problem."""
    parsed = _date().parse(name, value) if value != OFF else None
    if parsed is None:
        raise _fail(name, value, "an ISO 8601 date or date-time (2012-05-01T10:00:00Z)")
    return parsed


def _non_empty(name: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise _fail(name, raw, "a non-empty string")
    return raw


def _string_list() -> Kind:
    item = {"type": "string", "minLength": 1}
    schema = {"type": "array", "maxItems": MAX_LIST, "items": item}

    def parse_json(name: str, value: Any) -> list[str]:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or len(values) > MAX_LIST:
            raise _fail(name, value, f"a string or an array of at most {MAX_LIST} strings")
        return [_non_empty(name, v) for v in values]

    return Kind(schema, _non_empty, {"anyOf": [item, schema]}, parse_json)


def _language() -> Kind:
    item = {"type": "string", "minLength": 1}

    def parse_json(name: str, value: Any) -> str | None:
        return None if value is None else _non_empty(name, value)

    return Kind(item, _non_empty, _nullable(item), parse_json)


def _section_half_life() -> Kind:
    what = (f"SECTION:DAYS pairs separated by commas (DAYS > 0, at most {MAX_DAYS - 1}, or "
            f"'{OFF}')")
    days = _number(0, MAX_DAYS, lo_open=True, off=True)

    def parse(name: str, raw: Any) -> str:
        if not isinstance(raw, str) or not _SECTION_HALF_LIFE_RE.search(raw):
            raise _fail(name, raw, what)
        return raw

    def parse_json(name: str, value: Any) -> Any:
        if isinstance(value, dict):  # {"News": 2, "Features": null}
            return {section: days.parse_json(f"{name}.{section}", v)
                    for section, v in value.items()}
        return parse(name, value)

    schema = {"type": "string", "pattern": SECTION_HALF_LIFE_PATTERN}
    return Kind(schema, parse, {"anyOf": [
        {"type": "object", "additionalProperties": days.json_schema}, schema]}, parse_json)


def _placements() -> Kind:
    what = "slots such as 'inline:3:1,end:6' (inline:PARAGRAPH:COUNT, end:COUNT, ':pins' after one)"
    slot = re.compile(placements.SLOT_PATTERN, re.ASCII)

    def parse(name: str, raw: Any) -> str:
        if not isinstance(raw, str) or not _PLACEMENTS_RE.fullmatch(raw):
            raise _fail(name, raw, what)
        return raw

    def parse_json(name: str, value: Any) -> Any:
        if isinstance(value, str):
            return parse(name, value)
        if (not isinstance(value, list) or len(value) > placements.MAX_SLOTS
                or not all(isinstance(v, str) and slot.fullmatch(v) for v in value)):
            raise _fail(name, value, what + " or an array of such slots")
        return value

    schema = {"type": "string", "pattern": placements.PATTERN}
    return Kind(schema, parse, {"anyOf": [schema, {
        "type": "array", "maxItems": placements.MAX_SLOTS,
        "items": {"type": "string", "pattern": f"^{placements.SLOT_PATTERN}$"}}]}, parse_json)


def _kind(spec: OptionSpec) -> Kind:
    """The strict HTTP grammar of one declared option."""
    if spec.type == rs.NUMBER:
        # An unbounded number is a number of days: capped here, so the schema has a maximum.
        assert spec.lo is not None, spec.name
        hi = spec.hi if spec.hi is not None else MAX_DAYS
        return _number(spec.lo, hi, lo_open=spec.lo_open, off=spec.nullable)
    if spec.type == rs.INTEGER:
        assert spec.lo is not None and spec.hi is not None, spec.name
        return _integer(int(spec.lo), int(spec.hi))
    if spec.type == rs.CHOICE:
        return _choice((*spec.choices, OFF) if spec.nullable else spec.choices)
    return {rs.BOOLEAN: _boolean, rs.DATE: _date, rs.STRINGS: _string_list,
            rs.STRING: _language, rs.SECTION_HALF_LIVES: _section_half_life,
            rs.PLACEMENTS: _placements}[spec.type]()


def _param(spec: OptionSpec) -> QueryParam:
    # SECTION:DAYS pairs repeat on the command line, over HTTP they are one comma list.
    return QueryParam(spec.name, spec.help, _kind(spec),
                      repeatable=spec.repeatable and spec.type == rs.STRINGS)


#: Every ranking option except ``k`` as a query parameter (order: as declared in
#: :data:`recommender.ranking.spec.OPTIONS`).
QUERY: dict[str, QueryParam] = {spec.name: _param(spec) for spec in rs.GROUPED}


#: Option values that reveal what readers must not see; each needs an API key.
PRIVILEGED = (("status", "any", "status=any (unpublished stories)"),
              ("debug", True, "debug=true (dropped candidates)"))


def require_key_for(options: dict[str, Any]) -> None:
    """401/403 problem unless the request carries an API key, when *options* use a
    privileged value (:data:`PRIVILEGED`); such an answer is then never shared by a cache
    (``g.alsosee_private``, read by :mod:`service.http_caching`)."""
    wanted = [what for name, value, what in PRIVILEGED if options.get(name) == value]
    if wanted:
        g.alsosee_api_key = check_request(f"{' and '.join(wanted)} needs an API key")
        g.alsosee_private = True


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
    require_key_for(options)
    return options


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the ``options`` object of ``POST /v1/related``."""
    return {"type": "object", "additionalProperties": False,
            "description": "Ranking options, as JSON values (see the query parameters of "
                           "`GET .../related`; `null` switches a nullable option off).",
            "properties": {name: {"description": p.description, **p.kind.json_schema}
                           for name, p in QUERY.items()}}


def add_to_spec(spec: dict[str, Any]) -> None:
    """Put the generated descriptions into an OpenAPI document (service/openapi.py): the
    ``Ranking*`` parameters and their ``Ranking`` group, the ``RankingOptions`` schema, and
    the ranking options allowed at the top level of a ``Draft``."""
    components = spec.setdefault("components", {})
    components.setdefault("parameters", {}).update(parameter_components())
    spec.setdefault("x-parameter-groups", {})["Ranking"] = parameter_group()
    schemas = components.setdefault("schemas", {})
    schemas["RankingOptions"] = json_schema()
    draft = schemas.get("Draft")
    if draft is not None:
        for name, prop in schemas["RankingOptions"]["properties"].items():
            if name not in DRAFT_FIELDS:
                draft.setdefault("properties", {}).setdefault(name, prop)


def from_json(payload: dict[str, Any]) -> dict[str, Any]:
    """Ranking options of a JSON body: top-level option fields plus the ``options`` object,
    parsed by :data:`QUERY`'s JSON side (the ``RankingOptions`` schema)."""
    options = {name: value for name, value in payload.items()
               if name not in DRAFT_FIELDS and name in QUERY}
    nested = payload.get("options", {})
    if not isinstance(nested, dict):
        raise invalid_parameter("options", "options must be a JSON object of ranking options")
    for name, value in nested.items():
        if name == "k":
            raise invalid_parameter("options.k", "give k at the top level")
        if name not in QUERY:
            raise invalid_parameter(
                name, f"unknown ranking option; valid options: {', '.join(QUERY)}")
        options[name] = value
    parsed = {name: QUERY[name].parse_json(name, value) for name, value in options.items()}
    RankingOptions.from_mapping(parsed)
    require_key_for(parsed)
    return parsed
