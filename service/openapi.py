"""The OpenAPI 3.1 description (``/openapi.json``) and its rendered page (``/docs``).

The description is *generated from the routes*, so it cannot drift from them:

* ``service/openapi.yaml`` holds what is shared (info, tags, ``components``);
* each operation lives next to its code, as YAML after a ``---`` line at the end of the view
  function's docstring (the convention of apispec/flasgger)::

      @bp.get("/articles/<path:article_id>/related")
      def related(article_id):
          \"\"\"Related stories of an article.

          ---
          summary: Related stories of an article
          tags: [related]
          parameters:
            - $ref: "#/components/parameters/K"
          responses:
            "200": ...
          \"\"\"

  A view serving several methods keys its YAML by lower-case method (``get:``, ``put:``...).
  Path parameters missing from the YAML are added from the route (``article_id`` refers to
  ``#/components/parameters/ArticleId``, others are plain strings).

What every operation of a kind answers is written once and added by the generator (an
operation's own YAML wins for a status it describes):

* a parameter list item ``$ref: "#/x-parameter-groups/<Name>"`` is replaced by the group's
  parameters (``x-parameter-groups`` in openapi.yaml; ``Ranking``, every ranking option, and
  its parameters come from the query grammar in :mod:`service.ranking_params`);
* ``{article_id}`` in the path: 400 (ids over 512 characters) and 404 (unknown article);
* a ``requestBody``: 400, 413 and 415;
* views behind :func:`service.auth.require_api_key`: ``security``, 401 and 403;
* ``@cacheable`` GET views (service/http_caching.py): ``If-None-Match``, 304 and ``ETag``;
* :func:`common_responses` registered for a blueprint (e.g. 503 when the state database is
  unavailable).

:func:`build_spec` walks ``app.url_map``: every rule and method (except ``HEAD`` and
``OPTIONS``) must have an operation, and every operation must belong to a method the rule
serves; :func:`spec_problems` lists what is wrong and ``tests/test_openapi.py`` fails on it.
Endpoints deliberately left out of the description are listed in :data:`UNDOCUMENTED`.
"""

from __future__ import annotations

import copy
import inspect
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Flask, Response, current_app, jsonify, url_for
from werkzeug.routing import Rule

from service.auth import reads_require_key

log = logging.getLogger(__name__)

BASE_FILE = Path(__file__).with_name("openapi.yaml")
EXTENSION_KEY = "alsosee.openapi"
#: Endpoints (Flask endpoint names) that are not part of the API description, and why.
UNDOCUMENTED = {
    "static": "vendored assets of the docs page (service/static/)",
}
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
_PATH_ARG_RE = re.compile(r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?"
                          r"(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
}

bp = Blueprint("openapi", __name__)

#: ``$ref`` prefix of a named parameter group (openapi.yaml ``x-parameter-groups``).
GROUP_REF = "#/x-parameter-groups/"
GROUPS_KEY = "x-parameter-groups"
_COMMON_ATTR = "alsosee_openapi_responses"
_RESPONSE_REF = "#/components/responses/"
# Optional key (public reads whose privileged options need one) / required key (writes, and
# reads of the editorial state unless READ_REQUIRES_KEY is false).
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "read": [{}, {"bearerAuth": []}], "write": [{"bearerAuth": []}],
    "editorial": [{"bearerAuth": []}]}


def common_responses(blueprint: Blueprint, responses: dict[str, str]) -> None:
    """Every operation of *blueprint* may answer these (status -> a name of
    ``components/responses``), e.g. ``{"503": "StateUnavailable"}``."""
    setattr(blueprint, _COMMON_ATTR, dict(responses))


@dataclass
class SpecBuild:
    """The generated description and what is wrong with it (empty when consistent)."""

    spec: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def openapi_path(rule: Rule | str) -> str:
    """Flask rule ``/v1/a/<path:article_id>/related`` -> OpenAPI ``/v1/a/{article_id}/related``."""
    text = rule.rule if isinstance(rule, Rule) else rule
    return _PATH_ARG_RE.sub(lambda m: "{" + m.group("name") + "}", text)


