"""Placements in a real browser page (Debian's chromium via Selenium) against the real server:
the widget fills an inline slot and the end block placed by the page's template, and the
HTML fragment marks each slot the same way.

Skips with the reason when chromium, chromedriver or selenium is missing. The screenshot is
copied to ``test-artifacts/widget-placements.png`` (ignored by git).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from livesrv import ROOT, live_server, static_site, train_corpus

pytestmark = [pytest.mark.server, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "test-artifacts"

PARAGRAPHS = [
    "Monsoon rain flooded the river delta and farmers fled their drowned rice fields.",
    "In the capital, the chess championship final between two grandmasters ended in a draw.",
    "Voters queued at polling stations as election observers reported ballot stuffing.",
]
ARTICLES = [
    ("roundup", "The week in brief", "\n\n".join(PARAGRAPHS)),
    ("flood", "Delta farmers count their flood losses",
     "Farmers of the flooded river delta count drowned rice fields after the monsoon rain."),
    ("chess", "Chess final drawn", "The chess championship final of the grandmasters was drawn."),
    ("vote", "Observers report ballot stuffing", "Election observers at polling stations "
                                                 "reported ballot stuffing; voters queued."),
    ("chess-2", "Young grandmaster wins the chess open", "A young grandmaster won the chess open."),
    ("vote-2", "Turnout rises in the election", "Voters queued at polling stations all day."),
]

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The week in brief</title></head>
<body style="font-family: sans-serif; margin: 2em; max-width: 40em">
<article id="story" data-alsosee-article="roundup" data-placements="inline:1:1,end:3"
         data-timeout="20000">
<h1>The week in brief</h1>
<p>{0}</p>
<div id="slot-inline" data-alsosee-slot="inline" data-after-paragraph="1"></div>
<p>{1}</p>
<p>{2}</p>
<div id="slot-end" data-alsosee-slot="end"></div>
</article>
<div id="w-bad" data-alsosee-article="roundup" data-placements="aside:2"></div>
<script src="{api}/widget.js" defer></script>
</body></html>
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("placements")
    rows = [{"id": i, "title": t, "body": b, "url": f"https://news.example/{i}",
             "published_at": f"2012-05-{n:02d}T08:00:00Z"}
            for n, (i, t, b) in enumerate(ARTICLES, start=1)]
    models = train_corpus(rows, tmp / "train")
    site_dir = tmp / "site"
    site_dir.mkdir()
    with static_site(site_dir) as site:
        with live_server(models, tmp / "server.log", env={"ALSOSEE_CORS_ORIGINS": site}) as live:
            (site_dir / "story.html").write_text(PAGE.format(*PARAGRAPHS, api=live.base))
            yield {"api": live.base, "site": site, "tmp": tmp}


@pytest.fixture(scope="module")
def driver():
    if not Path(CHROMIUM).exists() or not Path(CHROMEDRIVER).exists():
        pytest.skip(f"Debian's chromium and chromedriver are needed ({CHROMIUM}, "
                    f"{CHROMEDRIVER}): apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=900,900"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(20)
    try:
        yield browser
    finally:
        browser.quit()


def test_fragment_marks_each_slot(setup):
    html = requests.get(f"{setup['api']}/v1/articles/roundup/related.html",
                        params={"placements": "inline:1:1,end:3"}, timeout=10).text
    assert html.count('<div class="alsosee-slot"') == 2
    assert 'data-alsosee-slot="inline" data-after-paragraph="1"' in html
    assert 'data-alsosee-slot="end"' in html
    inline = html.split('data-alsosee-slot="end"')[0]
    assert "Delta farmers count their flood losses" in inline
    plain = requests.get(f"{setup['api']}/v1/articles/roundup/related.html",
                         params={"k": 3}, timeout=10).text
    assert "alsosee-slot" not in plain and plain.startswith("<aside")
    bad = requests.get(f"{setup['api']}/v1/articles/roundup/related.html",
                       params={"placements": "inline:9:1"}, timeout=10)
    assert bad.status_code == 400 and "placements" in bad.text


def test_widget_fills_the_slots_of_the_template(driver, setup):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{setup['site']}/story.html")
    WebDriverWait(driver, 15).until(lambda b: b.execute_script(
        "return document.getElementById('story').getAttribute('data-alsosee-state')")
        in ("rendered", "empty"))
    assert driver.find_element("id", "story").get_attribute("data-alsosee-state") == "rendered"
    inline = driver.find_elements("css selector", "#slot-inline .alsosee__link")
    end = driver.find_elements("css selector", "#slot-end .alsosee__link")
    assert [a.text for a in inline] == ["Delta farmers count their flood losses"]
    assert len(end) == 3
    titles = [a.text for a in inline + end]
    assert len(set(titles)) == len(titles)  # one story in one slot only
    # the inline aside sits between paragraphs 1 and 2, as the template placed it
    assert driver.execute_script(
        "var s = document.getElementById('slot-inline');"
        "return s.previousElementSibling.textContent.indexOf('Monsoon') === 0 &&"
        " s.nextElementSibling.textContent.indexOf('In the capital') === 0;")
    # a malformed data-placements shows nothing
    assert driver.find_element("id", "w-bad").get_attribute("data-alsosee-state") == "empty"
    assert not driver.find_elements("css selector", "#w-bad aside")
    shot = setup["tmp"] / "widget-placements.png"
    assert driver.save_screenshot(str(shot))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "widget-placements.png")
