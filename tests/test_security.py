"""Attack-shaped regression tests against the real server (gunicorn, several workers, real
files, a real SQLite state database): unpublished stories, keys, model versions, takedowns
by URL, off-site links, what anonymous clients may read."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests

from recommender.training.job import train
from tests.conftest import SAMPLE
from tests.livesrv import live_server

# slow: real servers (and browsers), left out of the quick subset
pytestmark = [pytest.mark.server, pytest.mark.slow]

KEY = "security-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
ARTICLE = "gv-316447"
#: In the sample, the best related story of ARTICLE (README example).
NEIGHBOUR = "gv-321626"


@pytest.fixture
def models(trained_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the trained sample (tests retrain and break it)."""
    root = tmp_path / "models"
    shutil.copytree(trained_model_dir, root, ignore=shutil.ignore_patterns("state.db*"))
    return root


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ALSOSEE_API_KEYS": f"desk:{KEY}", "ALSOSEE_STATE_DB": str(tmp_path / "state.db"),
            "ALSOSEE_RATE_LIMIT": "off", **extra}


def _ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["related"]]


def _assert_problem(response: requests.Response, statuses: tuple[int, ...]) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == response.status_code


# ------------------------------------------------------------ unpublished stories
def _preview_requests(base: str, headers: dict[str, str]) -> dict[str, requests.Response]:
    """Every path that takes ranking options, asking for previews (status=any)."""
    related = f"{base}/v1/articles/{ARTICLE}/related"
    draft = {"title": "Colombia bomb blast Bogota", "body": "Bomb blast in Bogota, Colombia.",
             "k": 20}
    return {
        "GET related": requests.get(related, params={"status": "any", "k": 20},
                                    headers=headers, timeout=10),
        "GET related.html": requests.get(f"{related}.html", params={"status": "any", "k": 20},
                                         headers=headers, timeout=10),
        "POST related (options)": requests.post(
            f"{base}/v1/related", json={**draft, "options": {"status": "any"}},
            headers=headers, timeout=10),
        "POST related (top level)": requests.post(
            f"{base}/v1/related", json={**draft, "status": "any"}, headers=headers, timeout=10),
    }


def _unpublished_leaks(base: str, headers: dict[str, str], victims: dict[str, str]
                       ) -> list[str]:
    """Answers that show a victim (its id in JSON, its URL in the HTML fragment)."""
    leaks = []
    for path, response in _preview_requests(base, headers).items():
        if response.status_code == 200:
            text = response.text
            leaks += [f"{path}: {vid}" for vid, url in victims.items()
                      if f'"{vid}"' in text or f'"{url}"' in text]
        else:
            _assert_problem(response, (401, 403))
    return leaks


