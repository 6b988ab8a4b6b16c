"""The OpenAPI description: complete, valid, and in step with the Flask routes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from flask import Flask
from openapi_spec_validator import validate

from service import create_app
from service.openapi import IGNORED_METHODS, UNDOCUMENTED, build_spec, openapi_path

ROOT = Path(__file__).resolve().parent.parent
VENDORED = ROOT / "service" / "static" / "swagger-ui"


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Flask:
    """The app as deployed, minus the model (the description does not depend on it)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES"):
            mp.delenv(name, raising=False)
        return create_app(
            {"TESTING": True, "MODEL_DIR": str(tmp_path_factory.mktemp("no-model"))}
        )


@pytest.fixture(scope="module")
def spec(app) -> dict:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_every_route_is_described(app):
    built = build_spec(app)
    assert built.problems == [], "\n".join(built.problems)


def test_spec_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    validate(spec)  # raises OpenAPIValidationError with the offending pointer


def _documented_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in UNDOCUMENTED:
            yield rule


def test_spec_and_url_map_agree_both_ways(app, spec):
    """Checked independently of the generator: each route+method is in the served document,
    and each path+method in the document resolves to a route serving that method."""
    described = {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }
    routed = {
        (openapi_path(rule), method)
        for rule in _documented_rules(app)
        for method in (rule.methods or set()) - IGNORED_METHODS
    }
    assert routed - described == set(), "routes missing from /openapi.json"
    assert described - routed == set(), "/openapi.json names operations with no route"

    adapter = app.url_map.bind("localhost")
    for path, method in sorted(described):
        example = re.sub(r"\{article_id\}", "some/id", path)
        example = re.sub(r"\{[^}]+\}", "x", example)
        rule, _ = adapter.match(example, method=method, return_rule=True)
        assert openapi_path(rule) == path, (path, method, rule.rule)


