"""The widget in a real browser (Debian's chromium via Selenium + chromedriver) against the real
gunicorn server, embedded in pages served from another port (so CORS is exercised).

Skips with the reason when chromium, chromedriver or selenium is missing (``.ci/run``
installs them). The screenshot is written to the pytest tmp dir and copied to
``test-artifacts/widget.png`` (ignored by git).
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
import requests
from livesrv import ROOT, free_port, live_server, static_site, train_corpus

# slow: real servers (and browsers), left out of the quick subset
pytestmark = [pytest.mark.server, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "test-artifacts"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1000,900")

# Titles are given HTML-escaped: the corpus loader strips real tags from titles, but decodes
# entities, so these reach the model (and the API) as literal "<script>" / "<img onerror>".
SCRIPT_TITLE = "<script>window.__alsoseePwned = 'script'</script> River delta floods return"
IMG_TITLE = "<img src=x onerror=\"window.__alsoseePwned = 'img'\"> Delta flood relief arrives"
JS_URL = "javascript:window.__alsoseePwned='href'"

FLOODS = [
    ("flood-main", "River delta floods displace thousands of farmers",
     "Monsoon rain flooded the river delta; farmers and villages were evacuated."),
    ("flood-2", "Farmers in the flooded delta count their losses",
     "After the floods in the river delta, farmers count drowned cattle and rice fields."),
    ("flood-xss-script", SCRIPT_TITLE.replace("<", "&lt;").replace(">", "&gt;"),
     "Floods return to the river delta as monsoon rain swells the river; farmers flee."),
    ("flood-xss-img", IMG_TITLE.replace("<", "&lt;").replace(">", "&gt;"),
     "Relief for the flooded delta: rice and water for farmers displaced by the floods."),
    ("flood-jsurl", "Delta villages rebuild after the monsoon floods",
     "Villages of the river delta rebuild homes destroyed by the monsoon floods."),
]
OTHERS = [
    ("chess-1", "Chess final ends in a draw", "The chess championship final was drawn."),
    ("chess-2", "Young chess player wins the open", "A teenager won the chess open tournament."),
    ("vote-1", "Parliament election turnout rises", "Voters queued at polling stations."),
    ("vote-2", "Election observers report fraud", "Observers saw ballot stuffing at polls."),
    ("ball-1", "Football club wins the league", "The football club won the league title."),
    ("ball-2", "Football coach resigns after defeat", "The coach of the football club quit."),
    ("tech-1", "Mobile internet reaches rural schools", "Schools got mobile internet access."),
    ("tech-2", "Bloggers discuss internet censorship", "Bloggers wrote about online censorship."),
    ("lonely", "Zyxwvut quorble", "Plugh xyzzy frobozz."),
]


def _articles() -> list[dict]:
    rows = []
    for day, (article_id, title, body) in enumerate(FLOODS + OTHERS, start=1):
        rows.append({
            "id": article_id, "title": title, "body": body,
            "url": JS_URL if article_id == "flood-jsurl" else f"https://news.example/{article_id}",
            "published_at": f"2012-05-{day:02d}T08:00:00Z", "section": "World",
        })
    return rows


PAGE_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>
  window.__cls = 0;
  new PerformanceObserver(function (list) {{
    list.getEntries().forEach(function (e) {{ if (!e.hadRecentInput) window.__cls += e.value; }});
  }}).observe({{type: "layout-shift", buffered: true}});
  window.__warnings = [];
  var warn = console.warn;
  console.warn = function () {{
    window.__warnings.push(Array.prototype.join.call(arguments, " "));
    warn.apply(console, arguments);
  }};
</script>
<style>
  body {{ font-family: sans-serif; margin: 2em; }}
  .alsosee__link {{ color: rgb(200, 0, 0); }}  /* a page overriding the widget's style */
</style>
</head><body>
<h1>{title}</h1>
<p>Monsoon rain flooded the river delta.</p>
"""