def test_previews_of_unpublished_stories_need_a_key(models: Path, tmp_path: Path) -> None:
    live_story = {"title": "Colombia: bomb blast in Bogota injures 19",
                  "body": "A bomb blast in Bogota, Colombia, killed five and injured 19. "
                          "Colombia bomb Bogota blast journalist kidnapped.",
                  "url": "https://example.org/live-colombia",
                  "published_at": "2012-05-16T10:00:00Z", "section": "Latin America"}
    with live_server(models, tmp_path / "server.log", env=_env(tmp_path), workers=2) as live:
        base = live.base
        put = requests.put(f"{base}/v1/articles/live-colombia", json=live_story, headers=AUTH,
                           timeout=10)
        assert put.status_code in (200, 201), put.text
        plain = requests.get(f"{base}/v1/articles/{ARTICLE}/related", params={"k": 20},
                             timeout=10).json()["related"]
        victims = {"live-colombia": live_story["url"],
                   NEIGHBOUR: next(i["url"] for i in plain if i["id"] == NEIGHBOUR)}
        assert NEIGHBOUR in _ids(requests.get(f"{base}/v1/articles/{ARTICLE}/related",
                                              params={"k": 20}, timeout=10))
        for victim in victims:  # DELETE of a corpus article and of a live one
            gone = requests.delete(f"{base}/v1/articles/{victim}", headers=AUTH, timeout=10)
            assert gone.status_code in (200, 204), gone.text
        # Keyed previews do show them (so the anonymous check below can fail).
        keyed = _preview_requests(base, AUTH)
        assert NEIGHBOUR in _ids(keyed["GET related"])
        assert "private" in keyed["GET related"].headers["Cache-Control"]
        assert f'"{victims[NEIGHBOUR]}"' in keyed["GET related.html"].text
        # Anonymous, twice (the second time after the keyed answer could have been cached),
        # and with a wrong key.
        for headers in ({}, {}, {"Authorization": "Bearer not-the-key-not-the-key"}):
            assert _unpublished_leaks(base, headers, victims) == []
        # debug=true lists dropped candidates (taken-down ids among them): needs a key too.
        _assert_problem(requests.get(f"{base}/v1/articles/{ARTICLE}/related",
                                     params={"debug": "true"}, timeout=10), (401,))
        assert "debug" in requests.get(f"{base}/v1/articles/{ARTICLE}/related",
                                       params={"debug": "true"}, headers=AUTH,
                                       timeout=10).json()

        # After a retrain on an export that still holds the unpublished corpus story.
        train(corpus=SAMPLE, out=models)
        reload = requests.post(f"{base}/v1/admin/reload", headers=AUTH, timeout=60)
        assert reload.status_code == 200, reload.text
        assert NEIGHBOUR not in _ids(requests.get(f"{base}/v1/articles/{ARTICLE}/related",
                                                  params={"k": 20}, timeout=10))
        for headers in ({}, {"Authorization": "Bearer "}):
            assert _unpublished_leaks(base, headers, victims) == []


# ------------------------------------------------------- verified model, swapped files
_SWAPPER = r"""
import os, sys, time
target, good, evil, stop = sys.argv[1:5]
tmp = target + ".swap"
deadline = time.monotonic() + 300
n = 0
while not os.path.exists(stop) and time.monotonic() < deadline:
    for source in (evil, good):
        os.link(source, tmp)
        os.replace(tmp, target)
        n += 1
        time.sleep(0.0005)
os.link(good, tmp)
os.replace(tmp, target)
print(n)
"""