@lru_cache(maxsize=1)
def _base() -> dict[str, Any]:
    with BASE_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def operations_from_docstring(view: Any, methods: set[str]) -> dict[str, dict[str, Any]]:
    """The operation objects in *view*'s docstring, keyed by lower-case method.

    Raises ``ValueError`` (naming the view) when the YAML does not parse or is not a mapping.
    """
    doc = inspect.getdoc(view) or ""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "---")
    except StopIteration:
        return {}
    name = f"{view.__module__}.{view.__qualname__}"
    try:
        data = yaml.safe_load("\n".join(lines[start + 1:]))
    except yaml.YAMLError as exc:
        raise ValueError(f"{name}: invalid OpenAPI YAML in the docstring: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{name}: the docstring's OpenAPI YAML must be a mapping")
    if any(key in _METHODS for key in data):
        unknown = [key for key in data if key not in _METHODS]
        if unknown:
            raise ValueError(f"{name}: mixes method keys with other keys: {unknown}")
        return {key: value for key, value in data.items()}
    served = sorted(m.lower() for m in methods - IGNORED_METHODS)
    if len(served) != 1:
        raise ValueError(
            f"{name} serves {served}: key its docstring's OpenAPI YAML by method"
        )
    return {served[0]: data}


def _resolve(spec: dict[str, Any], param: dict[str, Any]) -> dict[str, Any]:
    ref = param.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/components/parameters/"):
        return param
    return spec.get("components", {}).get("parameters", {}).get(ref.rsplit("/", 1)[-1], {})


def _path_parameters(
    spec: dict[str, Any], rule: Rule, operation: dict[str, Any]
) -> list[dict[str, Any]]:
    """Path parameters of *rule* that *operation* does not declare itself."""
    declared = {
        resolved.get("name")
        for p in operation.get("parameters", [])
        for resolved in [_resolve(spec, p)]
        if resolved.get("in") == "path"
    }
    added: list[dict[str, Any]] = []
    for match in _PATH_ARG_RE.finditer(rule.rule):
        name, converter = match.group("name"), match.group("converter")
        if name in declared:
            continue
        if name == "article_id":
            added.append({"$ref": "#/components/parameters/ArticleId"})
        else:
            schema = _CONVERTER_SCHEMAS.get(converter or "", {"type": "string", "minLength": 1})
            added.append({"name": name, "in": "path", "required": True, "schema": schema})
    return added


def build_spec(app: Flask) -> SpecBuild:
    """Generate the OpenAPI description of *app*'s routes (see the module docstring)."""
    from service import ranking_params  # the ranking options' query grammar (one source)

    spec = copy.deepcopy(_base())
    ranking_params.add_to_spec(spec)
    paths: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in UNDOCUMENTED:
            continue
        view = app.view_functions[rule.endpoint]
        methods = set(rule.methods or ()) - IGNORED_METHODS
        try:
            operations = operations_from_docstring(view, set(rule.methods or ()))
        except ValueError as exc:
            problems.append(str(exc))
            continue
        path = openapi_path(rule)
        for method in sorted(m.lower() for m in methods):
            operation = operations.get(method)
            if operation is None:
                problems.append(
                    f"{method.upper()} {rule.rule} (endpoint {rule.endpoint!r}): no OpenAPI "
                    f"operation; add YAML after '---' in the docstring of "
                    f"{view.__module__}.{view.__qualname__}"
                )
                continue
            operation = copy.deepcopy(operation)
            operation.setdefault("operationId", _operation_id(rule.endpoint, method, methods))
            where = f"{method.upper()} {rule.rule}"
            if "parameters" in operation:
                operation["parameters"] = _expand_groups(spec, operation["parameters"],
                                                         where, problems)
            params = _path_parameters(spec, rule, operation)
            if params:
                operation["parameters"] = params + operation.get("parameters", [])
            blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
            auth = getattr(view, "alsosee_auth", None)
            if auth == "editorial" and not reads_require_key(app):
                auth = "read"  # the operator opened the editorial reads
            _standard_responses(spec, operation, path, auth,
                                getattr(blueprint, _COMMON_ATTR, {}))
            if method == "get" and getattr(view, "alsosee_cacheable", False):
                _conditional_get(operation)
            if method in paths.get(path, {}):
                problems.append(f"{method.upper()} {path} is described twice")
            paths.setdefault(path, {})[method] = operation
        for method in sorted(set(operations) - {m.lower() for m in methods}):
            problems.append(
                f"{method.upper()} {rule.rule}: the docstring of {view.__qualname__} describes "
                f"a method the route does not serve (it serves {sorted(methods)})"
            )
    spec["paths"] = dict(sorted(paths.items()))
    spec.pop(GROUPS_KEY, None)  # expanded above; not part of the served description
    return SpecBuild(spec=spec, problems=problems)