def _write_pages(site: Path, api: str, dead_api: str, silent_api: str) -> None:
    (site / "story.html").write_text(PAGE_HEAD.format(title="A story") + f"""
<div id="w-main" data-alsosee-article="flood-main" data-k="5" data-timeout="20000"></div>
<p id="after">The end of the story.</p>
<script src="{api}/widget.js" defer></script>
</body></html>
""")
    (site / "empty.html").write_text(PAGE_HEAD.format(title="Nothing to show") + f"""
<div id="w-unknown" data-alsosee-article="no-such-article" data-k="5"></div>
<div id="w-lonely" data-alsosee-article="lonely" data-k="5"></div>
<div id="w-down" data-alsosee-article="flood-main" data-alsosee-api="{dead_api}"></div>
<p id="after">The end of the story.</p>
<script src="{api}/widget.js" defer></script>
</body></html>
""")
    (site / "bounds.html").write_text(PAGE_HEAD.format(title="Options out of range") + f"""
<div id="w-two" data-alsosee-article="flood-main" data-k="2" data-timeout="20000"></div>
<div id="w-huge" data-alsosee-article="flood-main" data-k="500" data-timeout="20000"></div>
<div id="w-word" data-alsosee-article="flood-main" data-k="five" data-timeout="nope"></div>
<script src="{api}/widget.js" defer></script>
</body></html>
""")
    (site / "slow.html").write_text(PAGE_HEAD.format(title="A slow service") + f"""
<div id="w-slow" data-alsosee-article="flood-main" data-alsosee-api="{silent_api}"
     data-timeout="800"></div>
<p id="after">The end of the story.</p>
<script src="{api}/widget.js" defer></script>
</body></html>
""")


@pytest.fixture(scope="module")
def driver():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}): "
                    "apt-get install chromium chromium-driver")
    if not Path(CHROMEDRIVER).exists():
        pytest.skip(f"chromedriver is not installed ({CHROMEDRIVER}): "
                    "apt-get install chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(20)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The real server on a tiny corpus with hostile titles, and two test pages on another
    port; CORS allows only the test site's origin."""
    tmp = tmp_path_factory.mktemp("widget")
    models = train_corpus(_articles(), tmp / "train")
    site_dir = tmp / "site"
    site_dir.mkdir()
    # A service that accepts connections and never answers (the kernel completes the
    # handshake from the listen backlog): the widget must give up after data-timeout.
    silent = socket.create_server(("127.0.0.1", 0), backlog=16)
    silent_api = f"http://127.0.0.1:{silent.getsockname()[1]}"
    with silent, static_site(site_dir) as site:
        with live_server(models, tmp / "server.log", workers=2,
                         env={"ALSOSEE_CORS_ORIGINS": site}) as live:
            _write_pages(site_dir, live.base, f"http://127.0.0.1:{free_port()}", silent_api)
            yield {"api": live.base, "site": site, "tmp": tmp, "live": live,
                   "port": int(site.rsplit(":", 1)[1]), "models": models}


def _wait_settled(browser, count: int) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15).until(lambda b: b.execute_script(
        "var n = document.querySelectorAll('[data-alsosee-state=rendered],"
        "[data-alsosee-state=empty]'); return n.length;") == count)