class _Foreign:
    """Unpickling this creates the marker file (a stand-in for an attacker's code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "a"))


def test_a_swapped_model_file_is_never_unpickled_or_mapped(trained_model_dir: Path,
                                                           tmp_path: Path) -> None:
    import pickle
    import subprocess
    import sys

    from recommender.errors import ArtifactError
    from recommender.model import artifact

    version = tmp_path / "version"
    shutil.copytree(artifact.resolve(trained_model_dir), version)
    marker = tmp_path / "foreign-code-ran"
    stop = tmp_path / "stop"
    swaps = []
    # The pickle, and a memory-mapped table (the article ids) with other, valid contents.
    ids_file = next(version.glob("ids.*utf8.npy"))
    originals = {version / artifact.MODEL_FILE: pickle.dumps(_Foreign(marker)),
                 ids_file: ids_file.read_bytes().replace(b"gv-", b"xx-")}
    for path, foreign in originals.items():
        good, evil = tmp_path / f"{path.name}.good", tmp_path / f"{path.name}.evil"
        shutil.copy2(path, good)
        evil.write_bytes(foreign)
        swaps.append(subprocess.Popen(
            [sys.executable, "-c", _SWAPPER, str(path), str(good), str(evil), str(stop)],
            stdout=subprocess.PIPE, text=True))
    loaded = refused = foreign_tables = pickles_ran = 0
    try:
        time.sleep(0.2)
        for _ in range(200):
            try:
                model = artifact.load(version).model
            except ArtifactError:
                refused += 1
            else:
                loaded += 1
                foreign_tables += not all(i.startswith("gv-") for i in model.ids_[:5])
            if marker.exists():
                pickles_ran += 1
                marker.unlink()
    finally:
        stop.touch()
        counts = [int(p.communicate(timeout=30)[0] or 0) for p in swaps]
    print(f"200 loads under swapping: {loaded} loaded, {refused} refused, "
          f"{pickles_ran} foreign pickles ran, {foreign_tables} foreign tables mapped")
    assert (pickles_ran, foreign_tables) == (0, 0)
    assert min(counts) > 200, counts  # the files really were swapped during the loads
    assert loaded and refused, (loaded, refused)  # both outcomes happened


# ----------------------------------------------------------------------- API keys
@pytest.mark.parametrize("keys", ["desk:", ":", "desk:short-secret", "tooshort",
                                  f"desk:{KEY},other:"])
def test_empty_or_short_secrets_stop_the_server(models: Path, tmp_path: Path,
                                                keys: str) -> None:
    from service.launch import ServerProcess
    from tests.livesrv import ROOT, checkout_env

    server = ServerProcess(models, workers=2, cwd=ROOT, env=checkout_env(
        {"ALSOSEE_API_KEYS": keys, "ALSOSEE_STATE_DB": str(tmp_path / "state.db")}))
    try:
        assert server.start().proc is not None
        assert server.proc.wait(timeout=60) != 0
        lines = server.log().strip().splitlines()
    finally:
        server.stop()
    assert len(lines) == 1, lines
    assert "ALSOSEE_API_KEYS" in lines[0] and "at least 16 characters" in lines[0]
    for entry in keys.split(","):  # no secret is echoed
        secret = entry.partition(":")[2] if ":" in entry else entry
        assert len(secret) < 4 or secret not in lines[0]


def test_no_key_is_said_once_at_start_up(models: Path, tmp_path: Path) -> None:
    env = {"ALSOSEE_STATE_DB": str(tmp_path / "state.db")}
    with live_server(models, tmp_path / "server.log", env=env, workers=2) as live:
        refused = requests.put(f"{live.base}/v1/articles/x", json={"title": "t"},
                               headers={"Authorization": "Bearer desk:"}, timeout=10)
        _assert_problem(refused, (403,))
        # What the log line says of the editorial lists is what the server does.
        _assert_problem(requests.get(f"{live.base}/v1/takedowns", timeout=10), (401,))
        log = live.log()
    assert log.count("no API key configured") == 1, log
    assert "the editorial lists are refused" in log, log
    env["ALSOSEE_READ_REQUIRES_KEY"] = "false"
    with live_server(models, tmp_path / "open.log", env=env) as live:
        assert requests.get(f"{live.base}/v1/takedowns", timeout=10).json() == {"takedowns": []}
        log = live.log()
    assert "the editorial lists stay open" in log and "lists are refused" not in log, log


def test_takedown_list_needs_a_key_by_default(models: Path, tmp_path: Path) -> None:
    with live_server(models, tmp_path / "server.log", env=_env(tmp_path)) as live:
        put = requests.put(f"{live.base}/v1/takedowns/{NEIGHBOUR}", headers=AUTH, timeout=10,
                           json={"reason": "court order 7/2012, asked by J. Doe"})
        assert put.status_code == 200, put.text
        for path in ("/v1/takedowns", "/v1/pins", "/v1/blocks",
                     f"/v1/articles/{ARTICLE}/pins", f"/v1/articles/{ARTICLE}/blocks"):
            anonymous = requests.get(f"{live.base}{path}", timeout=10)
            _assert_problem(anonymous, (401,))
            assert "J. Doe" not in anonymous.text
        keyed = requests.get(f"{live.base}/v1/takedowns", headers=AUTH, timeout=10)
        assert keyed.json()["takedowns"][0]["reason"].endswith("J. Doe")


# ------------------------------------------------------ a bad `current`, a restarted worker
def _workers(master: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def test_a_restarted_worker_serves_the_last_verified_version(models: Path,
                                                             tmp_path: Path) -> None:
    import os
    import signal

    from recommender.model import artifact

    good = artifact.current_version(models)
    with live_server(models, tmp_path / "server.log", env=_env(tmp_path), workers=2) as live:
        base = live.base
        bad = train(corpus=SAMPLE, out=models).version_dir  # becomes `current`...
        with open(bad / artifact.MODEL_FILE, "ab") as fh:  # ...and does not verify
            fh.write(b"tampered")
        reload = requests.post(f"{base}/v1/admin/reload", headers=AUTH, timeout=60)
        assert reload.status_code == 409, reload.text  # refused: the old model serves
        model = requests.get(f"{base}/v1/model", timeout=10).json()
        assert str(tmp_path) not in str(model), model
        before = _workers(live.proc.pid)
        os.kill(min(before), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(_workers(live.proc.pid) - before) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # the new worker loads
        versions, failures, ready = [], 0, []
        for _ in range(40):
            response = requests.get(f"{base}/v1/articles/{ARTICLE}/related",
                                    headers={"Connection": "close"}, timeout=10)
            if response.status_code != 200:
                failures += 1
                continue
            versions.append(response.headers["X-Model-Version"])
            ready.append(requests.get(f"{base}/readyz", headers={"Connection": "close"},
                                      timeout=10).json())
    print(f"after kill -9 of a worker with a bad current: {failures} of 40 failed, "
          f"versions {sorted(set(versions))}")
    assert failures == 0 and set(versions) == {good}
    assert all(r["model"]["version"] == good and r["current"] == bad.name for r in ready)
    fallbacks = [r for r in ready if r["serving"] == "last-verified"]
    assert fallbacks and all("does not match" in r["refused"] for r in fallbacks)
    assert all(str(tmp_path) not in r.get("refused", "") for r in ready)


# ---------------------------------------------------------------- takedowns by URL
NEIGHBOUR_URL = ("http://globalvoicesonline.org/2012/05/15/"
                 "colombia-5-dead-19-injured-after-bomb-blast-in-bogota/")
URL_VARIANTS = {
    "https": NEIGHBOUR_URL.replace("http://", "https://"),
    "www.": NEIGHBOUR_URL.replace("://", "://www."),
    "upper-case host": NEIGHBOUR_URL.replace("globalvoicesonline.org", "GlobalVoicesOnline.ORG"),
    "// in the path": NEIGHBOUR_URL.replace("/2012/05/", "/2012//05/"),
    "query string": NEIGHBOUR_URL + "?utm_source=newsletter&ref=front",
    "no trailing slash, fragment": NEIGHBOUR_URL.rstrip("/") + "#comments",
}


def _shown(base: str) -> set[str]:
    """Whether NEIGHBOUR is in ARTICLE's list, asked of every worker (fresh connections)."""
    return {str(NEIGHBOUR in _ids(requests.get(
        f"{base}/v1/articles/{ARTICLE}/related", params={"k": 20},
        headers={"Connection": "close"}, timeout=10))) for _ in range(6)}


