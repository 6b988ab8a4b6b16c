"""Placements: an inline slot chosen by the passage before it, the end block, one story
once; the library, the CLI and the HTTP API, and their refusals of bad slots."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from recommender.cli import cli
from recommender.engine.placements import passage_terms, split_paragraphs
from recommender.engine.recommender import Recommender
from recommender.errors import InvalidParameterError, UnusableValueError
from recommender.model import artifact
from recommender.model.estimator import RelatedStories
from recommender.ranking.placements import Placement, parse_placements
from recommender.state.db import StateDB

ROUNDUP = ("The river flood destroyed homes and flood water rose in the valley.\n\n"
           "At the chess final the grandmaster won with a bold opening.\n\n"
           "Markets closed higher on bank earnings.")


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["roundup", "flood", "chess", "markets", "weather"],
        "title": ["Weekly roundup", "Valley flood", "Chess final", "Stocks rise", "Rain ahead"],
        "body": [ROUNDUP,
                 "The river flood water rose and homes in the valley were destroyed.",
                 "The grandmaster won the chess final with a bold opening move.",
                 "Markets closed higher as bank earnings beat forecasts.",
                 "More rain is forecast for the valley this week."],
        "published_at": ["2024-05-01"] * 5,
    })


@pytest.fixture(scope="module")
def engine(corpus: pd.DataFrame) -> Recommender:
    return Recommender(RelatedStories(max_df=1.0).fit(corpus), defaults={"half_life": None})


def test_grammar_parses_slots_and_refuses_bad_ones() -> None:
    assert parse_placements("placements", "inline:3:1,end:6") == (
        Placement("inline", 1, 3), Placement("end", 6))
    assert parse_placements("placements", ["inline:2:1:pins", "end:2"])[0].pins
    assert parse_placements("placements", [{"slot": "inline", "after_paragraph": 2,
                                            "count": 1}]) == (Placement("inline", 1, 2),)
    for bad, words in [("middle:2", "unknown slot 'middle'"), ("end:0", "at least 1"),
                       ("inline:0:1", "at least 1"), ("inline:2:-1", "at least 1"),
                       ("end:60,inline:2:50", "at most 100 links"),
                       ("end:1,end:2", "one end block"), ("inline:2", "inline:PARAGRAPH:COUNT"),
                       ("end:x", "integer")]:
        with pytest.raises(InvalidParameterError, match=words) as err:
            parse_placements("placements", bad)
        assert err.value.field == "placements"


def test_inline_slot_follows_its_passage(engine: Recommender) -> None:
    after_flood = engine.related("roundup", placements="inline:1:1")
    after_chess = engine.related("roundup", placements="inline:2:1")
    assert after_flood.slots[0].items[0].id == "flood"
    assert after_chess.slots[0].items[0].id == "chess"
    # without placements the same article gets one list, shaped as it always was
    plain = engine.related("roundup", k=3).to_dict()
    assert "placements" not in plain and all("slot" not in i for i in plain["related"])


def test_answer_shape_and_one_story_once(engine: Recommender) -> None:
    result = engine.related("roundup", placements="inline:1:1,inline:2:1,end:3")
    out = result.to_dict()
    assert [(s["slot"], s.get("after_paragraph")) for s in out["placements"]] == [
        ("inline", 1), ("inline", 2), ("end", None)]
    ids = [i["id"] for s in out["placements"] for i in s["related"]]
    assert len(ids) == len(set(ids)) == 4  # every other story, once
    assert out["related"] == out["placements"][2]["related"]  # related: the end block
    assert {i["slot"] for i in out["placements"][0]["related"]} == {"inline"}
    assert {i["slot"] for i in out["related"]} == {"end"}


def test_past_the_end_names_the_field(engine: Recommender) -> None:
    with pytest.raises(UnusableValueError, match="paragraph 4 is past the end") as err:
        engine.related("roundup", placements="inline:4:1")
    assert err.value.field == "placements"
    with pytest.raises(UnusableValueError, match="placements"):
        engine.related_to_text("Draft", "One paragraph only.", placements="inline:2:1")


def test_draft_paragraphs_choose_the_inline_link(engine: Recommender) -> None:
    result = engine.related_to_text("Notes", "Chess final grandmaster opening.\n\n"
                                    "Flood water in the river valley.",
                                    placements="inline:1:1,end:1")
    assert result.slots[0].items[0].id == "chess"
    assert result.items and result.items[0].id != "chess"


def test_explain_names_slot_and_passage_terms(engine: Recommender) -> None:
    item = engine.related("roundup", placements="inline:2:1", explain=True).slots[0].items[0]
    assert item.explanation["slot"] == "inline" and item.explanation["after_paragraph"] == 2
    terms = {t["term"] for t in item.explanation["passage_terms"]}
    assert terms & {"chess", "grandmaster", "opening", "final"}
    assert "flood" not in terms


def test_passage_weighs_the_nearest_paragraph_most(engine: Recommender) -> None:
    paragraphs = split_paragraphs(ROUNDUP)
    cols, vals = passage_terms(engine.model, paragraphs, 2)
    weight = dict(zip(cols.tolist(), vals.tolist(), strict=True))
    vocab = engine.model.vectorizers_["text"].vocabulary_
    start = engine.model.field_slices_["text"][0]

    def w(term: str) -> float:
        return weight[start + vocab[term]]

    assert w("chess") > w("flood") > 0


def test_pins_go_to_their_slot_and_nowhere_else(corpus: pd.DataFrame, tmp_path: Path) -> None:
    engine = Recommender(RelatedStories(max_df=1.0).fit(corpus), StateDB(tmp_path / "s.db").init(),
                         defaults={"half_life": None})
    engine.pin("roundup", ["weather"])
    default = engine.related("roundup", placements="inline:1:1,end:2")
    assert default.items[0].id == "weather" and default.items[0].reason == "pinned"
    assert "weather" not in [i.id for i in default.slots[0].items]
    targeted = engine.related("roundup", placements="inline:1:1:pins,end:2")
    assert [i.id for i in targeted.slots[0].items] == ["weather"]
    assert "weather" not in [i.id for i in targeted.items]


def test_cli_placements_and_usage_errors(engine: Recommender, tmp_path: Path) -> None:
    root = tmp_path / "models"
    version = artifact.save(engine.model, root)
    runner = CliRunner()
    base = ["related", "roundup", "--model", str(version), "--state-db", str(tmp_path / "s.db")]
    ok = runner.invoke(cli, [*base, "--placement", "inline:2:1", "--placement", "end:2",
                             "--format", "json"])
    assert ok.exit_code == 0, ok.output
    payload = json.loads(ok.output)
    assert payload["placements"][0]["related"][0]["id"] == "chess"
    for bad, words in [("inline:9:1", "past the end"), ("nowhere:1", "unknown slot"),
                       ("end:0", "at least 1")]:
        res = runner.invoke(cli, [*base, "--placement", bad])
        assert res.exit_code == 2 and words in res.output, res.output


# ------------------------------------------------------------------------------ HTTP
def test_http_get_placements(client) -> None:
    plain = client.get("/v1/articles/gv-316371/related?k=3").get_json()
    assert "placements" not in plain
    res = client.get("/v1/articles/gv-316371/related?placements=inline:3:1,end:4&explain=true")
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    inline, end = body["placements"]
    assert inline["slot"] == "inline" and inline["after_paragraph"] == 3
    assert len(inline["related"]) == 1 and len(end["related"]) == 4
    assert body["related"] == end["related"]
    assert inline["related"][0]["explanation"]["passage_terms"]
    ids = [i["id"] for s in body["placements"] for i in s["related"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("value, words", [
    ("inline:300:1", "past the end"), ("inline:3:0", "placements"), ("end:-2", "placements"),
    ("end:101", "placements"), ("end:50,inline:2:51", "at most 100 links"),
    ("aside:2", "placements")])
def test_http_bad_placements_are_400_problems(client, value: str, words: str) -> None:
    res = client.get(f"/v1/articles/gv-316371/related?placements={value}")
    assert res.status_code == 400
    assert res.mimetype == "application/problem+json"
    problem = res.get_json()
    assert "placements" in json.dumps(problem) and words in json.dumps(problem)


def test_http_post_placements(client) -> None:
    body = {"title": "Elections", "body": "Voters queued for hours.\n\nThe opposition "
                                          "rejected the results of the election.",
            "placements": ["inline:1:1", "end:3"]}
    res = client.post("/v1/related", json=body)
    assert res.status_code == 200, res.get_json()
    answer = res.get_json()
    assert [s["slot"] for s in answer["placements"]] == ["inline", "end"]
    assert answer["related"] == answer["placements"][1]["related"]
    bad = client.post("/v1/related", json={**body, "placements": ["inline:5:1"]})
    assert bad.status_code == 400 and "placements" in bad.get_data(as_text=True)
    bad = client.post("/v1/related", json={**body, "placements": 3})
    assert bad.status_code == 400 and "placements" in bad.get_data(as_text=True)


def test_end_block_alone_is_the_plain_list(engine: Recommender) -> None:
    for aid in ("roundup", "flood", "chess"):
        assert engine.related(aid, placements="end:3").ids == engine.related(aid, k=3).ids


def test_link_paragraphs_finds_the_paragraph_of_each_link() -> None:
    from recommender.evaluation.placements import InlineLink, link_paragraphs

    html = ("<p>Opening words about the election.</p>"
            "<p>Protesters gathered, as <a href='http://site.org/2012/05/01/protest/'>"
            "reported earlier</a>, in the square.</p>"
            "<p>See also <a href='https://www.site.org/2012/05/02/vote'>the vote</a> and "
            "<a href='http://elsewhere.com/x'>elsewhere</a>.</p>")
    stored = ("Opening words about the election.\n\nProtesters gathered, as reported earlier, "
              "in the square.\n\nSee also the vote and elsewhere.")
    urls = {"https://site.org/2012/05/01/protest": "protest",
            "https://site.org/2012/05/02/vote": "vote"}
    assert link_paragraphs("story", html, stored, urls) == [
        InlineLink("story", "protest", 2), InlineLink("story", "vote", 3)]


def test_live_article_paragraphs_choose_its_inline_links(corpus: pd.DataFrame,
                                                         tmp_path: Path) -> None:
    from recommender.state.live import LiveIndex, LiveStore, parse_articles

    model = RelatedStories(max_df=1.0).fit(corpus)
    db = StateDB(tmp_path / "s.db").init()
    store = LiveStore(db)
    store.publish(parse_articles([{
        "id": "live-1", "title": "Late roundup",
        "body": "The grandmaster won the chess final.\n\nFlood water rose in the river valley."}]))
    live = LiveIndex(store, model, "v").snapshot()
    result = Recommender(model, db, defaults={"half_life": None}).related(
        "live-1", live=live, placements="inline:1:1,inline:2:2")
    chess, flood = ([i.id for i in s.items] for s in result.slots)
    assert chess == ["chess"]
    # the roundup tells of floods too: either may lead, the flood story must be there
    assert "flood" in flood and "chess" not in flood


def test_slot_options_are_the_validated_options_with_the_slots_changes() -> None:
    import dataclasses

    from recommender.engine.placements import with_options
    from recommender.ranking.options import RankingOptions

    opts = RankingOptions.from_mapping({"placements": "inline:3:1,end:6", "exclude": ["x"],
                                        "half_life": "30"})
    changes = {"placements": (), "k": 6, "exclude": ("x", "y")}
    copied = with_options(opts, **changes)
    assert copied == dataclasses.replace(opts, **changes)
    assert opts.k != 6 and opts.placements and opts.exclude == ("x",)  # the original kept
