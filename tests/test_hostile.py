"""Hostile input, as an attacker or a buggy CMS plugin would send it: huge and deeply nested
bodies, invalid UTF-8, odd ids, unicode round trips, and HTML/JS in every text field of every
HTML output (fragment, oEmbed). Flask test client on the sample model with a private state
database; the path cases that depend on the real HTTP server run against gunicorn too."""

from __future__ import annotations

import html.parser
import json
import re
import shutil
import socket

import pytest
from livesrv import live_server

from service import create_app

KEY = "hostile-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROBLEM = "application/problem+json"
ARTICLE = "gv-316447"
ENV = ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES", "ALSOSEE_STATE_DB",
       "ALSOSEE_API_KEYS", "ALSOSEE_RATE_LIMIT", "ALSOSEE_CORS_ORIGINS", "ALSOSEE_CACHE_MAX_AGE")
UNICODE_TITLE = "日本語のニュース — עברית ומספרים 123 — العربية — 🎉👩🏽‍💻 — ZWJ\u200d and é/é"
HOSTILE_TEXT = "<img src=x onerror=alert(1)><script>alert(2)</script>\"'&amp;"


@pytest.fixture(scope="module")
def app(trained_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    models = tmp / "models"
    shutil.copytree(trained_model_dir, models, symlinks=True)
    with pytest.MonkeyPatch.context() as mp:
        for name in ENV:
            mp.delenv(name, raising=False)
        return create_app({"TESTING": True, "MODEL_DIR": str(models),
                           "STATE_DB": str(tmp / "state.db"), "API_KEYS": KEY,
                           "RATE_LIMIT": "off", "MAX_CONTENT_LENGTH": 64 * 1024,
                           "MAX_BATCH_BYTES": 128 * 1024})


def problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body = json.loads(response.get_data())
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# ------------------------------------------------------------------ bodies
@pytest.mark.parametrize("method, path, auth", [
    ("POST", "/v1/related", False),
    ("PUT", "/v1/articles/huge", True),
    ("POST", "/v1/articles:batch", True),
])
def test_huge_bodies_are_413(client, method, path, auth):
    body = json.dumps({"title": "x", "body": "y" * (512 * 1024)})
    response = client.open(path, method=method, data=body, content_type="application/json",
                            headers=AUTH if auth else {})
    problem(response, 413)


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/related"), ("PUT", "/v1/articles/nested"), ("POST", "/v1/articles:batch")])
def test_deeply_nested_json_is_400(client, method, path):
    depth = 20_000  # past Python's recursion limit, within the 64 KiB body limit
    body = '{"title": ' + "[" * depth + "]" * depth + "}"
    problem(client.open(path, method=method, data=body, content_type="application/json",
                        headers=AUTH), 400)


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/related"), ("PUT", "/v1/articles/utf8"), ("POST", "/v1/articles:batch")])
def test_invalid_utf8_body_is_400(client, method, path):
    body = b'{"title": "caf\xe9 \xff\xfe", "articles": []}'
    problem(client.open(path, method=method, data=body, content_type="application/json",
                        headers=AUTH), 400)


def test_lone_surrogates_and_nul_in_json_are_handled(client):
    response = client.post("/v1/related", data='{"title": "a\\ud800b \\u0000 floods"}',
                           content_type="application/json")
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        problem(response, 400)


# ------------------------------------------------------------------ ids
@pytest.mark.parametrize("article_id", [
    "a/b", "a//b", "..", "../..", "a/../b", "x%00y", "\x00", "%2e%2e", "a?b=c", "a#b",
    "<script>", "' OR 1=1 --", "😀", "日本",
])
def test_odd_ids_are_404_problems(client, article_id):
    from urllib.parse import quote

    for path in (f"/v1/articles/{quote(article_id, safe='')}/related",
                 f"/v1/articles/{quote(article_id, safe='/')}/related.html"):
        body = problem(client.get(path), 404)
        assert "Traceback" not in body["detail"]


def test_very_long_ids_are_400_naming_the_field(client):
    problem(client.get("/v1/articles/" + "a" * 513 + "/related"), 400, "article_id")
    problem(client.get("/v1/articles/" + "é" * 600 + "/related.html"), 400, "article_id")
    problem(client.put("/v1/articles/" + "b" * 513, json={"title": "t"}, headers=AUTH), 400,
            "article_id")
    # 512 characters is allowed: unknown, so 404.
    problem(client.get("/v1/articles/" + "a" * 512 + "/related"), 404)


def test_ids_with_slashes_and_dots_round_trip_when_published(client):
    for article_id in ("2026/05/flood", "a//b", "..x", "ünï/cødé"):
        from urllib.parse import quote

        put = client.put(f"/v1/articles/{quote(article_id, safe='')}", headers=AUTH,
                         json={"title": "Colombia journalist kidnapped",
                               "body": "FARC rebels kidnapped a journalist in Colombia."})
        assert put.status_code == 200, put.get_data(as_text=True)
        assert put.get_json()["ids"] == [article_id]
        got = client.get(f"/v1/articles/{quote(article_id, safe='/')}/related")
        assert got.status_code == 200 and got.get_json()["article"]["id"] == article_id


# ------------------------------------------------------------------ unicode
def test_unicode_titles_round_trip_intact(client):
    put = client.put("/v1/articles/unicode-1", headers=AUTH, json={
        "title": UNICODE_TITLE, "url": "https://news.example/日本/unicode-1",
        "section": "Мир", "body": "Colombia journalist kidnapped by FARC rebels."})
    assert put.status_code == 200, put.get_data(as_text=True)
    body = client.get("/v1/articles/unicode-1/related").get_json()
    assert body["article"]["title"] == UNICODE_TITLE
    assert body["article"]["section"] == "Мир"
    assert body["article"]["url"] == "https://news.example/日本/unicode-1"
    # As a related item of another article, and in the HTML outputs.
    # (title and body are separate feature blocks: a draft's body matches article bodies)
    draft = client.post("/v1/related", json={
        "title": "journalist kidnapped", "body": "Colombia journalist kidnapped by FARC rebels",
        "k": 100})
    titles = {item["title"] for item in draft.get_json()["related"]}
    assert UNICODE_TITLE in titles
    fragment = client.get(f"/v1/articles/{ARTICLE}/related.html?k=100").get_data(as_text=True)
    assert UNICODE_TITLE in fragment
    oembed = client.get("/oembed", query_string={"url": "https://news.example/日本/unicode-1"})
    assert oembed.status_code == 200 and oembed.get_json()["title"] == UNICODE_TITLE
    draft_unicode = client.post("/v1/related", json={"title": UNICODE_TITLE})
    assert draft_unicode.get_json()["article"]["title"] == UNICODE_TITLE


# ------------------------------------------------------------------ HTML/JS everywhere
ALLOWED_TAGS = {"aside", "h2", "ul", "li", "a", "span", "time"}
ALLOWED_ATTRS = {"class", "href", "id", "aria-labelledby", "datetime"}


class _Audit(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def audit_fragment(fragment: str) -> _Audit:
    """Parse an alsosee fragment and check that it holds only its own markup."""
    parser = _Audit()
    parser.feed(fragment)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, fragment[:300])
        assert set(attrs) <= ALLOWED_ATTRS, (tag, attrs)
        if "href" in attrs:
            assert attrs["href"].startswith(("https://", "http://", "/")), attrs
            assert not attrs["href"].startswith("//")
    return parser


def test_html_and_js_in_every_text_field_is_escaped_in_every_html_output(client):
    hostile = {
        # Entities survive the title cleaning as literal "<img ...>" / "<script>" text.
        "title": "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt; "
                 "\"quoted\" 'single' &amp; journalist kidnapped FARC",
        "body": "<script>alert(3)</script><p onclick=alert(4)>Journalist kidnapped by FARC "
                "rebels in Colombia.</p>",
        "url": "https://news.example/x?a=\"><script>alert(5)</script>&b='c'",
        "section": "<b onmouseover=alert(6)>World</b>",
        "tags": ["<svg onload=alert(7)>", "Colombia"],
        "published_at": "2012-05-30T10:00:00Z",
    }
    # Distinct texts: near-duplicates would be collapsed into one link by the ranking.
    js_url = {"title": "javascript url journalist kidnapped FARC",
              "body": "Journalist kidnapped: FARC rebels hold a French reporter in the jungle.",
              "url": "javascript:alert(8)//https://news.example"}
    data_url = {"title": "data url journalist kidnapped FARC",
                "body": "Colombia: a kidnapped journalist, the army and the guerrilla talks.",
                "url": "data:text/html,<script>alert(9)</script>"}
    proto_rel = {"title": "protocol relative journalist kidnapped FARC",
                 "body": "Press freedom groups ask FARC to free the kidnapped journalist.",
                 "url": "//evil.example/x"}
    from urllib.parse import quote

    put = client.put(f"/v1/articles/{quote('evil/<i>id</i>', safe='')}", headers=AUTH,
                     json=hostile)
    assert put.status_code == 200, put.get_data(as_text=True)
    # Links that would run code or leave the site are refused when published.
    for article_id, record in (("js-url", js_url), ("data-url", data_url),
                               ("proto-rel", proto_rel)):
        put = client.put(f"/v1/articles/{article_id}", headers=AUTH, json=record)
        assert put.status_code == 400, put.get_data(as_text=True)
        assert put.get_json()["field"] == "url"

    stored = client.get(f"/v1/articles/{ARTICLE}/related?k=100").get_json()["related"]
    by_id = {item["id"]: item for item in stored}
    assert "evil/<i>id</i>" in by_id and not {"js-url", "data-url", "proto-rel"} & set(by_id)
    evil_title = by_id["evil/<i>id</i>"]["title"]
    assert evil_title.startswith("<img src=x onerror=alert(1)><script>alert(2)</script>")

    outputs = {
        "fragment": client.get(f"/v1/articles/{ARTICLE}/related.html?k=100")
        .get_data(as_text=True),
        "oembed": client.get("/oembed", query_string={
            "url": "http://globalvoicesonline.org/2012/05/01/"
                   "colombia-french-journalist-romeo-langlois-kidnapped/",
            "k": 100}).get_json()["html"],
        "fragment-of-hostile": client.get("/v1/articles/evil%2F%3Ci%3Eid%3C%2Fi%3E/related.html")
        .get_data(as_text=True),
    }
    for name, fragment in outputs.items():
        assert fragment, name
        parser = audit_fragment(fragment)
        assert "<script" not in fragment and "<img" not in fragment and "<svg" not in fragment
        text = "".join(parser.text)
        if name != "fragment-of-hostile":
            assert evil_title in text, name  # shown as text, exactly
            hrefs = [attrs.get("href") for tag, attrs in parser.tags if tag == "a"]
            assert hostile["url"] in hrefs  # attribute-escaped, intact once parsed


# ------------------------------------------------------------------ the real server
def _raw_request(base: str, request: bytes) -> tuple[int, bytes, bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head, body


def _raw_get(base: str, path: bytes) -> tuple[int, bytes, bytes]:
    return _raw_request(
        base, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


@pytest.mark.server
def test_real_server_raw_paths(trained_model_dir, tmp_path):
    with live_server(trained_model_dir, tmp_path / "server.log",
                     env={"ALSOSEE_STATE_DB": str(tmp_path / "state.db")}) as live:
        cases = {
            b"/v1/articles/%FF%FE/related": 404,          # invalid UTF-8 (percent-encoded)
            b"/v1/articles/a%00b/related": 404,           # NUL
            b"/v1/articles/../../etc/passwd/related": 404,
            b"/v1/articles/%2E%2E/related.html": 404,
            b"/v1/articles/" + b"%F0%9F%98%80" * 512 + b"/related": 404,  # 512 emoji: valid
            b"/v1/articles/" + b"a" * 513 + b"/related": 400,
            b"/oembed?url=%FF": 400,
            b"/v1/articles/gv-316447/related?k=%FF": 400,
        }
        for path, status in cases.items():
            got, head, body = _raw_get(live.base, path)
            assert got == status, (path[:60], got, body[:200])
            assert b"application/problem+json" in head, path[:60]
            assert json.loads(body)["status"] == status
        # Requests gunicorn's parser refuses before the app runs (RFC 9112): its own status,
        # as a problem body (service/gunicorn_worker.py), not gunicorn's HTML page.
        end = b"Host: x\r\nConnection: close\r\n\r\n"
        refused = {
            "raw non-ASCII bytes in the path":
                (b"GET /v1/articles/\xff\xfe/related HTTP/1.1\r\n" + end, 400),
            "invalid HTTP version": (b"GET /healthz HTTP/9.x\r\n" + end, 400),
            "invalid method": (b"G\xc3\x89T /healthz HTTP/1.1\r\n" + end, 400),
            "request line too long":
                (b"GET /v1/articles/" + b"a" * 9000 + b"/related HTTP/1.1\r\n" + end, 414),
            "header line too long":
                (b"GET /healthz HTTP/1.1\r\nX-Long: " + b"b" * 9000 + b"\r\n" + end, 431),
            "too many headers": (b"GET /healthz HTTP/1.1\r\n"
                                 + b"".join(b"X-%d: y\r\n" % i for i in range(120)) + end, 431),
            "header name with a space": (b"GET /healthz HTTP/1.1\r\nBad Name: z\r\n" + end, 400),
        }
        for name, (request, status) in refused.items():
            got, head, body = _raw_request(live.base, request)
            assert got == status, (name, got, body[:200])
            assert b"\r\ncontent-type: application/problem+json" in head.lower(), (name, head)
            problem_body = json.loads(body)
            assert problem_body["status"] == status and problem_body["type"] == "about:blank"
            assert problem_body["title"] and problem_body["detail"], (name, problem_body)
        log = live.log()
    assert "Traceback" not in log


def test_conditional_get_never_hides_an_error(client):
    """A 304 only for an answer that would have been a 200 (schemathesis found 304s for
    unknown and over-long ids with ``If-None-Match: *``)."""
    ok = client.get(f"/v1/articles/{ARTICLE}/related")
    etag = ok.headers["ETag"]
    assert client.get(f"/v1/articles/{ARTICLE}/related",
                      headers={"If-None-Match": etag}).status_code == 304
    for headers in ({"If-None-Match": "*"}, {"If-None-Match": etag}):
        problem(client.get("/v1/articles/no-such-article/related", headers=headers), 404)
        problem(client.get("/v1/articles/" + "a" * 513 + "/related.html", headers=headers),
                400, "article_id")
        problem(client.get(f"/v1/articles/{ARTICLE}/related?k=0", headers=headers), 400, "k")


def test_gunicorn_error_page_becomes_a_problem_body():
    """The translation used by both worker classes (sync and gthread), on the page gunicorn
    itself writes; anything else is passed through unchanged (None)."""
    from gunicorn import util

    from service.gunicorn_worker import (
        ProblemSyncWorker,
        ProblemThreadWorker,
        _CapturedSocket,
        problem_response,
    )

    page = _CapturedSocket()
    util.write_error(page, 400, "Bad Request", "Invalid Request Line '<é&>'")
    answer = problem_response(bytes(page.data))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Content-Type: application/problem+json" in head
    assert int(re.search(rb"Content-Length: (\d+)", head)[1]) == len(body)
    problem_body = json.loads(body)
    assert problem_body["status"] == 400 and problem_body["title"] == "Bad Request"
    assert problem_body["detail"].endswith("Invalid Request Line '<é&>'")  # unescaped, intact
    assert problem_response(b"HTTP/1.1 200 OK\r\n\r\n{}") is None
    for worker in (ProblemSyncWorker, ProblemThreadWorker):
        assert "handle_error" in vars(worker.__mro__[1])


def test_gunicorn_access_fields_not_built_while_its_access_log_is_off():
    """Our log configuration turns gunicorn's access log off (alsosee logs each request
    itself): gunicorn must then skip building the line's fields; an operator's own access
    log still gets them."""
    from gunicorn.config import Config

    from service.gunicorn_worker import QuietAccessLogger
    from service.server import logconfig

    ours = Config()
    ours.set("logconfig_dict", logconfig("info"))
    quiet = QuietAccessLogger(ours)
    assert quiet.access_log_enabled is False
    quiet.access(None, None, None, None)  # returns before reading the (absent) request

    theirs = Config()
    theirs.set("accesslog", "-")
    assert QuietAccessLogger(theirs).access_log_enabled is True