def test_takedown_by_url_matches_every_variant(models: Path, tmp_path: Path) -> None:
    import sqlite3

    from service.client import quote_id

    def takedowns(url: str) -> str:
        return f"{base}/v1/takedowns/{quote_id(url)}"

    with live_server(models, tmp_path / "server.log", env=_env(tmp_path), workers=2) as live:
        base = live.base
        assert _shown(base) == {"True"}
        for name, url in URL_VARIANTS.items():
            put = requests.put(takedowns(url), json={"reason": name}, headers=AUTH, timeout=10)
            assert put.status_code == 200, (name, put.text)
            assert put.json()["matches"] == 1 and "warning" not in put.json(), (name, put.json())
            assert _shown(base) == {"False"}, name
            listed = requests.get(f"{base}/v1/takedowns", headers=AUTH, timeout=10).json()
            assert [t["id"] for t in listed["takedowns"]] == [
                "https://globalvoicesonline.org/2012/05/15/"
                "colombia-5-dead-19-injured-after-bomb-blast-in-bogota"], name
            # Undone through another variant of the same address.
            other = URL_VARIANTS["www."] if name != "www." else NEIGHBOUR_URL
            undo = requests.delete(takedowns(other), headers=AUTH, timeout=10)
            assert undo.status_code == 204, (name, undo.text)
            assert _shown(base) == {"True"}, name

        # A forced takedown that matches nothing is stored and says so.
        unknown = "https://globalvoicesonline.org/2012/05/15/not-published-yet/"
        refused = requests.put(takedowns(unknown), json={"reason": "legal"}, headers=AUTH,
                               timeout=10)
        _assert_problem(refused, (404,))
        forced = requests.put(takedowns(unknown), json={"reason": "legal", "force": True},
                              headers=AUTH, timeout=10)
        assert forced.status_code == 200, forced.text
        assert forced.json()["matches"] == 0
        assert "matches no article" in forced.json()["warning"]

        # A row an older version stored as given (not canonical) still hides its article.
        with sqlite3.connect(tmp_path / "state.db") as conn:
            conn.execute("INSERT INTO takedowns (key, kind, reason, created_by, created_at) "
                         "VALUES (?, 'url', 'old', 'desk', '2020-01-01T00:00:00Z')",
                         (URL_VARIANTS["upper-case host"].replace("/2012/", "//2012/"),))
            conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'state_version'")
        assert _shown(base) == {"False"}


