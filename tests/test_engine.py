"""The Recommender facade: every newsroom ranking rule on a small hand-made corpus."""

from __future__ import annotations

import datetime as dt

import pytest

from recommender.engine.recommender import Recommender
from recommender.errors import InvalidParameterError, UnknownArticleError
from recommender.model.estimator import RelatedStories
from recommender.state.db import StateDB
from tests.ranking_corpus import ARTICLES, article, frame

NOW = dt.datetime(2020, 6, 2, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def model():
    return RelatedStories().fit(frame())


@pytest.fixture
def engine(model, tmp_path):
    return Recommender(model, StateDB(tmp_path / "state.db").init(), clock=lambda: NOW)


def ids(result):
    return [item.id for item in result.items]


def test_plain_model_is_unchanged_baseline(model):
    # RelatedStories.related stays plain cosine: the copy and the draft-less stale story lead.
    assert [r.id for r in model.related("q", k=2)] == ["copy", "stale"]


def test_stale_but_similar_story_drops_below_a_fresh_one(engine):
    no_recency = ids(engine.related("q", k=3, half_life=None))
    assert no_recency.index("stale") < no_recency.index("fresh")
    fresh_first = engine.related("q", k=8, half_life=30, recency_floor=0.2)
    order = ids(fresh_first)
    assert order.index("fresh") < order.index("stale")
    stale = next(i for i in fresh_first.items if i.id == "stale")
    assert stale.score == pytest.approx(stale.similarity * (0.2 + 0.8 * 0.5 ** (1838 / 30)),
                                        rel=1e-3)


def test_per_section_half_life(engine):
    # A long half-life for World keeps the stale story first; a short one drops it.
    keep = ids(engine.related("q", k=2, half_life=5, recency_floor=0.0,
                              section_half_life={"World": None}))
    assert keep[0] == "stale"
    drop = ids(engine.related("q", k=2, half_life=None, recency_floor=0.0,
                              section_half_life={"World": 5}))
    assert "stale" not in drop


def test_republished_copy_is_collapsed(engine):
    result = engine.related("q", k=5, debug=True)
    assert "copy" not in ids(result)
    dropped = {d["id"]: d["reason"] for d in result.debug["dropped"]}
    assert dropped["copy"] == "duplicate"
    assert "copy" in ids(engine.related("q", k=5, duplicate_threshold=None))


def test_mutual_near_duplicates_show_once_the_newer(engine):
    shown = ids(engine.related("q", k=8))
    assert "wire-new" in shown and "wire-old" not in shown
    older = ids(engine.related("q", k=8, collapse_keep="older"))
    assert "wire-old" in older and "wire-new" not in older
    both = ids(engine.related("q", k=8, near_duplicate_threshold=None))
    assert {"wire-old", "wire-new"} <= set(both)


def test_story_id_collapse(engine):
    # q-story has the same story_id as same-story: never shown in its list.
    assert "q-story" not in ids(engine.related("same-story", k=10, half_life=None,
                                               min_score=0.0))


def test_section_filter_holds(engine):
    result = engine.related("q", k=10, section="Sport")
    assert ids(result) == ["sport"]
    excluded = engine.related("q", k=10, exclude_sections=["Sport"])
    assert "sport" not in ids(excluded) and ids(excluded)
    assert all(item.section != "Sport" for item in excluded.items)


def test_language_defaults_to_the_articles_own(engine):
    assert "fr" not in ids(engine.related("q", k=10))
    assert "fr" in ids(engine.related("q", k=10, language="any"))
    assert ids(engine.related("q", k=10, language="fr")) == ["fr"]


def test_tags_any_all(engine):
    any_ = ids(engine.related("q", k=10, tags=["farming", "football"]))
    assert set(any_) == {"fresh", "sport"}
    assert ids(engine.related("q", k=10, tags=["floods", "farming"], tags_mode="all")) == [
        "fresh"]


def test_exclude_and_unpublished_and_never_itself(engine):
    for opts in ({}, {"section": "World"}, {"language": "any"}, {"half_life": None},
                 {"fallback": "latest_in_section"}):
        assert "q" not in ids(engine.related("q", k=20, **opts))
        assert "draft" not in ids(engine.related("q", k=20, **opts))
    assert "fresh" not in ids(engine.related("q", k=10, exclude=["fresh"]))
    assert "draft" in ids(engine.related("q", k=10, status="any", duplicate_threshold=None))


def test_time_windows(engine):
    before = engine.related("q", k=10, direction="before")
    assert all(i.published_at <= "2020-06-01T08:00:00Z" for i in before.items) and before.items
    after = engine.related("q", k=10, direction="after", duplicate_threshold=None)
    assert "copy" in ids(after)
    assert all(i.published_at >= "2020-06-01T08:00:00Z" for i in after.items)
    assert "stale" not in ids(engine.related("q", k=10, max_age_days=30))
    assert ids(engine.related("q", k=10, since="2020-01-01", half_life=None))[0] != "stale"
    assert ids(engine.related("q", k=10, until="2016-01-01")) == ["stale"]


def test_min_score_and_fallback(engine):
    floor = engine.related("q", k=5, min_score=0.21, debug=True)
    assert all(item.similarity >= 0.21 for item in floor.items)
    assert len(floor.items) < 5
    assert any(d["reason"] == "below_floor" for d in floor.debug["dropped"])
    filled = engine.related("q", k=5, min_score=0.21, fallback="latest_in_section")
    assert len(filled.items) == 5
    fallback = [item for item in filled.items if item.reason == "fallback"]
    assert fallback and all(item.section == "World" for item in fallback)
    assert fallback[0].id == "latest-world"  # the newest World story comes first
    assert len(set(ids(filled))) == 5 and "q" not in ids(filled)


def test_explanation_shares_sum_to_the_score(engine):
    result = engine.related("q", k=4, explain=True, explain_terms=3)
    for item in result.items:
        ex = item.explanation
        total = sum(t["contribution"] for t in ex["terms"]) + ex["other_terms"]["contribution"]
        assert total == pytest.approx(item.similarity, abs=1e-5)
        assert sum(ex["fields"].values()) == pytest.approx(item.similarity, abs=1e-5)
        assert ex["score"] == pytest.approx(item.score, abs=1e-5)
        assert ex["recency_factor"] == pytest.approx(item.score / item.similarity, rel=1e-4)
        assert len(ex["terms"]) <= 3
        assert {t["field"] for t in ex["terms"]} <= {"text", "tags"}
        shares = [t["share"] for t in ex["terms"]] + [ex["other_terms"]["share"]]
        assert sum(shares) == pytest.approx(1.0, abs=1e-5)
    fresh = next(i for i in result.items if i.id == "fresh")
    assert any(t["term"] == "floods" and t["field"] == "tags" for t in
               engine.related("q", k=4, explain=True, explain_terms=20).items[
                   ids(result).index("fresh")].explanation["terms"])
    assert fresh.explanation["terms"][0]["contribution"] >= fresh.explanation["terms"][-1][
        "contribution"]


def test_diversity_changes_the_list(engine):
    plain = ids(engine.related("q", k=3, half_life=None, near_duplicate_threshold=None,
                               duplicate_threshold=None))
    diverse = ids(engine.related("q", k=3, half_life=None, near_duplicate_threshold=None,
                                 duplicate_threshold=None, diversity=0.7))
    assert plain[:2] == ["copy", "stale"]
    assert diverse[0] == "copy" and "stale" not in diverse[:2]


def test_draft_uses_now_and_section_for_fallback(engine):
    result = engine.related_to_text("Monsoon floods in the river delta", "rice farmers",
                                    k=3, section="World", fallback="latest_in_section",
                                    min_score=0.99)
    assert [i.reason for i in result.items] == ["fallback"] * 3
    assert result.items[0].id == "latest-world"


def test_bad_options_and_ids(engine):
    with pytest.raises(UnknownArticleError):
        engine.related("nope")
    for opts, field in (({"section": "Nope"}, "section"),
                        ({"exclude_sections": ["Nope"]}, "exclude_sections"),
                        ({"language": "xx"}, "language"), ({"k": 101}, "k"),
                        ({"half_life": -1}, "half_life"), ({"diversity": 2}, "diversity"),
                        ({"since": "soon"}, "since")):
        with pytest.raises(InvalidParameterError) as info:
            engine.related("q", **opts)
        assert info.value.field == field


def test_takedown_pin_block_apply(engine):
    base = ids(engine.related("q", k=3))
    engine.takedown(base[0], reason="legal", by="desk")
    assert base[0] not in ids(engine.related("q", k=10))
    engine.pin("q", ["budget", "chess"], by="desk")
    result = engine.related("q", k=4)
    assert ids(result)[:2] == ["budget", "chess"]
    assert [i.reason for i in result.items[:2]] == ["pinned", "pinned"]
    assert len(set(ids(result))) == 4
    engine.block("q", ["fresh"], by="desk")
    assert "fresh" not in ids(engine.related("q", k=10))
    # takedown beats pin
    engine.takedown("chess", reason="killed", by="desk")
    assert ids(engine.related("q", k=4))[:1] == ["budget"]
    assert "chess" not in ids(engine.related("q", k=4))
    # pins are replaced, and an expired pin is ignored
    engine.pin("q", ["concert"], expires_at="2020-06-02T13:00:00Z")
    assert ids(engine.related("q", k=3))[0] == "concert"
    later = Recommender(engine.model, editorial=engine.editorial,
                        clock=lambda: NOW + dt.timedelta(days=1))
    assert "concert" not in ids(later.related("q", k=3))
    # takedown by URL
    engine.takedown("https://news.example/sport", reason="legal")
    assert "sport" not in ids(engine.related("q", k=10, section="Sport"))


def test_editorial_validation(engine):
    with pytest.raises(UnknownArticleError):
        engine.takedown("nope", reason="x")
    engine.takedown("future-id", reason="pre-emptive", force=True)
    with pytest.raises(InvalidParameterError) as info:
        engine.pin("q", ["q"])
    assert info.value.field == "ids"
    with pytest.raises(InvalidParameterError) as info:
        engine.pin("q", ["no-such"])
    assert info.value.field == "ids"
    with pytest.raises(UnknownArticleError):
        engine.pin("no-such", ["q"])
    with pytest.raises(InvalidParameterError):
        engine.pin("q", ["fresh"], expires_at="2001-01-01")
    assert engine.pins() == []


def test_defaults_and_options_mapping(model):
    engine = Recommender(model, defaults={"half_life": None, "k": 2})
    assert engine.defaults.half_life is None
    assert len(engine.related("q").items) == 2
    with pytest.raises(InvalidParameterError):
        Recommender(model, defaults={"section": ["Nope"]})


def test_corpus_without_dates_sections_or_language():
    rows = [article(a["id"], a["title"], a["body"], None, section=None, language=None)
            for a in ARTICLES]
    engine = Recommender(RelatedStories().fit(frame(rows)))
    plain = [r.id for r in engine.model.related("q", k=4) if r.id != "copy"]
    # Recency is a no-op without dates; only the same-story/near-duplicate rules act.
    got = ids(engine.related("q", k=3))
    assert got[0] == plain[0]
    with pytest.raises(InvalidParameterError):
        engine.related("q", fallback="latest_in_section")


def test_live_articles_are_candidates_and_obey_the_rules(model, tmp_path):
    from recommender.state.live import LiveIndex, LiveStore, parse_articles

    db = StateDB(tmp_path / "live.db").init()
    engine = Recommender(model, db, clock=lambda: NOW)
    store = LiveStore(db)
    store.publish(parse_articles([
        {"id": "live-1", "title": "Delta farmers flee the flood",
         "body": "Rice farmers of the river delta fled the monsoon flood in relief boats.",
         "published_at": "2020-06-01T11:00:00Z", "section": "World", "language": "en",
         "url": "https://news.example/live-1"},
        {"id": "live-2", "title": "Delta farmers flee the flood",
         "body": "Rice farmers of the river delta fled the monsoon flood in relief boats.",
         "published_at": "2020-06-01T12:00:00Z", "section": "World", "language": "en"},
    ]))
    store.unpublish("fresh")  # a corpus article unpublished through the live state
    live = LiveIndex(store, model, "v1").snapshot()
    result = engine.related("q", k=10, live=live)
    shown = ids(result)
    # The two identical live copies collapse to the newer; the tombstoned corpus story is gone.
    assert "live-2" in shown and "live-1" not in shown
    assert "fresh" not in shown
    item = next(i for i in result.items if i.id == "live-2")
    assert item.section == "World" and item.similarity > 0
    # A live article has its own list, and the rules (takedown by URL, pins) reach live rows.
    own = ids(engine.related("live-1", k=10, live=live))
    assert len({"q", "copy"} & set(own)) == 1  # twins: shown once (the newer, copy)
    assert "live-2" not in own  # its identical twin: the same story
    engine.takedown("live-2", reason="legal", live=live)
    assert "live-2" not in ids(engine.related("q", k=10, live=live))
    engine.pin("q", ["live-1"], live=live)
    assert ids(engine.related("q", k=3, live=live))[0] == "live-1"
    with pytest.raises(UnknownArticleError):
        engine.related("fresh", live=live)
    explained = engine.related("q", k=3, live=live, explain=True).items[0].explanation
    assert explained["similarity"] == pytest.approx(
        engine.related("q", k=3, live=live).items[0].similarity, abs=1e-5)


def test_feedback_rescores_against_the_expanded_query_and_explains_it(sample_model):
    """feedback=w: each candidate's similarity is its cosine with q + w * mean(two best
    candidates), L2-normalised (computed here with scipy), blended with the expanded query's
    topic cosine, and the explanation of each link adds up to that similarity."""
    import numpy as np
    from sklearn.preprocessing import normalize

    from recommender.model.lsa import project

    assert sample_model.has_lsa  # the defaults
    w = sample_model.lsa_weight
    engine = Recommender(sample_model, None)
    article = sample_model.ids_[0]
    plain = engine.related(article, k=10, half_life=None, feedback=0)
    got = engine.related(article, k=10, half_life=None, feedback=0.5, explain=True)
    m = sample_model.matrix_
    best = [sample_model.row(i.id) for i in plain.items[:2]]
    expanded = normalize(m[sample_model.row(article)] + 0.5 * (m[best[0]] + m[best[1]]) / 2)
    topic = project(expanded, sample_model.lsa_components_)[0]
    for item in got.items:
        row = sample_model.row(item.id)
        cos = float((expanded @ m[row].T).toarray()[0, 0])
        want = (1 - w) * cos + w * float(sample_model.lsa_rows_[row] @ topic)
        assert item.similarity == pytest.approx(want, abs=1e-5)
        ex = item.explanation
        total = (sum(t["contribution"] for t in ex["terms"]) + ex["other_terms"]["contribution"]
                 + ex["topic_similarity"])
        assert total == pytest.approx(item.similarity, abs=1e-5)
    assert [i.id for i in got.items] != [i.id for i in plain.items]  # it re-ranks
    assert np.all(np.diff([i.score for i in got.items]) <= 1e-9)  # best first
