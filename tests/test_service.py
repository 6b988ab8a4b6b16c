"""HTTP service tests through Flask's test client, against a really trained sample model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from markupsafe import escape

from service import create_app
from service.pages import render_fragment

PROBLEM = "application/problem+json"
HOSTILE = '<script>alert(1)</script> & "q" \'s'

TINY_CORPUS = [
    {"id": "a/b", "title": "Floods hit the river delta", "body": "Heavy rain floods the delta.",
     "url": "https://example.org/a/b", "published_at": "2012-05-01T10:00:00Z",
     "section": "World", "tags": ["floods"]},
    {"id": "x//y", "title": "River delta floods displace farmers",
     "body": "Farmers flee the floods in the river delta after heavy rain.",
     "url": "https://example.org/x/y", "published_at": "2012-05-02T10:00:00Z",
     "section": "World", "tags": ["floods"]},
    {"id": "hostile", "title": HOSTILE + " floods in the delta",
     "body": "Rain and floods again in the river delta.",
     "url": "javascript:alert(1)", "published_at": "2012-05-03T10:00:00Z",
     "section": "<b>World</b>", "tags": ["floods"]},
    {"id": "nourl", "title": "Delta farmers count flood losses",
     "body": "After the floods, farmers in the river delta count their losses.",
     "published_at": None, "section": "World", "tags": ["floods"]},
]


def assert_problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == response.request.path
    if field is not None:
        assert body["field"] == field
    return body


@pytest.fixture(scope="module")
def app(trained_model_dir):
    """Overrides conftest's per-test ``app``: one app (one ~0.5 s model load) per module.
    Tests must not add routes to it."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES"):
            mp.delenv(name, raising=False)
        return create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir)})


@pytest.fixture(scope="module")
def article_id(app):
    """An id of the sample corpus, found through the API itself."""
    draft = {"title": "journalist kidnapped in Colombia"}
    response = app.test_client().post("/v1/related", json=draft)
    assert response.status_code == 200
    return response.get_json()["related"][0]["id"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from recommender.training.job import train

    root = tmp_path_factory.mktemp("tiny")
    corpus = root / "tiny.jsonl"
    corpus.write_text("\n".join(json.dumps(a) for a in TINY_CORPUS) + "\n", encoding="utf-8")
    train(corpus=corpus, out=root / "models")
    return root / "models"


@pytest.fixture(scope="module")
def tiny_app(tiny_model_dir):
    return create_app({"TESTING": True, "MODEL_DIR": str(tiny_model_dir)})


@pytest.fixture
def tiny_client(tiny_app):
    return tiny_app.test_client()


@pytest.fixture
def no_model_client(empty_model_dir):
    return create_app({"TESTING": True, "MODEL_DIR": str(empty_model_dir)}).test_client()


# ------------------------------------------------------------------ health
def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready"
    assert body["model"]["version"] == app.extensions["alsosee"].loaded.version


# ------------------------------------------------------------------ related
def check_item(item):
    assert set(item) == {"id", "title", "url", "published_at", "section", "score", "similarity",
                         "reason"}
    assert item["reason"] in {"similar", "pinned", "fallback"}
    assert isinstance(item["id"], str) and item["id"]
    assert isinstance(item["title"], str)
    assert item["url"] is None or isinstance(item["url"], str)
    assert item["published_at"] is None or isinstance(item["published_at"], str)
    assert item["section"] is None or isinstance(item["section"], str)
    assert isinstance(item["score"], float) and 0.0 <= item["score"] <= 1.0


def check_model_info(info, app):
    loaded = app.extensions["alsosee"].loaded
    assert info == {
        "version": loaded.version,
        "trained_at": loaded.manifest["created_at"],
        "articles": loaded.manifest["articles"],
    }


@pytest.mark.parametrize("k", [None, 1, 3, 100])
def test_related_shape(client, app, article_id, k):
    url = f"/v1/articles/{article_id}/related" + (f"?k={k}" if k else "")
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"article", "related", "model"}
    assert body["article"]["id"] == article_id
    assert set(body["article"]) == {"id", "title", "url", "published_at", "section"}
    related = body["related"]
    assert 1 <= len(related) <= (k or 5)
    for item in related:
        check_item(item)
    scores = [item["score"] for item in related]
    assert scores == sorted(scores, reverse=True)
    assert article_id not in {item["id"] for item in related}
    assert len({item["id"] for item in related}) == len(related)
    check_model_info(body["model"], app)


