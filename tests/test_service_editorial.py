"""HTTP: ranking options, explanations, takedowns/pins/blocks behind API keys."""

from __future__ import annotations

import pytest

from service import create_app

KEY = "s3cret-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
ARTICLE = "gv-316447"
PROBLEM = "application/problem+json"


ENV = ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES", "ALSOSEE_STATE_DB",
       "ALSOSEE_API_KEYS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def app(trained_model_dir, tmp_path_factory):
    """One app per module (a model load is ~0.5 s); ``client`` empties the state after
    each test."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV:
            mp.delenv(name, raising=False)
        return create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                           "STATE_DB": str(tmp_path_factory.mktemp("state") / "state.db"),
                           "API_KEYS": f"desk:{KEY},other-key-0123456789"})


@pytest.fixture
def client(app):
    yield app.test_client()
    with app.extensions["alsosee"].editorial.db.write() as conn:
        for table in ("takedowns", "pins", "blocks"):
            conn.execute(f"DELETE FROM {table}")


def related_ids(client, article=ARTICLE, **params):
    response = client.get(f"/v1/articles/{article}/related", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["related"]]


def problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field
    return body


def test_ranking_options_as_query_params(client):
    response = client.get(f"/v1/articles/{ARTICLE}/related",
                          query_string={"section": "Latin America", "explain": "true",
                                        "debug": "true", "half_life": "30", "k": "4"},
                          headers=AUTH)
    body = response.get_json()
    assert response.status_code == 200
    assert body["related"] and all(i["section"] == "Latin America" for i in body["related"])
    for item in body["related"]:
        ex = item["explanation"]
        total = (sum(t["contribution"] for t in ex["terms"]) + ex["other_terms"]["contribution"]
                 + ex.get("topic_similarity", 0.0))
        assert total == pytest.approx(item["similarity"], abs=1e-5)
    assert body["debug"]["options"]["half_life"] == 30.0
    assert any(d["reason"] == "filtered" for d in body["debug"]["dropped"])


@pytest.mark.parametrize(("query", "field", "status"), [
    ("half_life=-1", "half_life", 400), ("diversity=1.5", "diversity", 400), ("k=101", "k", 400),
    ("since=tomorrow", "since", 400), ("direction=up", "direction", 400),
    ("explain=perhaps", "explain", 400), ("half_life=1&half_life=2", "half_life", 400),
    # HTTP's one spelling (service/ranking_params.py): no upper case, no 'off', no spaces
    ("direction=BEFORE", "direction", 400), ("half_life=off", "half_life", 400),
    ("explain=True", "explain", 400), ("min_score=%200.5", "min_score", 400),
    ("since=2012-05-01T10", "since", 400), ("section=", "section", 400),
    ("section_half_life=Caribbean:0", "section_half_life", 400),
    # well-formed, but not in this corpus: 400 of type unusable-value
    ("section=Nowhere", "section", 400), ("language=xx", "language", 400),
    ("exclude_sections=Nowhere", "exclude_sections", 400),
])
def test_bad_query_params(client, query, field, status):
    problem(client.get(f"/v1/articles/{ARTICLE}/related?{query}"), status, field)
    problem(client.get(f"/v1/articles/{ARTICLE}/related.html?{query}"), status, field)


def test_post_draft_with_options(client):
    response = client.post("/v1/related", json={
        "title": "Colombia journalist kidnapped", "k": 3, "section": ["Latin America"],
        "explain": True, "fallback": "latest_in_section", "min_score": 0.5,
        "options": {"tags": ["Colombia"]}})
    assert response.status_code == 200, response.get_data(as_text=True)
    items = response.get_json()["related"]
    assert len(items) == 3 and {i["reason"] for i in items} <= {"similar", "fallback"}
    assert all(i["section"] == "Latin America" for i in items)
    problem(client.post("/v1/related", json={"title": "x", "half_life": "30"}), 400,
            "half_life")
    problem(client.post("/v1/related", json={"title": "x", "options": []}), 400, "options")
    problem(client.post("/v1/related", json={"title": "x", "published_at": "nope"}), 400,
            "published_at")


def test_unauthorised_writes_are_refused_and_change_nothing(client, app):
    before = related_ids(client)
    victim = before[0]
    writes = [
        ("put", f"/v1/takedowns/{victim}", {"reason": "legal"}),
        ("delete", f"/v1/takedowns/{victim}", None),
        ("put", f"/v1/articles/{ARTICLE}/pins", {"ids": [before[2]]}),
        ("delete", f"/v1/articles/{ARTICLE}/pins", None),
        ("put", f"/v1/articles/{ARTICLE}/blocks", {"ids": [victim]}),
        ("delete", f"/v1/articles/{ARTICLE}/blocks", None),
    ]
    version = app.extensions["alsosee"].editorial.db.version()
    for method, url, body in writes:
        missing = getattr(client, method)(url, json=body)
        problem(missing, 401)
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        for header in ({"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"},
                       {"Authorization": "Bearer " + KEY + "x"}):
            response = getattr(client, method)(url, json=body, headers=header)
            assert response.status_code in (401, 403)
            problem(response, response.status_code)
    assert app.extensions["alsosee"].editorial.db.version() == version
    assert related_ids(client) == before
    assert client.get("/v1/takedowns", headers=AUTH).get_json() == {"takedowns": []}


def test_writes_disabled_without_configured_keys(trained_model_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("ALSOSEE_API_KEYS", raising=False)
    monkeypatch.delenv("ALSOSEE_CONFIG", raising=False)
    app = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                      "STATE_DB": str(tmp_path / "s.db")})
    response = app.test_client().put(f"/v1/takedowns/{ARTICLE}", json={"reason": "x"},
                                     headers=AUTH)
    assert "no API key is configured" in problem(response, 403)["detail"]


def test_takedown_pin_block_over_http(client):
    before = related_ids(client)
    victim = before[0]
    response = client.put(f"/v1/takedowns/{victim}", json={"reason": "legal"}, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["takedown"]["created_by"] == "api:desk"
    assert victim not in related_ids(client)
    html = client.get(f"/v1/articles/{ARTICLE}/related.html").get_data(as_text=True)
    assert victim not in html and "ALSO SEE" in html
    draft = client.post("/v1/related", json={"title": "Colombia journalist kidnapped FARC",
                                             "k": 20})
    assert victim not in [i["id"] for i in draft.get_json()["related"]]
    [listed] = client.get("/v1/takedowns", headers=AUTH).get_json()["takedowns"]
    assert listed["id"] == victim and listed["reason"] == "legal"

    # Pins first, in order; takedown beats pin.
    response = client.put(f"/v1/articles/{ARTICLE}/pins",
                          json={"ids": [before[3], victim], "expires_at": "2999-01-01"},
                          headers=AUTH)
    assert response.status_code == 200
    body = client.get(f"/v1/articles/{ARTICLE}/related").get_json()
    assert body["related"][0]["id"] == before[3]
    assert body["related"][0]["reason"] == "pinned"
    assert victim not in [i["id"] for i in body["related"]]
    assert client.get(f"/v1/articles/{ARTICLE}/pins",
                      headers=AUTH).get_json()["ids"] == [before[3], victim]

    response = client.put(f"/v1/articles/{ARTICLE}/blocks", json={"ids": [before[1]]},
                          headers=AUTH)
    assert response.get_json()["ids"] == [before[1]]
    assert before[1] not in related_ids(client)

    assert client.delete(f"/v1/takedowns/{victim}", headers=AUTH).status_code == 204
    assert client.delete(f"/v1/articles/{ARTICLE}/pins", headers=AUTH).status_code == 204
    assert client.delete(f"/v1/articles/{ARTICLE}/blocks", headers=AUTH).status_code == 204
    assert related_ids(client) == before
    problem(client.delete(f"/v1/takedowns/{victim}", headers=AUTH), 404)


@pytest.mark.parametrize(("method", "url", "body", "status", "field"), [
    ("put", "/v1/takedowns/no-such-id", {"reason": "x"}, 404, None),
    ("put", f"/v1/takedowns/{ARTICLE}", {}, 400, "reason"),
    ("put", f"/v1/takedowns/{ARTICLE}", {"reason": 3}, 400, "reason"),
    ("put", f"/v1/takedowns/{ARTICLE}", {"reason": "x", "force": "yes"}, 400, "force"),
    ("put", f"/v1/articles/{ARTICLE}/pins", {"ids": [ARTICLE]}, 400, "ids"),
    ("put", f"/v1/articles/{ARTICLE}/pins", {"ids": ["no-such-id"]}, 400, "ids"),
    ("put", f"/v1/articles/{ARTICLE}/pins", {"ids": "gv-1"}, 400, "ids"),
    ("put", f"/v1/articles/{ARTICLE}/pins", {"ids": ["gv-321626"], "expires_at": "soon"}, 400,
     "expires_at"),
    ("put", "/v1/articles/no-such-id/pins", {"ids": ["gv-321626"]}, 404, None),
    ("put", f"/v1/articles/{ARTICLE}/blocks", {"ids": []}, 400, "ids"),
    ("delete", f"/v1/articles/{ARTICLE}/pins", None, 404, None),
])
def test_bad_editorial_requests_change_nothing(client, app, method, url, body, status, field):
    version = app.extensions["alsosee"].editorial.db.version()
    kwargs = {"headers": AUTH}
    if body is not None:
        kwargs["json"] = body
    problem(getattr(client, method)(url, **kwargs), status, field)
    assert app.extensions["alsosee"].editorial.db.version() == version


def test_forced_takedown_of_a_url(client):
    url = "http://globalvoicesonline.org/2012/05/01/colombia-french-journalist-romeo-langlois-kidnapped/"
    response = client.put(f"/v1/takedowns/{url}", json={"reason": "legal"}, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["takedown"]["kind"] == "url"
    draft = client.post("/v1/related", json={"title": "Colombia French journalist Langlois",
                                             "k": 20})
    assert ARTICLE not in [i["id"] for i in draft.get_json()["related"]]


def test_corrupt_state_db_gives_503_and_is_untouched(trained_model_dir, tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"garbage" * 1000)
    app = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                      "STATE_DB": str(path), "API_KEYS": KEY})
    client = app.test_client()
    body = problem(client.get(f"/v1/articles/{ARTICLE}/related"), 503)
    assert "state" in body["detail"]
    problem(client.get("/readyz"), 503)
    problem(client.put(f"/v1/takedowns/{ARTICLE}", json={"reason": "x"}, headers=AUTH), 503)
    assert path.read_bytes() == b"garbage" * 1000


@pytest.mark.parametrize("path", ["/v1/takedowns", "/v1/pins", "/v1/blocks",
                                  f"/v1/articles/{ARTICLE}/pins",
                                  f"/v1/articles/{ARTICLE}/blocks"])
def test_editorial_reads_need_a_key_unless_opened(trained_model_dir, tmp_path, monkeypatch,
                                                  path):
    monkeypatch.delenv("ALSOSEE_READ_REQUIRES_KEY", raising=False)
    closed = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                         "STATE_DB": str(tmp_path / "s.db"), "API_KEYS": KEY}).test_client()
    problem(closed.get(path), 401)
    problem(closed.get(path, headers={"Authorization": "Bearer not-the-key-0123456789"}), 403)
    assert closed.get(path, headers=AUTH).status_code in (200, 404)
    monkeypatch.setenv("ALSOSEE_READ_REQUIRES_KEY", "false")
    opened = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                         "STATE_DB": str(tmp_path / "s.db"), "API_KEYS": KEY})
    assert opened.test_client().get(path).status_code in (200, 404)
    spec = opened.test_client().get("/openapi.json").get_json()
    assert spec["paths"]["/v1/takedowns"]["get"]["security"] == [{}, {"bearerAuth": []}]
    closed_spec = closed.get("/openapi.json").get_json()
    assert closed_spec["paths"]["/v1/takedowns"]["get"]["security"] == [{"bearerAuth": []}]


def test_ranking_defaults_from_config(trained_model_dir, tmp_path, monkeypatch):
    config = tmp_path / "alsosee.toml"
    config.write_text('[ranking]\nhalf_life = 3\nk = 2\n[ranking.section_half_life]\n'
                      '"Latin America" = 1\n')
    monkeypatch.setenv("ALSOSEE_CONFIG", str(config))
    app = create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                      "STATE_DB": str(tmp_path / "s.db")})
    defaults = app.extensions["alsosee"].ranking_defaults
    assert defaults.half_life == 3 and defaults.section_half_life == (("Latin America", 1.0),)
    config.write_text("[ranking]\nhalf_life = -3\n")
    with pytest.raises(RuntimeError, match="half_life"):
        create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                    "STATE_DB": str(tmp_path / "s.db")})


def test_an_expiring_pin_changes_the_etag(client):
    import datetime as dt
    import time

    before = related_ids(client)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    response = client.put(f"/v1/articles/{ARTICLE}/pins",
                          json={"ids": [before[4]], "expires_at": soon.isoformat()},
                          headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    pinned = client.get(f"/v1/articles/{ARTICLE}/related")
    assert pinned.get_json()["related"][0]["reason"] == "pinned"
    etag = pinned.headers["ETag"]
    time.sleep(max((soon - dt.datetime.now(dt.UTC)).total_seconds(), 0) + 0.2)
    again = client.get(f"/v1/articles/{ARTICLE}/related", headers={"If-None-Match": etag})
    assert again.status_code == 200  # not a stale 304
    assert again.get_json()["related"][0]["reason"] == "similar"