ARTICLE_URL = ("http://globalvoicesonline.org/2012/05/01/"
               "colombia-french-journalist-romeo-langlois-kidnapped/")


def test_a_taken_down_article_has_no_public_list(models: Path, tmp_path: Path) -> None:
    from service.client import quote_id

    with live_server(models, tmp_path / "server.log", env=_env(tmp_path), workers=2) as live:
        base = live.base
        own = {"related": f"{base}/v1/articles/{ARTICLE}/related",
               "related.html": f"{base}/v1/articles/{ARTICLE}/related.html",
               "oembed": f"{base}/oembed?url={ARTICLE_URL}"}
        for name, url in own.items():  # answered (and cached) before the takedown
            assert requests.get(url, timeout=10).status_code == 200, name
        # By id, then by a variant of its URL.
        for key in (ARTICLE, ARTICLE_URL.replace("http://", "https://www.")):
            put = requests.put(f"{base}/v1/takedowns/{quote_id(key)}", headers=AUTH,
                               json={"reason": "legal"}, timeout=10)
            assert put.status_code == 200, put.text
            for name, url in own.items():
                for _ in range(4):  # every worker
                    gone = requests.get(url, headers={"Connection": "close"}, timeout=10)
                    _assert_problem(gone, (410,))
                    assert "Langlois" not in gone.text, name
            # An editor's preview still shows it.
            preview = requests.get(own["related"], params={"status": "any"}, headers=AUTH,
                                   timeout=10)
            assert preview.status_code == 200 and preview.json()["article"]["id"] == ARTICLE
            _assert_problem(requests.get(own["related"], params={"status": "any"}, timeout=10),
                            (401,))
            undo = requests.delete(f"{base}/v1/takedowns/{quote_id(key)}", headers=AUTH,
                                   timeout=10)
            assert undo.status_code == 204, undo.text
            assert requests.get(own["related"], timeout=10).status_code == 200


# ------------------------------------------------------------------ off-site links
@pytest.mark.parametrize("url", ["/\\evil.example/x", "//evil.example/x", "\\\\evil.example",
                                 "javascript:alert(1)", "https:/\\evil.example", "/\t/evil.x",
                                 "data:text/html,x"])
def test_off_site_links_are_refused_at_publish_and_render(models: Path, tmp_path: Path,
                                                          url: str) -> None:
    from service.pages import render_fragment

    html = render_fragment([{"id": "x", "title": "Story", "url": url}], "a")
    assert "<a " not in html and 'class="alsosee__title"' in html
    with live_server(models, tmp_path / "server.log", env=_env(tmp_path)) as live:
        put = requests.put(f"{live.base}/v1/articles/offsite", headers=AUTH, timeout=10,
                           json={"title": "Colombia kidnapped journalist", "url": url})
        _assert_problem(put, (400,))
        assert put.json()["field"] == "url"


# ------------------------------------------------------------------------ oEmbed
def test_oembed_cache_age_is_the_lists_max_age(models: Path, tmp_path: Path) -> None:
    url = ("http://globalvoicesonline.org/2012/05/01/"
           "colombia-french-journalist-romeo-langlois-kidnapped/")
    env = _env(tmp_path, ALSOSEE_CACHE_MAX_AGE="7")
    with live_server(models, tmp_path / "server.log", env=env) as live:
        oembed = requests.get(f"{live.base}/oembed", params={"url": url}, timeout=10)
        listed = requests.get(f"{live.base}/v1/articles/{ARTICLE}/related", timeout=10)
    assert oembed.status_code == 200, oembed.text
    assert listed.headers["Cache-Control"] == "public, max-age=7"
    assert oembed.json()["cache_age"] == 7