def test_related_to_draft(client, app):
    draft = {"title": "Journalist kidnapped", "body": "FARC rebels in Colombia", "k": 4}
    response = client.post("/v1/related", json=draft)
    assert response.status_code == 200
    body = response.get_json()
    assert body["article"] == {"title": "Journalist kidnapped"}
    assert 1 <= len(body["related"]) <= 4
    for item in body["related"]:
        check_item(item)
    scores = [item["score"] for item in body["related"]]
    assert scores == sorted(scores, reverse=True)
    check_model_info(body["model"], app)


def test_related_to_draft_body_only_and_tags(client):
    response = client.post("/v1/related", json={"body": "elections in Egypt", "tags": ["Egypt"]})
    assert response.status_code == 200
    assert response.get_json()["article"] == {"title": ""}


def test_ids_with_slashes(tiny_client):
    for article_id in ("a/b", "x//y"):
        response = tiny_client.get(f"/v1/articles/{article_id}/related")
        assert response.status_code == 200, article_id
        body = response.get_json()
        assert body["article"]["id"] == article_id
        assert article_id not in {item["id"] for item in body["related"]}
    response = tiny_client.get("/v1/articles/a%2Fb/related.html")
    assert response.status_code == 200
    assert "Floods hit" not in response.get_data(as_text=True)  # self is not listed


# ------------------------------------------------------------------ model
def test_model_manifest(client, app):
    response = client.get("/v1/model")
    assert response.status_code == 200
    body = response.get_json()
    manifest = app.extensions["alsosee"].loaded.manifest
    for key in ("version", "created_at", "articles", "parameters", "versions", "corpus"):
        assert body[key] == manifest[key] or key == "corpus"
    assert "files" not in body
    assert "scikit-learn" in body["versions"]
    text = response.get_data(as_text=True)
    assert "sha256\": \"" + manifest["files"]["model.joblib"] not in text
    assert str(app.extensions["alsosee"].loaded.path) not in text


# ------------------------------------------------------------------ HTML fragment
def test_fragment_escapes_everything():
    html = render_fragment(
        [
            {"id": "1", "title": HOSTILE, "url": 'https://e.org/?a=1&b="2"',
             "published_at": "2012-05-01T02:14:15Z", "section": None, "score": 0.5},
            {"id": "2", "title": "no link", "url": None, "published_at": None,
             "section": None, "score": 0.4},
            {"id": "3", "title": "bad link", "url": "javascript:alert(1)",
             "published_at": "not a date", "section": None, "score": 0.3},
        ],
        article_id='"><script>',
    )
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;q&#34; &#39;s" in html
    assert 'href="https://e.org/?a=1&amp;b=&#34;2&#34;"' in html
    assert '<time class="alsosee__date" datetime="2012-05-01T02:14:15Z">1 May 2012</time>' in html
    assert "javascript:" not in html
    assert html.count('<a class="alsosee__link"') == 1
    assert '<span class="alsosee__title">no link</span>' in html
    assert '<span class="alsosee__title">bad link</span>' in html
    assert html.count('<li class="alsosee__item">') == 3
    assert html.startswith('<aside class="alsosee" aria-labelledby="alsosee-heading-')
    assert '<h2 class="alsosee__heading" id="alsosee-heading-' in html
    assert "ALSO SEE:" in html
    assert html.rstrip().endswith("</ul>\n</aside>")


def test_fragment_empty():
    assert render_fragment([]) == ""


def test_related_html(client, article_id):
    response = client.get(f"/v1/articles/{article_id}/related.html?k=3")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.get_data(as_text=True)
    assert html.startswith('<aside class="alsosee"')
    assert html.count('<li class="alsosee__item">') == 3
    assert '<ul class="alsosee__list">' in html


def test_related_html_hostile_title(tiny_client):
    # The corpus loader may clean the title; whatever it kept must come out escaped.
    related = tiny_client.get("/v1/articles/a/b/related").get_json()["related"]
    hostile = next(item for item in related if item["id"] == "hostile")
    assert hostile["url"] is None  # "javascript:alert(1)" in the corpus: dropped at training
    html = tiny_client.get("/v1/articles/a/b/related.html").get_data(as_text=True)
    assert f'<span class="alsosee__title">{escape(hostile["title"])}</span>' in html
    assert "&amp; &#34;q&#34; &#39;s floods in the delta" in html
    assert "<script>" not in html and "javascript:" not in html and "<b>" not in html
    assert '<span class="alsosee__title">Delta farmers count flood losses</span>' in html


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "query",
    ["k=abc", "k=0", "k=101", "k=", "k=null", "k=1.5", "k=-1", "k=+1", "k=%201", "k=1e2",
     "k=5&k=6", "k=" + "9" * 5000],
    ids=lambda q: q[:12],
)
def test_bad_k(client, article_id, query):
    for suffix in ("related", "related.html"):
        response = client.get(f"/v1/articles/{article_id}/{suffix}?{query}")
        assert_problem(response, 400, field="k")


