"""The per-worker response cache: repeated lists come from memory, never a stale one."""

from __future__ import annotations

import pytest

from service import create_app

KEY = "cache-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
ARTICLE = "gv-316447"
ENV = ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_STATE_DB", "ALSOSEE_API_KEYS",
       "ALSOSEE_RESPONSE_CACHE_SIZE", "ALSOSEE_RESPONSE_CACHE_TTL", "ALSOSEE_CORS_ORIGINS")


def make_app(model_dir, tmp_path, **config):
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV:
            mp.delenv(name, raising=False)
        return create_app({"TESTING": True, "MODEL_DIR": str(model_dir),
                           "STATE_DB": str(tmp_path / "state.db"), "API_KEYS": KEY,
                           **config})


@pytest.fixture
def client(trained_model_dir, tmp_path):
    return make_app(trained_model_dir, tmp_path).test_client()


def ids(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.get_json()["related"]]


def test_a_repeated_request_is_a_hit_with_the_same_body(client):
    first = client.get(f"/v1/articles/{ARTICLE}/related?k=5")
    second = client.get(f"/v1/articles/{ARTICLE}/related?k=5")
    assert first.headers["X-Cache"] == "miss"
    assert second.headers["X-Cache"] == "hit"
    assert second.get_data() == first.get_data()
    assert second.headers["ETag"] == first.headers["ETag"]
    assert second.mimetype == "application/json"
    # Another query string is another list.
    other = client.get(f"/v1/articles/{ARTICLE}/related?k=3")
    assert other.headers["X-Cache"] == "miss" and len(ids(other)) == 3
    # The HTML fragment is cached separately, with its own content type.
    html = client.get(f"/v1/articles/{ARTICLE}/related.html")
    html_again = client.get(f"/v1/articles/{ARTICLE}/related.html")
    assert html_again.headers["X-Cache"] == "hit" and html_again.mimetype == "text/html"
    assert html_again.get_data() == html.get_data()


def test_a_takedown_is_never_answered_from_the_cache(client):
    before = ids(client.get(f"/v1/articles/{ARTICLE}/related"))
    assert client.get(f"/v1/articles/{ARTICLE}/related").headers["X-Cache"] == "hit"
    victim = before[0]
    put = client.put(f"/v1/takedowns/{victim}", json={"reason": "legal"}, headers=AUTH)
    assert put.status_code in (200, 201), put.get_data(as_text=True)
    after = client.get(f"/v1/articles/{ARTICLE}/related")
    assert after.headers["X-Cache"] == "miss"
    assert victim not in ids(after)
    # A pin, too, changes the list at once.
    pin = client.put(f"/v1/articles/{ARTICLE}/pins", json={"ids": [before[3]]}, headers=AUTH)
    assert pin.status_code == 200, pin.get_data(as_text=True)
    assert ids(client.get(f"/v1/articles/{ARTICLE}/related"))[0] == before[3]


def test_errors_are_not_cached_and_conditional_requests_still_work(client):
    missing = client.get("/v1/articles/no-such-article/related")
    again = client.get("/v1/articles/no-such-article/related")
    assert missing.status_code == again.status_code == 404
    assert "X-Cache" not in again.headers
    first = client.get(f"/v1/articles/{ARTICLE}/related")
    cond = client.get(f"/v1/articles/{ARTICLE}/related",
                      headers={"If-None-Match": first.headers["ETag"]})
    assert cond.status_code == 304 and cond.headers["X-Cache"] == "hit"


def test_cors_headers_follow_each_caller_not_the_cached_one(trained_model_dir, tmp_path):
    """Entries are kept per Origin: a hit carries the CORS headers of its own caller."""
    client = make_app(trained_model_dir, tmp_path,
                      CORS_ORIGINS="https://a.example,https://b.example").test_client()
    url = f"/v1/articles/{ARTICLE}/related"
    callers = {"a": {"Origin": "https://a.example"}, "b": {"Origin": "https://b.example"},
               "evil": {"Origin": "https://evil.example"}, "plain": {}}
    rounds = [{name: client.get(url, headers=h) for name, h in callers.items()}
              for _ in range(2)]
    assert {r.headers["X-Cache"] for r in rounds[0].values()} == {"miss"}
    assert {r.headers["X-Cache"] for r in rounds[1].values()} == {"hit"}
    for name in callers:  # a hit answers exactly what Flask answered that caller
        miss, hit = (dict(r.headers) for r in (rounds[0][name], rounds[1][name]))
        for headers in (miss, hit):
            del headers["X-Request-Id"], headers["X-Cache"]
        assert hit == miss, name
        assert rounds[1][name].get_data() == rounds[0]["a"].get_data()
    hits = rounds[1]
    assert hits["a"].headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert hits["b"].headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert "Access-Control-Allow-Origin" not in hits["evil"].headers


