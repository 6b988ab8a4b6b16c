"""Live operations over HTTP (Flask test client): publishing, reloads, caching, metrics,
request ids, rate limiting, CORS, configuration."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from recommender.model import artifact
from service import create_app

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROBLEM = "application/problem+json"
ARTICLE = {"title": "French journalist kidnapped in Colombia",
           "body": "Rebels kidnapped a French journalist in Colombia.",
           "published_at": "2026-11-28T09:30:00Z", "url": "https://example.org/live-1"}
ENV = ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES", "ALSOSEE_STATE_DB",
       "ALSOSEE_API_KEYS", "ALSOSEE_RATE_LIMIT", "ALSOSEE_CORS_ORIGINS", "ALSOSEE_CACHE_MAX_AGE",
       "PROMETHEUS_MULTIPROC_DIR")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def small_model(sample_articles):
    """A model of the first 80 sample articles (fast to fit, save and load)."""
    from recommender.model.estimator import RelatedStories

    return RelatedStories().fit(sample_articles.head(80))


@pytest.fixture(scope="module")
def template_models(small_model, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("template") / "models"
    artifact.save(small_model, root)
    return root


@pytest.fixture
def models(template_models, tmp_path) -> Path:
    """A private models root (tests add and break versions in it)."""
    root = tmp_path / "models"
    shutil.copytree(template_models, root)
    return root


def new_version(models: Path) -> str:
    """Save the serving model again as a new, activated version (like a nightly retrain)."""
    loaded = artifact.load(models)
    return artifact.save(loaded.model, models).name


def make_app(models: Path, **config):
    return create_app({"TESTING": True, "MODEL_DIR": str(models),
                       "STATE_DB": str(models.parent / "state.db"), "API_KEYS": KEY,
                       **config})


@pytest.fixture
def app(models):
    return make_app(models)


@pytest.fixture
def client(app):
    return app.test_client()


def problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    if field is not None:
        assert body["field"] == field
    return body


def corpus_id(client) -> str:
    response = client.post("/v1/related", json={"title": "journalist kidnapped in Colombia"})
    return response.get_json()["related"][0]["id"]


def state_version(app) -> int:
    return app.extensions["alsosee"].db.version()


# ------------------------------------------------------------------ auth
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("PUT", "/v1/articles/live-1", ARTICLE), ("DELETE", "/v1/articles/live-1", None),
     ("POST", "/v1/articles:batch", {"articles": [{**ARTICLE, "id": "x"}]}),
     ("POST", "/v1/admin/reload", None)],
)
def test_writes_need_a_key(app, client, method, path, body):
    version = state_version(app)
    body = problem(client.open(path, method=method, json=body), 401)
    assert body["type"].endswith("unauthorized")
    response = client.open(path, method=method, json=body,
                           headers={"Authorization": "Bearer wrong"})
    problem(response, 403)
    assert state_version(app) == version


def test_unauthorized_has_www_authenticate(client):
    response = client.post("/v1/admin/reload")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_no_key_configured_refuses_writes(models):
    client = make_app(models, API_KEYS="").test_client()
    body = problem(client.put("/v1/articles/a", json=ARTICLE, headers=AUTH), 403)
    assert "no API key is configured" in body["detail"]


# ------------------------------------------------------------------ publishing
def test_put_makes_it_queryable_and_a_candidate(app, client):
    target = corpus_id(client)
    response = client.put("/v1/articles/live-1", json=ARTICLE, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["ids"] == ["live-1"]
    own = client.get("/v1/articles/live-1/related?k=3").get_json()
    assert own["article"]["id"] == "live-1"
    assert own["article"]["url"] == ARTICLE["url"]
    assert own["related"][0]["id"] == target
    others = client.get(f"/v1/articles/{target}/related?k=3").get_json()
    assert others["related"][0]["id"] == "live-1"
    html = client.get(f"/v1/articles/{target}/related.html?k=3").get_data(as_text=True)
    assert "https://example.org/live-1" in html


def test_delete_unpublishes(app, client):
    target = corpus_id(client)
    client.put("/v1/articles/live-1", json=ARTICLE, headers=AUTH)
    for article_id in ("live-1", target):
        response = client.delete(f"/v1/articles/{article_id}", headers=AUTH)
        assert response.status_code == 200
        assert response.get_json()["changed"] == 1
        problem(client.get(f"/v1/articles/{article_id}/related"), 404)
        problem(client.get(f"/v1/articles/{article_id}/related.html"), 404)
    draft = client.post("/v1/related", json={"title": "journalist kidnapped Colombia", "k": 50})
    ids = {r["id"] for r in draft.get_json()["related"]}
    assert not ids & {"live-1", target}


@pytest.mark.parametrize(
    ("body", "field"),
    [({"body": "no title"}, "title"), ({"title": 5}, "title"),
     ({"title": "t", "published_at": "2026-13-45"}, "published_at"),
     ({"title": "t", "tags": "x"}, "tags"), ({"id": "other", "title": "t"}, "id")],
)
def test_put_malformed_stores_nothing(app, client, body, field):
    version = state_version(app)
    problem(client.put("/v1/articles/new", json=body, headers=AUTH), 400, field)
    assert state_version(app) == version
    problem(client.get("/v1/articles/new/related"), 404)


def test_put_not_json(client):
    problem(client.put("/v1/articles/a", data="{", headers={**AUTH,
                       "Content-Type": "application/json"}), 400)
    problem(client.put("/v1/articles/a", data="x", headers=AUTH), 415)


def test_batch(app, client):
    target = corpus_id(client)
    articles = [{**ARTICLE, "id": f"b{i}", "title": f"{ARTICLE['title']} {i}"} for i in range(3)]
    response = client.post("/v1/articles:batch", json={"articles": articles,
                                                       "unpublish": [target]}, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["ids"] == ["b0", "b1", "b2"]
    assert client.get("/v1/articles/b2/related").status_code == 200
    problem(client.get(f"/v1/articles/{target}/related"), 404)


def test_batch_with_one_bad_article_stores_nothing(app, client):
    version = state_version(app)
    bad = [{**ARTICLE, "id": "ok"}, {**ARTICLE, "id": "bad", "published_at": "soon"}]
    problem(client.post("/v1/articles:batch", json={"articles": bad}, headers=AUTH), 400,
            "articles[1].published_at")
    problem(client.post("/v1/articles:batch", json={"articles": {}}, headers=AUTH), 400,
            "articles")
    problem(client.post("/v1/articles:batch", json={"unpublish": [1]}, headers=AUTH), 400,
            "unpublish")
    problem(client.post("/v1/articles:batch", json={"publish": []}, headers=AUTH), 400, "publish")
    assert state_version(app) == version
    problem(client.get("/v1/articles/ok/related"), 404)


def test_an_article_body_has_one_limit_named_in_the_413(app, client):
    """The limit is the article's (characters, as ``alsosee publish`` applies it), not the
    bytes of its JSON: a body at the limit is accepted however it is escaped."""
    from recommender.state.live import MAX_BODY_CHARS

    at_limit = {"title": "t", "body": "é" * MAX_BODY_CHARS}  # 1.2 MB of JSON as \u00e9
    assert len(json.dumps(at_limit)) > app.config["MAX_CONTENT_LENGTH"]
    response = client.put("/v1/articles/long", json=at_limit, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    version = state_version(app)
    over = {"title": "t", "body": "é" * 225_000}
    body = problem(client.put("/v1/articles/longer", json=over, headers=AUTH), 413, "body")
    assert "225,000 characters" in body["detail"] and "200,000" in body["detail"]
    body = problem(client.post("/v1/articles:batch", json={"articles": [
        {**ARTICLE, "id": "ok"}, {**over, "id": "longer"}]}, headers=AUTH), 413,
        "articles[1].body")
    assert "200,000" in body["detail"]
    assert state_version(app) == version


def test_a_request_over_its_byte_limit_gets_a_413_naming_it(models):
    client = make_app(models, MAX_CONTENT_LENGTH=2048, MAX_BATCH_BYTES=8192).test_client()
    body = problem(client.post("/v1/related", json={"title": "t", "body": "x" * 3000}), 413)
    assert re.search(r"is 3,\d{3} bytes; .* at most 2,048 bytes \(ALSOSEE_MAX_BODY_BYTES\)",
                     body["detail"]), body["detail"]
    huge = {"articles": [{**ARTICLE, "id": f"h{i}", "body": "word " * 500} for i in range(10)]}
    body = problem(client.post("/v1/articles:batch", json=huge, headers=AUTH), 413)
    assert "at most 8,192 bytes (ALSOSEE_MAX_BATCH_BYTES)" in body["detail"]


def test_batch_has_its_own_body_limit(models):
    client = make_app(models, MAX_CONTENT_LENGTH=2048, MAX_BATCH_BYTES=8192).test_client()
    big = [{**ARTICLE, "id": f"b{i}"} for i in range(12)]  # ~3 kB: over the query limit
    assert client.post("/v1/articles:batch", json={"articles": big}, headers=AUTH).status_code \
        == 200
    huge = [{**ARTICLE, "id": f"h{i}", "body": "word " * 500} for i in range(10)]
    problem(client.post("/v1/articles:batch", json={"articles": huge}, headers=AUTH), 413)


def test_locked_state_db_is_a_503_and_loses_nothing(app, client):
    import sqlite3

    import recommender.state.db as db_module

    client.put("/v1/articles/keep", json=ARTICLE, headers=AUTH)
    db = app.extensions["alsosee"].db
    blocker = sqlite3.connect(db.path, timeout=0, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    old_timeout = db_module.BUSY_TIMEOUT_MS
    try:
        db.close()  # reconnect with a short busy timeout so the test stays fast
        db_module.BUSY_TIMEOUT_MS = 200
        body = problem(client.put("/v1/articles/new", json=ARTICLE, headers=AUTH), 503)
        assert "locked" in body["detail"]
        assert client.get("/v1/articles/keep/related").status_code == 200  # reads go on
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        db_module.BUSY_TIMEOUT_MS = old_timeout
        db.close()
    assert client.put("/v1/articles/new", json=ARTICLE, headers=AUTH).status_code == 200
    assert client.get("/v1/articles/keep/related").status_code == 200


# ------------------------------------------------------------------ caching
def test_etag_304_and_invalidation(app, client):
    target = corpus_id(client)
    url = f"/v1/articles/{target}/related"
    first = client.get(url)
    etag = first.headers["ETag"]
    version = first.headers["X-Model-Version"]
    assert version in etag
    assert first.headers["Cache-Control"] == "public, max-age=10"
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    # Any write (publish, unpublish: takedowns and pins go through the same counter) moves it.
    client.put("/v1/articles/live-1", json=ARTICLE, headers=AUTH)
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["related"][0]["id"] == "live-1"
    client.delete("/v1/articles/live-1", headers=AUTH)
    assert client.get(url, headers={"If-None-Match": changed.headers["ETag"]}).status_code == 200


def test_errors_and_posts_are_not_cached(client):
    assert client.get("/v1/articles/nope/related").headers["Cache-Control"] == "no-store"
    post = client.post("/v1/related", json={"title": "floods"})
    assert post.headers["Cache-Control"] == "no-store"


def test_cache_max_age_configurable(models):
    client = make_app(models, CACHE_MAX_AGE=0).test_client()
    target = corpus_id(client)
    assert client.get(f"/v1/articles/{target}/related").headers["Cache-Control"] == "no-cache"


# ------------------------------------------------------------------ reload
def test_reload_swaps_to_the_new_current(app, client, models):
    old = client.get("/v1/model").get_json()["version"]
    assert client.post("/v1/admin/reload", headers=AUTH).get_json()["status"] == "unchanged"
    new = new_version(models)
    response = client.post("/v1/admin/reload", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() | {"seconds": 0} == {
        "status": "reloaded", "previous": old, "version": new, "error": None, "seconds": 0,
        "other_workers_notified": True}
    state = app.extensions["alsosee"]
    # The ranking engine was built before the swap: no request pays for it afterwards.
    assert state._engine is not None and state._engine.model is state.serving.loaded.model
    related = client.get(f"/v1/articles/{corpus_id(client)}/related")
    assert related.headers["X-Model-Version"] == new
    assert related.get_json()["model"]["version"] == new
    model = client.get("/v1/model").get_json()
    assert model["version"] == new and model["last_reload_error"] is None


def _corrupt_truncate(version_dir: Path) -> None:
    path = version_dir / artifact.MODEL_FILE
    path.write_bytes(path.read_bytes()[:1000])


def _corrupt_modify(version_dir: Path) -> None:
    path = version_dir / artifact.MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _corrupt_missing(version_dir: Path) -> None:
    (version_dir / artifact.MODEL_FILE).unlink()


def _corrupt_foreign_manifest(version_dir: Path) -> None:
    other = sorted(p for p in version_dir.parent.iterdir()
                   if p.is_dir() and p != version_dir and not p.name.startswith("."))[0]
    shutil.copy(other / artifact.MANIFEST_FILE, version_dir / artifact.MANIFEST_FILE)


def _corrupt_not_json(version_dir: Path) -> None:
    (version_dir / artifact.MANIFEST_FILE).write_text("{not json")


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_modify, _corrupt_missing,
                                     _corrupt_foreign_manifest, _corrupt_not_json])
def test_bad_model_is_refused_and_old_keeps_serving(app, client, models, corrupt, caplog):
    client.put("/v1/articles/live-1", json=ARTICLE, headers=AUTH)
    old = client.get("/v1/model").get_json()["version"]
    new_dir = models / new_version(models)
    corrupt(new_dir)
    with caplog.at_level(logging.ERROR, logger="service.state"):
        body = problem(client.post("/v1/admin/reload", headers=AUTH), 409)
    assert old in body["detail"]
    assert any("refused" in r.getMessage() for r in caplog.records)
    assert client.get("/readyz").status_code == 200
    model = client.get("/v1/model").get_json()
    assert model["version"] == old
    assert model["last_reload_error"]
    assert model["last_reload"]["status"] == "failed"
    related = client.get("/v1/articles/live-1/related")  # live state is intact
    assert related.status_code == 200 and related.headers["X-Model-Version"] == old


def test_model_failing_its_probe_is_refused(app, client, models):
    """A version whose checksums are fine but which cannot answer (here: pickled without an
    attribute this code needs, as an incompatible alsosee would write it) is refused before
    it serves."""
    old = client.get("/v1/model").get_json()["version"]
    model = artifact.load(models).model
    del model.index_  # the inverted index every query reads
    artifact.save(model, models)
    body = problem(client.post("/v1/admin/reload", headers=AUTH), 409)
    assert "probe" in body["detail"] and "index_" in body["detail"]
    assert client.get("/v1/model").get_json()["version"] == old
    assert client.get("/readyz").status_code == 200


def test_request_uses_one_model_even_across_a_swap(app, client, models):
    """The view pins the serving reference at request start; a swap mid-request does not
    change what that request uses."""
    state = app.extensions["alsosee"]
    with app.test_request_context("/v1/related"):
        view = state.view()
        new_version(models)
        assert state.reload().status == "reloaded"
        assert state.view() is view
        assert state.require() is view.loaded
        assert state.serving.loaded is not view.loaded


def test_watcher_follows_reload_requests_and_the_pointer(models):
    app = make_app(models, WATCH_MODEL=True)
    other = make_app(models)  # another "worker" on the same state DB
    state, other_state = app.extensions["alsosee"], other.extensions["alsosee"]
    state.start_watcher(interval=0.05, watch_pointer=True)
    other_state.start_watcher(interval=0.05, watch_pointer=False)
    try:
        new = new_version(models)
        # The pointer watcher picks it up by itself; the other one only on request.
        _wait(lambda: state.serving.loaded.version == new)
        assert other_state.serving.loaded.version != new
        with app.test_request_context():
            state.request_reload_everywhere()
        _wait(lambda: other_state.serving.loaded.version == new)
        newer = new_version(models)
        other_state.signal_reload()  # what the SIGHUP handler does
        _wait(lambda: other_state.serving.loaded.version == newer)
    finally:
        state.stop_watcher()
        other_state.stop_watcher()


def _wait(predicate, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# ------------------------------------------------------------------ observability
def test_request_id_and_json_log_line(client, caplog):
    from service.logfmt import JsonFormatter

    with caplog.at_level(logging.INFO, logger="alsosee.access"):
        response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
        generated = client.get("/readyz", headers={"X-Request-Id": "bad id with spaces"})
    assert response.headers["X-Request-Id"] == "abc-123"
    assert len(generated.headers["X-Request-Id"]) == 32
    records = [r for r in caplog.records if r.name == "alsosee.access"]
    assert len(records) == 2
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "abc-123"
    assert line["path"] == "/healthz" and line["status"] == 200
    assert line["duration_ms"] >= 0 and line["model_version"]


def test_metrics(app, client):
    client.get("/healthz")
    client.get("/v1/articles/nope/related")
    client.put("/v1/articles/live-1", json=ARTICLE, headers=AUTH)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'alsosee_http_requests_total{endpoint="/healthz",method="GET",status="200"}' in text
    assert 'status="404"' in text
    assert "alsosee_http_request_duration_seconds_bucket" in text
    assert "alsosee_model_age_seconds" in text
    assert "alsosee_model_articles 80.0" in text
    assert 'alsosee_live_articles{state="published"} 1.0' in text
    assert "alsosee_model_reloads_total" in text or "alsosee_model_serving" in text


# ------------------------------------------------------------------ rate limits
def test_rate_limit_on_draft_endpoint(models):
    client = make_app(models, RATE_LIMIT="2/minute").test_client()
    for _ in range(2):
        assert client.post("/v1/related", json={"title": "floods"}).status_code == 200
    body = problem(client.post("/v1/related", json={"title": "floods"}), 429)
    assert body["status"] == 429
    limited = client.post("/v1/related", json={"title": "floods"})
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200  # other endpoints are not limited


def test_cors_exposes_operational_headers(models):
    client = make_app(models, CORS_ORIGINS="https://news.example").test_client()
    target = corpus_id(client)
    allowed = client.get(f"/v1/articles/{target}/related",
                         headers={"Origin": "https://news.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://news.example"
    exposed = allowed.headers["Access-Control-Expose-Headers"]
    assert {"ETag", "X-Model-Version", "X-Request-Id"} <= {h.strip() for h in exposed.split(",")}


# ------------------------------------------------------------------ configuration
def test_settings_from_env_and_toml(models, tmp_path, monkeypatch):
    config = tmp_path / "alsosee.toml"
    config.write_text(f'model_dir = "{models}"\ncache_max_age = 42\nrate_limit = "5/second"\n'
                      'workers = 3\n')
    monkeypatch.setenv("ALSOSEE_CONFIG", str(config))
    monkeypatch.setenv("ALSOSEE_CACHE_MAX_AGE", "7")
    app = create_app()
    assert app.config["CACHE_MAX_AGE"] == 7  # env beats the file
    assert app.config["RATE_LIMIT"] == "5/second"
    assert app.config["WATCH_MODEL"] is False

    from service.server import server_options

    opts = server_options({"workers": None, "threads": 4})
    assert opts["WORKERS"] == 3 and opts["THREADS"] == 4 and opts["TIMEOUT"] == 30
    assert opts["MODEL_DIR"] == str(models)
    monkeypatch.setenv("ALSOSEE_WATCH_MODEL", "maybe")
    with pytest.raises(ValueError, match="ALSOSEE_WATCH_MODEL"):
        create_app()


def test_configuration_is_documented():
    from service.settings import ALL_SETTINGS

    doc = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
    table = doc.read_text(encoding="utf-8").split("\n## Configuration", 1)[1]
    missing = [s.env or s.toml for s in ALL_SETTINGS if f"`{s.env or s.toml}`" not in table]
    assert not missing, f"docs/operations.md's Configuration table lacks {missing}"