def _expand_groups(spec: dict[str, Any], params: list[Any], where: str,
                   problems: list[str]) -> list[Any]:
    """*params* with every ``$ref: "#/x-parameter-groups/<Name>"`` replaced by the group."""
    groups = spec.get(GROUPS_KEY, {})
    out: list[Any] = []
    for param in params:
        ref = param.get("$ref") if isinstance(param, dict) else None
        if not (isinstance(ref, str) and ref.startswith(GROUP_REF)):
            out.append(param)
            continue
        name = ref[len(GROUP_REF):]
        if name not in groups:
            problems.append(f"{where}: unknown parameter group {name!r} (known: "
                            f"{sorted(groups)})")
            continue
        out.extend(copy.deepcopy(groups[name]))
    return out


def _standard_responses(spec: dict[str, Any], operation: dict[str, Any], path: str,
                        auth: str | None, common: dict[str, str]) -> None:
    """Add the responses every operation of its kind gives (see the module docstring)."""
    responses = operation.setdefault("responses", {})

    def add(status: str, name: str) -> None:
        responses.setdefault(status, {"$ref": _RESPONSE_REF + name})

    if any(_resolve(spec, p).get("in") == "query" for p in operation.get("parameters", [])):
        add("414", "UriTooLong")  # no schema can bound a whole query string's length
    if "{article_id}" in path:  # ids are validated (1..512 characters) and looked up
        add("400", "BadRequest")
        add("404", "NotFound")
    if "requestBody" in operation:  # service.validation.json_object
        add("400", "BadRequest")
        add("413", "PayloadTooLarge")
        add("415", "UnsupportedMediaType")
    if auth is not None:  # service.auth.require_api_key
        operation.setdefault("security", copy.deepcopy(_SECURITY[auth]))
        add("401", "Unauthorized")
        add("403", "Forbidden")
    for status, name in common.items():
        add(status, name)
    operation["responses"] = dict(sorted(responses.items()))


def _conditional_get(operation: dict[str, Any]) -> None:
    """Views marked ``@cacheable`` (service/http_caching.py) send an ``ETag`` and answer a matching
    ``If-None-Match`` with 304: say so in their operation."""
    operation.setdefault("parameters", []).append(
        {"$ref": "#/components/parameters/IfNoneMatch"})
    responses = operation.setdefault("responses", {})
    responses.setdefault("304", {"$ref": "#/components/responses/NotModified"})
    ok = responses.get("200")
    if isinstance(ok, dict) and "$ref" not in ok:
        ok.setdefault("headers", {})["ETag"] = {"$ref": "#/components/headers/ETag"}


def _operation_id(endpoint: str, method: str, methods: set[str]) -> str:
    name = endpoint.replace(".", "_")
    return name if len(methods) == 1 else f"{name}_{method}"


def get_spec(app: Flask | None = None) -> dict[str, Any]:
    """The (cached) description of *app* (default: the current app)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    built = app.extensions.get(EXTENSION_KEY)
    if built is None:
        built = build_spec(app)
        for problem in built.problems:
            log.warning("OpenAPI description: %s", problem)
        app.extensions[EXTENSION_KEY] = built
    return built.spec


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI 3.1 description of this API.

    ---
    summary: This API's OpenAPI 3.1 description
    tags: [docs]
    responses:
      "200":
        description: The description (generated from the routes, so it cannot drift).
        content:
          application/json:
            schema:
              type: object
              required: [openapi, info, paths]
    """
    response = jsonify(get_spec())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


_DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>alsosee API</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<noscript>This page renders <a href="{spec}">the OpenAPI description</a> with Swagger UI,
which needs JavaScript.</noscript>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""

# Everything the docs page loads comes from this server (no CDN); inline scripts are refused.
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)


@bp.get("/docs")
def docs():
    """The API description rendered by Swagger UI (vendored under service/static/).

    ---
    summary: Human-readable API documentation
    tags: [docs]
    responses:
      "200":
        description: An HTML page rendering `/openapi.json` with Swagger UI (served locally).
        content:
          text/html:
            schema:
              type: string
    """
    html = _DOCS_HTML.format(
        css=url_for("static", filename="swagger-ui/swagger-ui.css"),
        bundle=url_for("static", filename="swagger-ui/swagger-ui-bundle.js"),
        init=url_for("static", filename="docs.js"),
        spec=url_for("openapi.openapi_json"),
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _DOCS_CSP
    return response