def test_every_operation_documents_its_errors(spec):
    components = spec["components"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            assert operation.get("summary"), (method, path)
            assert operation.get("tags"), (method, path)
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    name = response["$ref"].rsplit("/", 1)[-1]
                    content = components["responses"][name]["content"]
                    assert list(content) == ["application/problem+json"], (method, path, code)
            params = {p.get("$ref", p.get("name")) for p in operation.get("parameters", [])}
            if "{article_id}" in path:
                assert "#/components/parameters/ArticleId" in params
                assert "404" in responses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(responses), (method, path)


def test_a_new_undescribed_route_is_reported():
    app = Flask("probe")

    @app.get("/v1/new/<path:article_id>")
    def new(article_id):
        return {}

    @app.route("/v1/both", methods=["GET", "POST"])
    def both():
        """Only GET is described.

        ---
        get:
          summary: x
          responses: {"200": {description: ok}}
        """
        return {}

    @app.get("/v1/ghost")
    def ghost():
        """Describes a method that the route does not serve.

        ---
        get:
          summary: x
          responses: {"200": {description: ok}}
        delete:
          summary: y
          responses: {"204": {description: gone}}
        """
        return {}

    problems = "\n".join(build_spec(app).problems)
    assert "GET /v1/new/<path:article_id>" in problems
    assert "POST /v1/both" in problems
    assert "GET /v1/both" not in problems
    assert "DELETE /v1/ghost" in problems and "does not serve" in problems


def test_path_parameters_are_filled_from_the_route():
    app = Flask("probe")

    @app.get("/v1/items/<int:item_id>/<path:article_id>")
    def item(item_id, article_id):
        """x

        ---
        summary: x
        responses: {"200": {description: ok}}
        """
        return {}

    built = build_spec(app)
    assert built.problems == []
    params = built.spec["paths"]["/v1/items/{item_id}/{article_id}"]["get"]["parameters"]
    assert {"name": "item_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 0}} in params
    assert {"$ref": "#/components/parameters/ArticleId"} in params


def test_docs_page_is_served_locally(app):
    client = app.test_client()
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    # No CDN: every script and stylesheet is a path on this server.
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        with client.get(asset) as got:
            assert got.status_code == 200, asset
            assert len(got.get_data()) > 0
            if asset.endswith(".js"):
                assert got.mimetype in {"text/javascript", "application/javascript"}


def test_vendored_renderer_matches_its_readme():
    readme = (VENDORED / "README.md").read_text()
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((VENDORED / name).read_bytes()).hexdigest()
        assert f"`{name}` {digest}" in readme, name
    assert (VENDORED / "LICENSE").read_text().startswith("\n") or "Apache" in (
        VENDORED / "LICENSE").read_text()
    total = sum(p.stat().st_size for p in VENDORED.iterdir())
    assert total < 2.5 * 1024 * 1024, f"vendored renderer grew to {total} bytes"


def test_conditional_gets_are_described(spec):
    """Views marked @cacheable document If-None-Match, the 304 and the ETag header."""
    for path in ("/v1/articles/{article_id}/related", "/v1/articles/{article_id}/related.html"):
        operation = spec["paths"][path]["get"]
        assert {"$ref": "#/components/parameters/IfNoneMatch"} in operation["parameters"]
        assert "304" in operation["responses"]
        assert "ETag" in operation["responses"]["200"]["headers"]
    assert "304" not in spec["paths"]["/v1/model"]["get"]["responses"]


def _param_names(spec: dict, operation: dict) -> list[str]:
    names = []
    for param in operation.get("parameters", []):
        ref = param.get("$ref")
        if ref:
            param = spec["components"]["parameters"][ref.rsplit("/", 1)[-1]]
        names.append(param["name"])
    return names


def test_ranking_parameters_are_every_ranking_option(spec):
    """The `Ranking` group (written once, spliced into both GETs) names exactly the fields of
    RankingOptions, so a new option cannot be left out of the description."""
    from recommender.ranking.options import RankingOptions

    wanted = set(RankingOptions.names())
    for path in ("/v1/articles/{article_id}/related", "/v1/articles/{article_id}/related.html"):
        names = _param_names(spec, spec["paths"][path]["get"])
        assert len(names) == len(set(names)), names
        assert set(names) - {"article_id", "If-None-Match"} == wanted, path
    assert "x-parameter-groups" not in spec  # expanded, not served


def test_standard_responses_come_from_the_code():
    """Security, 401/403 from @require_api_key, 400/413/415 from a request body, 400/404 from
    {article_id}, blueprint-wide responses; an operation's own YAML wins; unknown groups are
    reported."""
    from flask import Blueprint

    from service import openapi
    from service.auth import require_api_key

    app = Flask("probe")
    bp = Blueprint("probe", __name__)
    openapi.common_responses(bp, {"503": "StateUnavailable"})

    @bp.put("/v1/things/<path:article_id>")
    @require_api_key
    def put_thing(article_id):
        """x

        ---
        summary: x
        requestBody: {content: {application/json: {schema: {type: object}}}}
        responses:
          "200": {description: ok}
          "404": {description: no such thing}
        """
        return {}

    @bp.get("/v1/things")
    @require_api_key(scope="read")
    def list_things():
        """x

        ---
        summary: x
        parameters:
          - $ref: "#/x-parameter-groups/Nope"
        responses: {"200": {description: ok}}
        """
        return {}

    app.register_blueprint(bp)
    built = build_spec(app)
    put = built.spec["paths"]["/v1/things/{article_id}"]["put"]
    assert put["security"] == [{"bearerAuth": []}]
    assert list(put["responses"]) == ["200", "400", "401", "403", "404", "413", "415", "503"]
    assert put["responses"]["404"] == {"description": "no such thing"}
    assert put["responses"]["503"] == {"$ref": "#/components/responses/StateUnavailable"}
    listing = built.spec["paths"]["/v1/things"]["get"]
    assert listing["security"] == [{"bearerAuth": []}]  # editorial reads: a key by default
    assert {"401", "403", "503"} <= set(listing["responses"]) and "413" not in listing["responses"]
    assert any("unknown parameter group 'Nope'" in p for p in built.problems), built.problems
