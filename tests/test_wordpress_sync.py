"""``alsosee sync --wordpress``: incremental sync against a local WordPress REST replay built
from the real WXR export in data/, publishing into the live state that the real server reads.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner
from livesrv import ROOT, free_port, live_server
from wpreplay import WordPressReplay, now_gmt, posts_from_wxr

from recommender.cli import cli
from recommender.state.db import StateDB
from recommender.state.live import LiveStore
from recommender.sync.wordpress import (
    CURSOR_OVERLAP,
    WordPressError,
    WordPressSite,
    post_to_article,
    sync,
)

WXR = ROOT / "data" / "globalvoices-2012-05.wxr.xml"


@pytest.fixture(scope="module")
def wxr_posts():
    posts, categories = posts_from_wxr(WXR)
    assert len(posts) == 378 and len(categories) > 10
    return posts, categories


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recommender", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _new_post(template: dict, post_id: int, title: str, body: str) -> dict:
    post = copy.deepcopy(template)
    stamp = now_gmt()
    post.update({"id": post_id, "date": stamp, "date_gmt": stamp, "modified": stamp,
                 "modified_gmt": stamp, "slug": f"new-{post_id}",
                 "link": f"https://globalvoices.example/2026/new-{post_id}/",
                 "title": {"rendered": title}, "content": {"rendered": f"<p>{body}</p>"}})
    return post


def test_post_to_article_shape(wxr_posts):
    posts, categories = wxr_posts
    terms = {c["id"]: c["name"] for c in categories}
    record = post_to_article(posts[0], terms)
    assert record["id"] == f"wp-{posts[0]['id']}"
    assert record["url"] == posts[0]["link"]
    assert record["published_at"] == posts[0]["date_gmt"] + "Z"
    assert record["section"] == terms[posts[0]["categories"][0]]
    assert "Media & Journalism" in record["tags"]  # entity-decoded category name
    assert record["body"].startswith("<p>")  # HTML: converted by the live-article rules


def test_sync_replay_end_to_end(wxr_posts, trained_model_dir, tmp_path):
    posts, categories = wxr_posts
    state = tmp_path / "state.db"
    with WordPressReplay(posts, categories) as wp:
        # 1. First run (CLI, as cron would call it): every published post is created.
        first = run_cli("sync", "--wordpress", wp.base + "/", "--state-db", str(state),
                        "--per-page", "50", "--format", "json")
        assert first.returncode == 0, first.stderr
        one = json.loads(first.stdout)
        assert (one["created"], one["updated"], one["removed"]) == (378, 0, 0)
        assert one["cursor_before"] is None
        assert one["cursor_after"] == max(p["modified_gmt"] for p in posts) + "Z"
        post_queries = [q for path, q in wp.requests if path.endswith("/posts")]
        assert all(q["orderby"] == ["modified"] for q in post_queries if "_fields" not in q)
        assert len([q for q in post_queries if "_fields" not in q]) == 8  # 378 / 50 pages

        # 2. The site changes: 5 posts edited, 2 new ones, 3 trashed.
        by_date = sorted(posts, key=lambda p: p["modified_gmt"])
        edited = [p["id"] for p in by_date[:5]]
        trashed = [p["id"] for p in by_date[5:8]]
        for post_id in edited:
            wp.edit(post_id, title=f"Updated: {wp.posts[post_id]['title']['rendered']}")
        for post_id in trashed:
            wp.edit(post_id, status="trash")
        wp.add(_new_post(posts[0], 990001, "Colombia: journalist Rom&eacute;o Langlois freed",
                         "The FARC released the French journalist Roméo Langlois in Colombia."))
        wp.add(_new_post(posts[1], 990002, "Egypt: run-off between Morsi and Shafiq",
                         "Egyptians will choose between Morsi and Shafiq in the run-off."))
        wp.requests.clear()

        db = StateDB(state).init()
        two = sync(WordPressSite(wp.base, per_page=50), db)
        overlap = one["cursor_after"]
        window = [p for p in posts if p["id"] not in edited + trashed
                  and p["modified_gmt"] + "Z" > _minus(overlap)]
        assert (two.created, two.updated, two.removed) == (2, 5, 3), two.summary()
        assert two.unchanged == len(window)  # re-read in the overlap, not rewritten
        changed_queries = [q for path, q in wp.requests
                           if path.endswith("/posts") and "_fields" not in q]
        assert changed_queries and all("modified_after" in q for q in changed_queries)
        assert len(changed_queries) == 1  # everything changed fits on one page of 50

        # 3. Nothing changed: nothing written.
        three = sync(WordPressSite(wp.base, per_page=50), db)
        assert (three.created, three.updated, three.removed) == (0, 0, 0)
        assert three.cursor_after == three.cursor_before

    store = LiveStore(db)
    assert store.get("wp-990001").published
    for post_id in trashed:
        assert not store.get(f"wp-{post_id}").published

    # 4. The real server reads the same live state.
    with live_server(trained_model_dir, tmp_path / "server.log",
                     env={"ALSOSEE_STATE_DB": str(state)}) as live:
        new = requests.get(f"{live.base}/v1/articles/wp-990001/related", timeout=10)
        assert new.status_code == 200, new.text
        body = new.json()
        assert body["article"]["title"] == "Colombia: journalist Roméo Langlois freed"
        assert body["article"]["url"] == "https://globalvoices.example/2026/new-990001/"
        assert "gv-316447" in {r["id"] for r in body["related"]}  # the original story
        gone = requests.get(f"{live.base}/v1/articles/wp-{trashed[0]}/related", timeout=10)
        assert gone.status_code == 404
        changed = requests.get(f"{live.base}/v1/articles/wp-{edited[0]}/related", timeout=10)
        assert changed.json()["article"]["title"].startswith("Updated: ")
    # Figures for the closing note.
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "wordpress-sync.json").write_text(json.dumps(
        {"first": one, "second": two.to_dict(), "third": three.to_dict()}, indent=2))


def _minus(cursor: str) -> str:
    from recommender.sync.wordpress import _shift

    return _shift(cursor, CURSOR_OVERLAP) + "Z"


def test_sync_with_credentials_sees_drafts(wxr_posts, tmp_path):
    posts, categories = wxr_posts
    posts = copy.deepcopy(posts[:30])
    with WordPressReplay(posts, categories, credentials=("editor", "app pass")) as wp:
        db = StateDB(tmp_path / "state.db").init()
        site = WordPressSite(wp.base, auth=("editor", "app pass"))
        assert sync(site, db).created == 30
        wp.edit(posts[0]["id"], status="draft")
        result = sync(site, db, reconcile=False)
        assert (result.created, result.updated, result.removed) == (0, 0, 1)
        assert not LiveStore(db).get(f"wp-{posts[0]['id']}").published
        statuses = [q.get("status") for path, q in wp.requests if path.endswith("/posts")]
        assert all(s and "draft" in s[0] for s in statuses)


def test_invalid_posts_are_skipped_and_reported(wxr_posts, tmp_path):
    posts, categories = wxr_posts
    posts = copy.deepcopy(posts[:5])
    posts[2]["title"] = {"rendered": ""}
    posts[2]["content"] = {"rendered": ""}
    with WordPressReplay(posts, categories) as wp:
        result = sync(wp.base, StateDB(tmp_path / "state.db").init())
    assert result.created == 4
    assert [s["post_id"] for s in result.skipped] == [posts[2]["id"]]
    assert "title" in result.skipped[0]["error"] or "body" in result.skipped[0]["error"]


def test_errors_are_one_clear_line(tmp_path, wxr_posts):
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(WordPressError, match="cannot reach"):
        sync(dead, StateDB(tmp_path / "a.db").init())
    posts, categories = wxr_posts
    runner = CliRunner()
    with WordPressReplay(posts[:1], categories) as wp:
        # A site without the REST API at that path answers 404 JSON.
        result = runner.invoke(cli, ["sync", "--wordpress", wp.base + "/blog", "--state-db",
                                     str(tmp_path / "b.db")])
    assert result.exit_code == 1
    assert result.stderr.startswith("alsosee: error:") and "HTTP 404" in result.stderr
    assert result.exc_info is None or result.exc_info[0] is SystemExit
    bad = runner.invoke(cli, ["sync", "--wordpress", "not a url", "--state-db",
                              str(tmp_path / "c.db")])
    assert bad.exit_code == 1 and "expected the site's URL" in bad.stderr
    usage = runner.invoke(cli, ["sync", "--wordpress", wp.base, "--user", "x"])
    assert usage.exit_code == 2 and "--app-password" in usage.stderr
