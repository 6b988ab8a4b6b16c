"""Embedding: /widget.js, /oembed and CORS, through the Flask test client on the sample."""

from __future__ import annotations

import pytest

from service import create_app
from service.cors import parse_origins

PROBLEM = "application/problem+json"
ARTICLE = "gv-316447"
ARTICLE_URL = "http://globalvoicesonline.org/2012/05/01/colombia-french-journalist-romeo-langlois-kidnapped/"


@pytest.fixture(scope="module")
def app(trained_model_dir):
    with pytest.MonkeyPatch.context() as mp:
        for name in ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES",
                     "ALSOSEE_CORS_ORIGINS"):
            mp.delenv(name, raising=False)
        return create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir)})


def problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["detail"]
    if field is not None:
        assert body["field"] == field
    return body


# ------------------------------------------------------------------ widget.js
def test_widget_script_is_served(client):
    with client.get("/widget.js") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert "max-age=3600" in response.headers["Cache-Control"]
        etag = response.headers["ETag"]
        source = response.get_data(as_text=True)
    # Dependency-free and text-only: no imports, no HTML sinks.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "import ", "require("):
        assert sink not in source, sink
    assert "textContent" in source
    with client.get("/widget.js", headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


# ------------------------------------------------------------------ oEmbed
def test_oembed_rich(client, app):
    response = client.get("/oembed", query_string={"url": ARTICLE_URL, "format": "json", "k": 3})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["version"] == "1.0" and body["type"] == "rich"
    assert body["title"] == "Colombia: French Journalist Roméo Langlois Kidnapped"
    assert isinstance(body["width"], int) and isinstance(body["height"], int)
    fragment = client.get(f"/v1/articles/{ARTICLE}/related.html", query_string={"k": 3})
    assert body["html"] == fragment.get_data(as_text=True)
    assert body["html"].count('class="alsosee__item"') == 3
    assert body["provider_name"] == "alsosee"


def test_oembed_trailing_slash_and_defaults(client):
    body = client.get("/oembed", query_string={"url": ARTICLE_URL.rstrip("/")}).get_json()
    assert body["type"] == "rich"
    assert body["html"].count('class="alsosee__item"') == 5


def test_oembed_maxwidth_maxheight(client):
    body = client.get("/oembed", query_string={"url": ARTICLE_URL, "maxwidth": 300,
                                               "maxheight": 50}).get_json()
    assert body["width"] == 300
    assert body["height"] == 50


def test_oembed_unknown_url_is_404(client):
    problem(client.get("/oembed", query_string={"url": "https://example.org/nope"}), 404, "url")


def test_oembed_xml_is_501(client):
    body = problem(client.get("/oembed", query_string={"url": ARTICLE_URL, "format": "xml"}),
                   501, "format")
    assert body["type"] == "urn:alsosee:problem:format-not-implemented"


@pytest.mark.parametrize("query, field", [
    ({}, "url"),
    ({"url": ""}, "url"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"url": "https://x.example/" + "a" * 3000}, "url"),
    ({"url": ARTICLE_URL, "format": "yaml"}, "format"),
    ({"url": ARTICLE_URL, "maxwidth": "-1"}, "maxwidth"),
    ({"url": ARTICLE_URL, "maxheight": "wide"}, "maxheight"),
    ({"url": ARTICLE_URL, "k": "0"}, "k"),
])
def test_oembed_bad_parameters_are_400(client, query, field):
    problem(client.get("/oembed", query_string=query), 400, field)


def test_oembed_without_model_is_503(empty_model_dir):
    client = create_app({"TESTING": True, "MODEL_DIR": str(empty_model_dir)}).test_client()
    problem(client.get("/oembed", query_string={"url": ARTICLE_URL}), 503)


# ------------------------------------------------------------------ CORS
def test_cors_default_allows_any_origin(client):
    response = client.get(f"/v1/articles/{ARTICLE}/related",
                          headers={"Origin": "https://news.example"})
    assert response.headers["Access-Control-Allow-Origin"] in {"*", "https://news.example"}
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = client.options("/v1/related", headers={
        "Origin": "https://news.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    # Errors carry the headers too, so a page's script can read the problem body.
    missing = client.get("/v1/articles/nope/related", headers={"Origin": "https://a.example"})
    assert missing.status_code == 404
    assert "Access-Control-Allow-Origin" in missing.headers


def test_cors_configured_origins(trained_model_dir, monkeypatch):
    monkeypatch.setenv("ALSOSEE_CORS_ORIGINS", "https://www.news.example, https://b.example/")
    client = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir)}).test_client()
    allowed = client.get(f"/v1/articles/{ARTICLE}/related",
                         headers={"Origin": "https://b.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://b.example"
    refused = client.get(f"/v1/articles/{ARTICLE}/related",
                         headers={"Origin": "https://evil.example"})
    assert refused.status_code == 200
    assert "Access-Control-Allow-Origin" not in refused.headers
    # The description stays readable from anywhere.
    spec = client.get("/openapi.json", headers={"Origin": "https://evil.example"})
    assert spec.headers["Access-Control-Allow-Origin"] in {"*", "https://evil.example"}


@pytest.mark.parametrize("value", ["", "www.example.org", "ftp://x.example", "https://a b"])
def test_cors_bad_origin_config_is_a_clear_error(value):
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        parse_origins(value)


def test_cors_origin_parsing():
    assert parse_origins("*") == "*"
    assert parse_origins(" https://a.example ,http://127.0.0.1:8080/") == [
        "https://a.example", "http://127.0.0.1:8080"]
    assert parse_origins(["https://a.example"]) == ["https://a.example"]