def test_unknown_article(client):
    for suffix in ("related", "related.html"):
        body = assert_problem(client.get(f"/v1/articles/no-such-id/{suffix}"), 404)
        assert "no-such-id" in body["detail"]


def test_long_article_id(client):
    assert_problem(client.get("/v1/articles/" + "x" * 513 + "/related"), 400, field="article_id")
    assert_problem(client.get("/v1/articles/" + "x" * 512 + "/related"), 404)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"title": 1}, "title"),
        ({"title": None}, "title"),
        ({"title": "x", "body": ["a"]}, "body"),
        ({"title": "x", "k": True}, "k"),
        ({"title": "x", "k": "5"}, "k"),
        ({"title": "x", "k": 1.5}, "k"),
        ({"title": "x", "k": 5.5}, "k"),
        ({"title": "x", "k": None}, "k"),
        ({"title": "x", "k": 0}, "k"),
        ({"title": "x", "k": 101}, "k"),
        ({"title": "x", "k": 10**400}, "k"),
        ({"title": "x", "tags": "a"}, "tags"),
        ({"title": "x", "tags": [1]}, "tags"),
        ({"title": "", "body": ""}, None),
        ({}, None),
        ({"title": "   "}, None),
    ],
)
def test_post_bad_fields(client, payload, field):
    body = assert_problem(client.post("/v1/related", json=payload), 400)
    if field is not None:
        assert body["field"] == field
    else:
        assert body["field"] in {"title", "body"}


@pytest.mark.parametrize(
    "data",
    [b"{", b"", b"not json", b"\xff\xfe", b'{"title": "x",}', b"[" * 100_000 + b"]" * 100_000,
     b"[]", b'"title"', b"null", b"42"],
    ids=["open", "empty", "text", "bad-utf8", "trailing-comma", "deep", "array", "string",
         "null", "number"],
)
def test_post_malformed_json(client, data):
    response = client.post("/v1/related", data=data, content_type="application/json")
    assert_problem(response, 400)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_post_wrong_content_type(client, content_type):
    response = client.post("/v1/related", data='{"title": "x"}', content_type=content_type)
    assert_problem(response, 415)


def test_post_json_with_charset(client):
    response = client.post(
        "/v1/related", data='{"title": "Egypt"}', content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 200


def test_post_too_large(trained_model_dir):
    client = create_app(
        {"TESTING": True, "MODEL_DIR": str(trained_model_dir), "MAX_CONTENT_LENGTH": 1000}
    ).test_client()
    payload = json.dumps({"title": "x", "body": "y" * 2000})
    assert_problem(client.post("/v1/related", data=payload, content_type="application/json"), 413)
    ok = client.post("/v1/related", json={"title": "Egypt elections"})
    assert ok.status_code == 200


def test_post_too_large_default_limit(client):
    payload = json.dumps({"title": "x", "body": "y" * (1024 * 1024)})
    assert_problem(client.post("/v1/related", data=payload, content_type="application/json"), 413)


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("get", "/nope", 404),
        ("get", "/v1/articles/", 404),
        ("get", "/v1/articles//related", 404),
        ("get", "/v1/related", 405),
        ("delete", "/v1/related", 405),
        ("post", "/healthz", 405),
        ("put", "/v1/model", 405),
        ("post", "/v1/articles/x/related", 405),
    ],
)
def test_http_errors(client, method, path, status):
    response = getattr(client, method)(path)
    assert_problem(response, status)
    if status == 405:
        assert response.headers["Allow"]
        assert method.upper() not in response.headers["Allow"]


# ------------------------------------------------------------------ no model
def test_no_model(no_model_client):
    assert no_model_client.get("/healthz").status_code == 200
    for response in (
        no_model_client.get("/readyz"),
        no_model_client.get("/v1/model"),
        no_model_client.get("/v1/articles/x/related"),
        no_model_client.get("/v1/articles/x/related.html"),
        no_model_client.post("/v1/related", json={"title": "x"}),
    ):
        body = assert_problem(response, 503)
        assert "no model" in body["title"].lower()