def test_a_hit_has_its_own_request_id_and_is_logged_and_counted(client, caplog):
    url = f"/v1/articles/{ARTICLE}/related?k=4"
    first = client.get(url)
    caplog.clear()
    with caplog.at_level("INFO", logger="alsosee.access"):
        echoed = client.get(url, headers={"X-Request-Id": "cms-42"})
        fresh = client.get(url, headers={"X-Request-Id": "bad id with spaces"})
    assert echoed.headers["X-Cache"] == fresh.headers["X-Cache"] == "hit"
    assert echoed.headers["X-Request-Id"] == "cms-42"
    assert fresh.headers["X-Request-Id"] not in ("bad id with spaces",
                                                 first.headers["X-Request-Id"])
    # Every other header is the first answer's.
    for response in (echoed, fresh):
        assert ({k: v for k, v in response.headers.items() if k != "X-Request-Id"}
                == {k: v for k, v in first.headers.items()
                    if k != "X-Request-Id"} | {"X-Cache": "hit"})
    lines = [r.fields for r in caplog.records if r.name == "alsosee.access"]
    assert [line["request_id"] for line in lines] == ["cms-42", fresh.headers["X-Request-Id"]]
    for line in lines:
        assert line["cache"] == "hit" and line["status"] == 200
        assert line["endpoint"] == "/v1/articles/<path:article_id>/related"
        assert line["path"] == f"/v1/articles/{ARTICLE}/related" and line["query"] == "k=4"
        assert line["bytes"] == len(first.get_data())
        assert line["model_version"] == first.headers["X-Model-Version"]
    metrics = client.get("/metrics").get_data(as_text=True)
    counted = [m for m in metrics.splitlines() if m.startswith("alsosee_http_requests_total{")
               and 'endpoint="/v1/articles/<path:article_id>/related"' in m and '"200"' in m]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 3, counted


def test_non_get_requests_and_requests_with_a_body_skip_the_cache(client):
    url = f"/v1/articles/{ARTICLE}/related"
    client.get(url)
    assert client.get(url).headers["X-Cache"] == "hit"
    head = client.head(url)
    assert head.status_code == 200 and head.headers["X-Cache"] == "miss"
    with_body = client.get(url, data=b"x" * 10)
    assert with_body.headers.get("X-Cache") != "hit"


def test_size_zero_turns_it_off(trained_model_dir, tmp_path):
    client = make_app(trained_model_dir, tmp_path, RESPONSE_CACHE_SIZE=0).test_client()
    for _ in range(2):
        assert client.get(f"/v1/articles/{ARTICLE}/related").headers["X-Cache"] == "miss"


def test_entries_expire_after_the_ttl(trained_model_dir, tmp_path):
    import time

    client = make_app(trained_model_dir, tmp_path, RESPONSE_CACHE_TTL=0.3).test_client()
    client.get(f"/v1/articles/{ARTICLE}/related")
    assert client.get(f"/v1/articles/{ARTICLE}/related").headers["X-Cache"] == "hit"
    time.sleep(0.4)
    assert client.get(f"/v1/articles/{ARTICLE}/related").headers["X-Cache"] == "miss"


@pytest.mark.parametrize("name,value", [("RESPONSE_CACHE_SIZE", "-1"),
                                        ("RESPONSE_CACHE_TTL", "0"),
                                        ("RESPONSE_CACHE_SIZE", "lots")])
def test_bad_settings_fail_at_start_naming_the_variable(trained_model_dir, tmp_path,
                                                        monkeypatch, name, value):
    for env in ENV:
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setenv(f"ALSOSEE_{name}", value)
    with pytest.raises((ValueError, RuntimeError), match=f"ALSOSEE_{name}"):
        create_app({"TESTING": True, "MODEL_DIR": str(trained_model_dir),
                    "STATE_DB": str(tmp_path / "s.db")})


def test_a_weak_tag_revalidates_like_the_strong_one(trained_model_dir, tmp_path):
    """A proxy that gzips the list (nginx) hands clients W/"tag": If-None-Match compares
    weakly (RFC 9110), from the response cache and without it."""
    for size in (4096, 0):
        client = make_app(trained_model_dir, tmp_path, RESPONSE_CACHE_SIZE=size).test_client()
        tag = client.get(f"/v1/articles/{ARTICLE}/related").headers["ETag"]
        assert not tag.startswith("W/")
        weak = client.get(f"/v1/articles/{ARTICLE}/related", headers={"If-None-Match": "W/" + tag})
        assert weak.status_code == 304, size
        other = client.get(f"/v1/articles/{ARTICLE}/related", headers={"If-None-Match": 'W/"x"'})
        assert other.status_code == 200
