"""service.client.AlsoSeeClient against the real gunicorn server (and, for retries, a real
local HTTP server that answers a scripted sequence of statuses)."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
import requests
from livesrv import free_port, live_server

from service.client import (
    AlsoSeeClient,
    AuthError,
    DraftResult,
    InvalidRequestError,
    NotFoundError,
    Recommendation,
    RelatedResult,
    ServerError,
    TransportError,
    quote_id,
)

pytestmark = pytest.mark.server

API_KEY = "client-test-key-0123456789"
ARTICLE = "gv-316447"


@pytest.fixture(scope="module")
def live(trained_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    env = {"ALSOSEE_API_KEYS": API_KEY, "ALSOSEE_STATE_DB": str(tmp / "state.db")}
    with live_server(trained_model_dir, tmp / "server.log", env=env) as server:
        yield server


@pytest.fixture
def client(live):
    with AlsoSeeClient(live.base, api_key=API_KEY, timeout=5, backoff=0.01) as c:
        yield c


# ------------------------------------------------------------------ reads
def test_related_is_typed_and_matches_the_api(client, live):
    result = client.related(ARTICLE, k=4)
    assert isinstance(result, RelatedResult)
    assert result.article.id == ARTICLE
    assert result.article.title.startswith("Colombia")
    assert 1 <= len(result.related) <= 4
    assert all(isinstance(r, Recommendation) for r in result.related)
    raw = requests.get(f"{live.base}/v1/articles/{ARTICLE}/related", params={"k": 4},
                       timeout=5).json()
    assert [r.id for r in result.related] == [r["id"] for r in raw["related"]]
    assert [r.score for r in result.related] == [r["score"] for r in raw["related"]]
    assert result.model.version == raw["model"]["version"]
    assert result.model.articles == 378


def test_ranking_options_in_the_servers_grammar(client):
    """Python values (True, dates, a section_half_life mapping, lists) reach the server in the
    query grammar it documents (requests alone would send 'True', which is a 400)."""
    import datetime as dt

    result = client.related(ARTICLE, k=3, explain=True, debug=False, half_life=None,
                            since=dt.date(2012, 5, 1), section=["Latin America", "East Asia"],
                            section_half_life={"Latin America": 30, "East Asia": None})
    assert result.related and all(r.section in {"Latin America", "East Asia"}
                                  for r in result.related)
    assert all("explanation" in r.extra for r in result.related)


def test_related_to_text(client):
    result = client.related_to_text("Journalist kidnapped in Colombia", "FARC rebels", k=3,
                                    tags=["Colombia"])
    assert isinstance(result, DraftResult)
    assert result.title == "Journalist kidnapped in Colombia"
    assert 1 <= len(result.related) <= 3
    assert ARTICLE in {r.id for r in result.related}
    scores = [r.score for r in result.related]
    assert scores == sorted(scores, reverse=True)


def test_related_html_and_oembed(client):
    html = client.related_html(ARTICLE, k=2)
    assert html.startswith('<aside class="alsosee"') and html.count("alsosee__item") == 2
    url = client.related(ARTICLE).article.url
    assert client.oembed(url, k=2)["html"] == html


def test_errors_carry_the_problem_body(client):
    with pytest.raises(NotFoundError) as missing:
        client.related("no-such-article")
    assert missing.value.status == 404
    assert missing.value.type == "urn:alsosee:problem:unknown-article"
    assert "no-such-article" in missing.value.detail
    assert missing.value.problem["instance"] == "/v1/articles/no-such-article/related"

    with pytest.raises(InvalidRequestError) as bad_k:
        client.related(ARTICLE, k=0)
    assert bad_k.value.status == 400 and bad_k.value.field == "k"
    assert "k" in str(bad_k.value)

    with pytest.raises(InvalidRequestError) as empty:
        client.related_to_text("", "")
    assert empty.value.status == 400


def test_ids_are_one_path_segment(client):
    assert quote_id("a/b") == "a%2Fb"
    assert quote_id("..") == "%2E%2E"
    assert quote_id("x?y#z%") == "x%3Fy%23z%25"
    for hostile in ("..", "a/../b", "x?y=1#z", "%00", "a\x00b"):
        with pytest.raises(NotFoundError) as exc:
            client.related(hostile)
        assert exc.value.problem["status"] == 404
    with pytest.raises(ValueError):
        quote_id("")


def test_ready_and_model(client):
    assert client.ready() is True
    assert client.model()["articles"] == 378


# ------------------------------------------------------------------ writes
def test_publish_and_unpublish(client, live):
    article = {"id": "wp-999001", "title": "Colombia: journalist Roméo Langlois freed by FARC",
               "body": "The FARC freed the French journalist Roméo Langlois in Colombia.",
               "url": "https://news.example/wp-999001", "published_at": "2012-05-30T10:00:00Z",
               "section": "Latin America", "tags": ["Colombia"]}
    written = client.publish(article)
    assert written.ids == ["wp-999001"] and written.status == "published"
    assert isinstance(written.state_version, int)
    result = client.related("wp-999001", k=5)
    assert result.article.title == article["title"]
    assert ARTICLE in {r.id for r in result.related}
    # oEmbed finds live articles by URL too.
    embedded = client.oembed("https://news.example/wp-999001", k=3)
    assert embedded["title"] == article["title"]
    assert embedded["html"] == client.related_html("wp-999001", k=3)
    gone = client.unpublish("wp-999001")
    assert gone.status == "unpublished"
    with pytest.raises(NotFoundError):
        client.related("wp-999001")
    with pytest.raises(NotFoundError):
        client.oembed("https://news.example/wp-999001")
    # A corpus article can be unpublished too: its URL no longer resolves.
    url = client.related(ARTICLE).article.url
    client.unpublish(ARTICLE)
    with pytest.raises(NotFoundError):
        client.oembed(url)
    client.publish({"id": ARTICLE, "title": result.article.title, "url": url,
                    "body": "French journalist Roméo Langlois kidnapped by the FARC."})
    assert client.oembed(url)["title"] == result.article.title


def test_writes_need_a_valid_key(live):
    with AlsoSeeClient(live.base, api_key="wrong", backoff=0.01) as wrong:
        with pytest.raises(AuthError) as exc:
            wrong.publish({"id": "x", "title": "t"})
        assert exc.value.status == 403
    with AlsoSeeClient(live.base) as anonymous:
        with pytest.raises(AuthError):
            anonymous.unpublish("x")


def test_takedown_and_pin(client, live):
    before = [r.id for r in client.related(ARTICLE, k=5).related]
    taken = client.takedown(before[0], reason="legal request")
    assert taken.article_id == before[0]
    after = [r.id for r in client.related(ARTICLE, k=5).related]
    assert before[0] not in after
    client.undo_takedown(before[0])
    assert client.related(ARTICLE, k=5).related[0].id == before[0]

    pinned = client.pin(ARTICLE, [before[-1]])
    assert pinned.ids == [before[-1]]
    assert client.related(ARTICLE, k=5).related[0].id == before[-1]
    client.unpin(ARTICLE)
    assert [r.id for r in client.related(ARTICLE, k=5).related] == before


# ------------------------------------------------------------------ retries
class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next (status, headers) of the server's script."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.hits += 1  # type: ignore[attr-defined]
            script = server.script  # type: ignore[attr-defined]
            status, headers = script.pop(0) if script else (200, {})
        if status == 200:
            body = json.dumps({"article": {"id": "a", "title": "A"}, "related": [],
                               "model": {"version": "v", "trained_at": None, "articles": 1}})
            ctype = "application/json"
        else:
            body = json.dumps({"type": "about:blank", "title": "Oops", "status": status,
                               "detail": f"scripted {status}"})
            ctype = "application/problem+json"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture
def scripted():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.lock = threading.Lock()
    server.hits = 0
    server.script = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _base(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_retries_502_503_504_then_succeeds(scripted):
    scripted.script = [(502, {}), (503, {"Retry-After": "0"}), (504, {})]
    with AlsoSeeClient(_base(scripted), retries=3, backoff=0.01) as c:
        assert c.related("a").article.id == "a"
    assert scripted.hits == 4


def test_gives_up_after_retries_with_the_problem(scripted):
    scripted.script = [(503, {})] * 10
    with AlsoSeeClient(_base(scripted), retries=2, backoff=0.01) as c:
        with pytest.raises(ServerError) as exc:
            c.related("a")
    assert scripted.hits == 3
    assert exc.value.status == 503 and exc.value.detail == "scripted 503"


@pytest.mark.parametrize("status", [500, 400, 404, 429])
def test_other_errors_are_not_retried(scripted, status):
    scripted.script = [(status, {})] * 5
    with AlsoSeeClient(_base(scripted), retries=3, backoff=0.01) as c:
        with pytest.raises((ServerError, InvalidRequestError, NotFoundError)) as exc:
            c.related("a")
    assert scripted.hits == 1
    assert exc.value.status == status


def test_retry_after_is_capped(scripted):
    scripted.script = [(503, {"Retry-After": "3600"})]
    with AlsoSeeClient(_base(scripted), retries=1, backoff=0.01, max_backoff=0.2) as c:
        start = time.monotonic()
        c.related("a")
    assert 0.15 <= time.monotonic() - start < 2
    assert scripted.hits == 2


def test_connection_errors_are_retried_with_backoff():
    dead = f"http://127.0.0.1:{free_port()}"
    with AlsoSeeClient(dead, retries=3, backoff=0.05, timeout=1) as c:
        start = time.monotonic()
        with pytest.raises(TransportError, match="4 attempt"):
            c.related("a")
        elapsed = time.monotonic() - start
    # 0.05 + 0.1 + 0.2 (each +-25%) of backoff between the 4 attempts.
    assert 0.25 <= elapsed < 3


def test_bad_arguments():
    with pytest.raises(ValueError):
        AlsoSeeClient("ftp://x")
    with AlsoSeeClient("http://127.0.0.1:1") as c:
        with pytest.raises(AuthError, match="api_key"):
            c.unpublish("x")
        with pytest.raises(ValueError):
            c.publish({"title": "no id"})