def test_unexpected_error_is_a_500_problem(empty_model_dir):
    app = create_app({"TESTING": True, "MODEL_DIR": str(empty_model_dir)})

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    body = assert_problem(app.test_client().get("/boom"), 500)
    assert "secret" not in json.dumps(body)


# ------------------------------------------------------------------ configuration
def test_config_layers(tmp_path, monkeypatch, trained_model_dir, empty_model_dir):
    for name in ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "alsosee.toml"
    config.write_text(f'model_dir = "{empty_model_dir}"\nmax_content_length = 2048\n')
    monkeypatch.setenv("ALSOSEE_CONFIG", str(config))
    app = create_app()
    assert app.config["MODEL_DIR"] == str(empty_model_dir)
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.extensions["alsosee"].loaded is None

    monkeypatch.setenv("ALSOSEE_MODEL_DIR", str(trained_model_dir))
    monkeypatch.setenv("ALSOSEE_MAX_BODY_BYTES", "4096")
    app = create_app()
    assert app.config["MODEL_DIR"] == str(trained_model_dir)
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    assert app.extensions["alsosee"].loaded is not None

    app = create_app({"MAX_CONTENT_LENGTH": 10})
    assert app.config["MAX_CONTENT_LENGTH"] == 10


def test_config_defaults(monkeypatch):
    for name in ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")
    app = create_app()
    assert app.config["MODEL_DIR"] == "models"
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_bad_max_body_env(monkeypatch, value):
    monkeypatch.setenv("ALSOSEE_MAX_BODY_BYTES", value)
    with pytest.raises(ValueError, match="ALSOSEE_MAX_BODY_BYTES"):
        create_app()


def test_bad_config_file(tmp_path, monkeypatch):
    config = tmp_path / "bad.toml"
    config.write_text("modle_dir = 'x'\n")
    monkeypatch.setenv("ALSOSEE_CONFIG", str(config))
    with pytest.raises(RuntimeError, match="modle_dir"):
        create_app()


def test_post_k_integral_float_is_an_integer(client):
    """JSON and JSON Schema do not tell 5 from 5.0 (the OpenAPI description says integer):
    an integral float is accepted, a fractional one is not (found by schemathesis)."""
    response = client.post("/v1/related", json={"title": "Egypt elections", "k": 3.0})
    assert response.status_code == 200
    assert len(response.get_json()["related"]) <= 3


def test_every_service_variable_is_a_row_of_the_settings_table():
    """The service reads its ``ALSOSEE_*`` variables through service/settings.py only."""
    import re

    from service import settings

    root = Path(__file__).resolve().parent.parent / "service"
    named = {name for path in root.glob("*.py")
             for name in re.findall(r"ALSOSEE_[A-Z_]+", path.read_text(encoding="utf-8"))}
    rows = {s.env for s in settings.ALL_SETTINGS} | {settings.ENV_CONFIG}
    assert named - rows == set()
    assert len({s.key for s in settings.ALL_SETTINGS}) == len(settings.ALL_SETTINGS)
    assert len(settings.toml_keys()) == len(settings.ALL_SETTINGS) + sum(
        len(s.aliases) for s in settings.ALL_SETTINGS)


def test_model_dir_precedence_and_bad_values(tmp_path, monkeypatch):
    from recommender.model.artifact import DEFAULT_MODEL_DIR
    from service.server import server_options

    for name in ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert server_options({})["MODEL_DIR"] == DEFAULT_MODEL_DIR
    config = tmp_path / "alsosee.toml"
    config.write_text('model_dir = "from-file"\nmax_body_bytes = 512\n')
    monkeypatch.setenv("ALSOSEE_CONFIG", str(config))
    assert server_options({})["MODEL_DIR"] == "from-file"
    monkeypatch.setenv("ALSOSEE_MODEL_DIR", "")  # empty: unset
    assert server_options({})["MODEL_DIR"] == "from-file"
    monkeypatch.setenv("ALSOSEE_MODEL_DIR", "from-env")
    assert server_options({})["MODEL_DIR"] == "from-env"
    assert server_options({"model": "from-flag"})["MODEL_DIR"] == "from-flag"
    config.write_text("model_dir = 3\n")
    monkeypatch.delenv("ALSOSEE_MODEL_DIR")
    with pytest.raises(ValueError, match=r"model_dir \(config file\): expected a directory "
                                         r"path, got 3"):
        server_options({})