def test_widget_renders_the_related_list_as_text(driver, setup):
    api, site = setup["api"], setup["site"]
    expected = requests.get(f"{api}/v1/articles/flood-main/related", params={"k": 5},
                            timeout=5).json()["related"]
    titles = {item["title"] for item in expected}
    assert {SCRIPT_TITLE, IMG_TITLE} <= titles, "the hostile titles must be in the list"

    driver.get(f"{site}/story.html")
    _wait_settled(driver, 1)
    widget = driver.find_element("id", "w-main")
    state = widget.get_attribute("data-alsosee-state")
    # If this fails, say why: the widget's console warning and what the server logged.
    warnings = driver.execute_script("return window.__warnings")
    assert state == "rendered", (
        f"widget state {state!r}; console warnings: {warnings}\n"
        f"server log tail:\n{setup['live'].log()[-3000:]}"
    )

    aside = widget.find_element("css selector", "aside.alsosee")
    heading = aside.find_element("css selector", "h2.alsosee__heading")
    assert heading.text == "ALSO SEE:"
    assert aside.get_attribute("aria-labelledby") == heading.get_attribute("id")
    items = aside.find_elements("css selector", "ul.alsosee__list > li.alsosee__item")
    assert len(items) == len(expected)
    for li, item in zip(items, expected, strict=True):
        if (item["url"] or "").startswith("https://"):
            link = li.find_element("css selector", "a.alsosee__link")
            assert link.get_attribute("href") == item["url"]
        else:  # javascript: URL (dropped at training) -> plain text, no link
            assert li.find_elements("css selector", "a") == []
            link = li.find_element("css selector", "span.alsosee__title")
        # textContent, not .text: the exact string, markup characters included.
        assert link.get_attribute("textContent") == item["title"]
        date = li.find_element("css selector", "time.alsosee__date")
        assert date.get_attribute("datetime") == item["published_at"]

    # Inserted as text: nothing ran, no element was created from a title.
    assert driver.execute_script("return window.__alsoseePwned === undefined")
    assert aside.find_elements("css selector", "img, script") == []
    # The page's own CSS wins over the widget's (zero-specificity) defaults.
    first_link = aside.find_element("css selector", "a.alsosee__link")
    assert first_link.value_of_css_property("color") in {"rgb(200, 0, 0)", "rgba(200, 0, 0, 1)"}
    assert driver.execute_script("return window.__warnings") == []

    ARTIFACTS.mkdir(exist_ok=True)
    shot = setup["tmp"] / "widget.png"
    assert driver.save_screenshot(str(shot))
    shutil.copyfile(shot, ARTIFACTS / "widget.png")
    assert shot.stat().st_size > 1000


def test_widget_renders_nothing_without_layout_shift(driver, setup):
    driver.get(f"{setup['site']}/empty.html")
    after_before = driver.execute_script(
        "return document.getElementById('after').getBoundingClientRect().top")
    _wait_settled(driver, 3)
    for widget_id in ("w-unknown", "w-lonely", "w-down"):
        widget = driver.find_element("id", widget_id)
        assert widget.get_attribute("data-alsosee-state") == "empty", widget_id
        assert widget.get_attribute("innerHTML") == "", widget_id
        assert widget.size["height"] == 0, widget_id
    after = driver.execute_script(
        "return document.getElementById('after').getBoundingClientRect().top")
    assert after == after_before
    assert driver.execute_script("return window.__cls") == 0
    warnings = driver.execute_script("return window.__warnings")
    assert len(warnings) == 1, warnings  # logged once per page, not once per widget
    assert warnings[0].startswith("alsosee widget:")


def test_widget_options_outside_their_range_fall_back_to_the_defaults(driver, setup):
    api = setup["api"]
    counts = {k: len(requests.get(f"{api}/v1/articles/flood-main/related", params={"k": k},
                                  timeout=5).json()["related"]) for k in (2, 5)}
    assert counts[2] < counts[5], counts  # the page tells them apart
    driver.get(f"{setup['site']}/bounds.html")
    _wait_settled(driver, 3)
    for widget_id, k in (("w-two", 2), ("w-huge", 5), ("w-word", 5)):
        widget = driver.find_element("id", widget_id)
        assert widget.get_attribute("data-alsosee-state") == "rendered", widget_id
        items = widget.find_elements("css selector", "li.alsosee__item")
        assert len(items) == counts[k], (widget_id, len(items))


def test_widget_gives_up_on_a_silent_service_after_its_timeout(driver, setup):
    started = time.monotonic()
    driver.get(f"{setup['site']}/slow.html")
    _wait_settled(driver, 1)
    waited = time.monotonic() - started
    widget = driver.find_element("id", "w-slow")
    assert widget.get_attribute("data-alsosee-state") == "empty"
    assert widget.get_attribute("innerHTML") == ""
    assert 0.8 <= waited < 5, f"gave up after {waited:.2f} s, data-timeout is 0.8 s"
    warnings = driver.execute_script("return window.__warnings")
    assert len(warnings) == 1 and "unavailable" in warnings[0], warnings


def test_cors_blocks_origins_that_are_not_allowed(driver, setup):
    """The same page from http://localhost:<port> is another origin, not in
    ALSOSEE_CORS_ORIGINS: the browser refuses the response and the widget shows nothing."""
    driver.get(f"http://localhost:{setup['port']}/story.html")
    _wait_settled(driver, 1)
    widget = driver.find_element("id", "w-main")
    assert widget.get_attribute("data-alsosee-state") == "empty"
    assert widget.get_attribute("innerHTML") == ""
    warnings = driver.execute_script("return window.__warnings")
    assert len(warnings) == 1 and "unavailable" in warnings[0], warnings


def test_docs_page_renders_every_operation(driver, setup):
    api = setup["api"]
    spec = requests.get(f"{api}/openapi.json", timeout=5).json()
    operations = sum(len(item) for item in spec["paths"].values())
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(f"{api}/docs")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(
        lambda b: len(b.find_elements("css selector", ".opblock")) >= operations)
    assert len(driver.find_elements("css selector", ".opblock")) == operations
    assert "alsosee" in driver.find_element("css selector", ".info .title").text
    severe = [entry for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]
    assert severe == [], severe


OFFSITE_URL = "/\\evil.example/x"


def _store_offsite_link(models: Path) -> None:
    """A live article whose URL is off-site, written straight into the state database as a
    version that did not check URLs could have stored it (publishing refuses it now)."""
    import json
    import sqlite3

    record = {"id": "flood-offsite", "title": "Delta farmers flee the rising river floods",
              "body": "Floods in the river delta: farmers flee as monsoon rain swells the river.",
              "url": OFFSITE_URL, "published_at": "2012-05-20T08:00:00Z", "section": "World",
              "tags": [], "language": None, "status": None, "story_id": None}
    with sqlite3.connect(models / "state.db") as conn:
        version = int(conn.execute(
            "SELECT value FROM meta WHERE key = 'state_version'").fetchone()[0]) + 1
        conn.execute("INSERT OR REPLACE INTO live_articles (id, published, record, updated_at,"
                     " seq) VALUES (?, 1, ?, '2012-05-20T08:00:00Z', ?)",
                     ("flood-offsite", json.dumps(record), version))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'state_version'", (version,))


def _offsite_links(browser) -> list[str]:
    """Every link on the page whose resolved target leaves the page's and the news site."""
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(function (a) {"
        "  return a.href; }).filter(function (href) {"
        "  var host = new URL(href).host;"
        "  return host !== location.host && host !== 'news.example'; });")


def test_an_offsite_link_from_an_older_state_is_not_followed(driver, setup):
    """``/\\evil.example/x`` resolves to ``http://evil.example/x`` in a browser: neither the
    HTML fragment nor the widget may render it as a link."""
    api, site = setup["api"], setup["site"]
    _store_offsite_link(setup["models"])
    listed = requests.get(f"{api}/v1/articles/flood-main/related", params={"k": 10},
                          timeout=5).json()["related"]
    assert OFFSITE_URL in [item["url"] for item in listed], "the stored story must be listed"

    fragment = requests.get(f"{api}/v1/articles/flood-main/related.html", params={"k": 10},
                            timeout=5)
    assert fragment.status_code == 200
    site_dir = setup["tmp"] / "site"
    (site_dir / "fragment.html").write_text(
        PAGE_HEAD.format(title="The fragment") + fragment.text + "\n</body></html>\n")
    (site_dir / "offsite.html").write_text(PAGE_HEAD.format(title="The widget") + f"""
<div id="w-off" data-alsosee-article="flood-main" data-k="10" data-timeout="20000"></div>
<script src="{api}/widget.js" defer></script>
</body></html>
""")
    for page, settle in (("fragment.html", 0), ("offsite.html", 1)):
        driver.get(f"{site}/{page}")
        if settle:
            _wait_settled(driver, settle)
        titles = driver.find_elements(
            "xpath", "//*[normalize-space(text())='Delta farmers flee the rising river floods']")
        assert titles, f"{page}: the story is shown"
        assert titles[0].tag_name != "a", page
        assert _offsite_links(driver) == [], page
        # The links that are there still work (so the check above can see a link).
        assert driver.find_elements("css selector", "a.alsosee__link"), page
        titles[0].click()  # a link would take the browser to evil.example
        time.sleep(0.5)
        assert driver.current_url == f"{site}/{page}", page
