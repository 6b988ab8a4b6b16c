"""Property-based tests (hypothesis) of the newsroom ranking invariants on the real engine.

``recommender.engine.recommender.Recommender`` over a real model (the bundled Global Voices
sample, given languages, drafts, undated stories, shared story ids and dates spread over a
year so that every filter has something to do) and a real SQLite state database holding arbitrary
takedowns (by id and by URL), pins and blocks. For arbitrary articles, ``k`` and ranking
options, every list must:

* never show the article itself, a taken-down id (not even when pinned), a blocked id, or an
  unpublished one (``status=published``); hold at most ``k`` unique ids;
* show the pins first, exactly the pinned ids that survive those rules, in the editors' order;
  then the automatic ("similar") results, scores non-increasing when diversity is off (MMR
  orders by marginal relevance instead); then the ``latest_in_section`` fallback, newest
  first, from the article's section;
* keep every filter on every non-pinned item: sections, excluded sections, tags (any/all),
  language (the article's own by default), excluded ids, since/until, max_age_days and
  direction around the article's date, the similarity floor (automatic items) and the
  same-story rules;
* keep scores in [0, 1] and between ``recency_floor * similarity`` and ``similarity``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.engine.recommender import Recommender
from recommender.model.estimator import RelatedStories
from recommender.state.db import StateDB

NOW = dt.datetime(2012, 6, 1, tzinfo=dt.UTC)
EPS = 2e-6  # scores and similarities are rounded to 6 decimals
SETTINGS = settings(max_examples=80, deadline=2000, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def corpus(sample_articles) -> pd.DataFrame:
    """The sample with every column a filter reads made non-trivial (deterministically)."""
    df = sample_articles.copy().reset_index(drop=True)
    i = np.arange(len(df))
    df["language"] = np.where(i % 7 == 0, "fr", np.where(i % 5 == 0, "es", "en"))
    df["status"] = np.where(i % 23 == 0, "draft", "published")
    when = pd.to_datetime(df["published_at"], utc=True) - pd.to_timedelta((i % 13) * 29,
                                                                           unit="D")
    df["published_at"] = when.where(i % 31 != 0)  # some undated stories
    df["story_id"] = [f"story-{j - j % 2}" if j % 17 in (0, 1) else None for j in i]
    return df


@pytest.fixture(scope="module")
def engine(corpus, tmp_path_factory) -> Recommender:
    model = RelatedStories().fit(corpus)
    db = StateDB(tmp_path_factory.mktemp("engine-properties") / "state.db").init()
    return Recommender(model, db, clock=lambda: NOW)


@pytest.fixture(scope="module")
def other_worker(engine) -> Recommender:
    """Another engine on its own connection to the same state database (another worker)."""
    return Recommender(engine.model, StateDB(engine.editorial.db.path).init(),
                       clock=lambda: NOW)


@pytest.fixture(scope="module")
def neighbours(engine) -> dict[str, list[str]]:
    """Each article's 20 nearest stories (the model's precomputed lists)."""
    model = engine.model
    ids = [str(i) for i in model.ids_]
    return {ids[row]: [ids[j] for j in model.neighbors_[row][:20]] for row in range(len(ids))}


@pytest.fixture(scope="module")
def facts(corpus) -> dict[str, dict]:
    """What the checks need to know about every article, straight from the corpus."""
    out = {}
    for row in corpus.itertuples(index=False):
        when = row.published_at
        out[row.id] = {
            "section": row.section, "language": row.language, "url": row.url,
            "tags": {str(t).lower() for t in (row.tags if row.tags is not None else ())},
            "published": row.status == "published",
            "story": None if pd.isna(row.story_id) else row.story_id,
            "when": None if pd.isna(when) else pd.Timestamp(when).to_pydatetime(),
        }
    return out


def _vocab(corpus):
    ids = corpus["id"].tolist()
    sections = sorted(corpus["section"].dropna().unique())
    tag_counts = pd.Series([t for tags in corpus["tags"] for t in tags]).value_counts()
    return ids, sections, tag_counts.index[:25].tolist()


#: What the strategy and the tests use, set by the ``world`` fixture: strategies are built
#: when the module is imported, before any fixture exists, and the tests take only the drawn
#: scenario (hypothesis prints a failing call's arguments, and these are large).
WORLD: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def world(corpus, neighbours, engine, other_worker, facts):
    WORLD.update(corpus=corpus, neighbours=neighbours, engine=engine, other=other_worker,
                 facts=facts)
    yield
    WORLD.clear()


@st.composite
def scenarios(draw):
    corpus, neighbours = WORLD["corpus"], WORLD["neighbours"]
    ids, sections, tags = _vocab(corpus)
    article = draw(st.sampled_from(ids))
    # Editorial actions and exclusions mostly aim at stories the list would show (the
    # article's nearest neighbours), so that every rule is actually exercised.
    near = [i for i in neighbours[article] if i != article]
    others = st.sampled_from(near) | st.sampled_from([i for i in ids if i != article])
    urls = dict(zip(corpus["id"], corpus["url"], strict=True))
    pins = draw(st.lists(others, max_size=6, unique=True))
    state = {
        # Some pins are taken down or blocked too: the takedown and the block must win.
        "takedowns": draw(st.lists(others | st.just(article), max_size=10, unique=True))
        + [p for p in pins if draw(st.booleans())],
        "url_takedowns": [urls[i] for i in draw(st.lists(others, max_size=3, unique=True))],
        "pins": pins,
        "blocks": draw(st.lists(others, max_size=6, unique=True))
        + [p for p in pins if draw(st.booleans())],
    }
    state["takedowns"] = list(dict.fromkeys(state["takedowns"]))
    state["blocks"] = list(dict.fromkeys(state["blocks"]))
    own = corpus.loc[corpus["id"] == article, "tags"].iloc[0]
    tags = sorted(set(own if own is not None else ())) + tags  # the article's tags first
    day = st.datetimes(min_value=dt.datetime(2011, 5, 1), max_value=dt.datetime(2012, 6, 1),
                       timezones=st.just(dt.UTC))
    maybe = lambda strategy: st.none() | strategy  # noqa: E731
    options = {
        "section": draw(st.lists(st.sampled_from(sections), min_size=1, max_size=2)),
        "exclude_sections": draw(st.lists(st.sampled_from(sections), min_size=1,
                                           max_size=2)),
        "tags": draw(st.lists(st.sampled_from(tags), min_size=1, max_size=3)),
        "tags_mode": draw(st.sampled_from(["any", "all"])),
        "language": draw(st.sampled_from([None, "any", "en", "es", "fr"])),
        "exclude": draw(st.lists(others, min_size=1, max_size=5)),
        "min_score": draw(st.sampled_from([0.0, 0.0, 0.05, 0.1, 0.2])),
        "since": draw(maybe(day)),
        "until": draw(maybe(day)),
        "max_age_days": draw(maybe(st.floats(0.5, 400))),
        "direction": draw(st.sampled_from(["any", "before", "after"])),
        "half_life": draw(maybe(st.floats(0.5, 400))),
        "recency_floor": draw(st.floats(0, 1)),
        "section_half_life": draw(st.dictionaries(st.sampled_from(sections),
                                                  maybe(st.floats(0.5, 400)), max_size=2)),
        "diversity": draw(st.sampled_from([0.0, 0.0, 0.0, 0.3, 0.8])),
        "duplicate_threshold": draw(maybe(st.floats(0.3, 1.0))),
        "near_duplicate_threshold": draw(maybe(st.floats(0.3, 1.0))),
        "collapse_keep": draw(st.sampled_from(["newer", "older", "higher"])),
        "status": draw(st.sampled_from(["published", "published", "any"])),
        "fallback": draw(st.sampled_from([None, "latest_in_section"])),
        "pool": draw(st.integers(1, 120)),
    }
    # Only some options per example, as a real caller sends them.
    chosen = draw(st.sets(st.sampled_from(sorted(options)), max_size=5))
    k = draw(st.integers(1, 30))
    return article, k, {name: options[name] for name in chosen}, state


def _apply(engine, article, state):
    for key in state["takedowns"] + state["url_takedowns"]:
        engine.takedown(key, reason="property test", by="test")
    if state["pins"]:
        engine.pin(article, state["pins"], by="test")
    if state["blocks"]:
        engine.block(article, state["blocks"], by="test", replace=True)


def _reset(engine, article, state):
    for key in state["takedowns"] + state["url_takedowns"]:
        engine.undo_takedown(key, by="test")
    engine.unpin(article, by="test")
    engine.unblock(article, by="test")


def _check(result, article, k, opts, state, facts):
    items = result.items
    ids = [item.id for item in items]
    url_killed = {i for i, f in facts.items() if f["url"] in state["url_takedowns"]}
    killed = set(state["takedowns"]) | url_killed
    blocked = set(state["blocks"])
    published_only = opts.get("status", "published") == "published"

    # Never the article, a takedown, a block (pinned or not), an unpublished story; <= k.
    assert len(ids) <= k and len(set(ids)) == len(ids), ids
    assert article not in ids
    assert not killed & set(ids), killed & set(ids)
    assert not blocked & set(ids), blocked & set(ids)
    if published_only:
        assert all(facts[i]["published"] for i in ids), ids

    # Pins first, in the editors' order; then automatic results; then the fallback.
    reasons = [item.reason for item in items]
    order = {"pinned": 0, "similar": 1, "fallback": 2}
    assert [order[r] for r in reasons] == sorted(order[r] for r in reasons), reasons
    expected_pins = [p for p in state["pins"] if p not in killed and p not in blocked
                     and (facts[p]["published"] or not published_only)][:k]
    assert [i.id for i in items if i.reason == "pinned"] == expected_pins

    similar = [i for i in items if i.reason == "similar"]
    if opts.get("diversity", 0.0) == 0.0:
        scores = [i.score for i in similar]
        assert scores == sorted(scores, reverse=True), scores
    floor = opts.get("recency_floor", 0.5)
    for item in items:
        assert 0.0 <= item.score <= 1.0 and 0.0 <= item.similarity <= 1.0
        if item.reason == "similar":
            assert floor * item.similarity - EPS <= item.score <= item.similarity + EPS, item

    me = facts[article]
    reference = me["when"] or NOW
    for item in items:
        if item.reason == "pinned":
            continue
        f = facts[item.id]
        if opts.get("section"):
            assert f["section"] in opts["section"], (item.id, f["section"])
        assert f["section"] not in opts.get("exclude_sections", ()), item.id
        if opts.get("tags"):
            wanted = {t.lower() for t in opts["tags"]}
            ok = wanted <= f["tags"] if opts.get("tags_mode") == "all" else wanted & f["tags"]
            assert ok, (item.id, wanted, f["tags"])
        language = opts.get("language") or me["language"]
        if language != "any":
            assert f["language"] == language, (item.id, f["language"], language)
        assert item.id not in opts.get("exclude", ()), item.id
        windowed = (opts.get("since") or opts.get("until") or opts.get("max_age_days")
                    or opts.get("direction", "any") != "any")
        if windowed:
            assert f["when"] is not None, item.id  # undated stories fail every window
        if opts.get("since"):
            assert f["when"] >= opts["since"], item.id
        if opts.get("until"):
            assert f["when"] <= opts["until"], item.id
        if opts.get("max_age_days"):
            gap = abs((f["when"] - reference).total_seconds()) / 86400
            assert gap <= opts["max_age_days"] + 1e-6, (item.id, gap)
        if opts.get("direction") == "before":
            assert f["when"] <= reference, item.id
        if opts.get("direction") == "after":
            assert f["when"] >= reference, item.id
        # The same story as the article is never shown again.
        assert me["story"] is None or f["story"] != me["story"], item.id
        threshold = opts.get("duplicate_threshold", 0.98)
        if threshold is not None:
            assert item.similarity <= threshold + EPS, (item.id, item.similarity)
        if item.reason == "similar":
            assert item.similarity >= opts.get("min_score", 0.0) - EPS, item
    fallback = [i for i in items if i.reason == "fallback"]
    if fallback:
        assert opts.get("fallback") == "latest_in_section"
        assert all(facts[i.id]["section"] == me["section"] for i in fallback)
        dates = [facts[i.id]["when"] for i in fallback]
        assert None not in dates and dates == sorted(dates, reverse=True), dates


@SETTINGS
@given(scenario=scenarios())
def test_engine_invariants(scenario):
    engine, facts = WORLD["engine"], WORLD["facts"]
    article, k, opts, state = scenario
    _apply(engine, article, state)
    try:
        result = engine.related(article, k=k, **opts)
        _check(result, article, k, opts, state, facts)
        # The same request with debug on lists the same items (debug only adds reasons).
        debug = engine.related(article, k=k, **{**opts, "debug": True})
        assert debug.ids == result.ids
    finally:
        _reset(engine, article, state)


@settings(SETTINGS, max_examples=25)
@given(scenario=scenarios())
def test_another_worker_sees_the_same_state(scenario):
    """Editorial changes reach an engine that did not make them (another worker), through
    the shared state database and its version counter, and undoing them restores its list."""
    engine, other, facts = WORLD["engine"], WORLD["other"], WORLD["facts"]
    article, k, opts, state = scenario
    before = other.related(article, k=k, **opts).ids
    _apply(engine, article, state)
    try:
        _check(other.related(article, k=k, **opts), article, k, opts, state, facts)
    finally:
        _reset(engine, article, state)
    assert other.related(article, k=k, **opts).ids == before


@pytest.mark.parametrize("half_life", [5e-324, 1e-300, 1e-5])
def test_the_smallest_half_lives_rank_without_warnings(engine, half_life):
    """Any number > 0 is a valid half-life (the fuzz test sends 5e-324): the age gap over it
    overflows to inf, the factor is the floor, and no RuntimeWarning (an error here) is raised
    on either recency path (one half-life, per-section half-lives)."""
    article = str(engine.model.ids_[0])
    for extra in ({}, {"section_half_life": {"Caribbean": half_life}}):
        result = engine.related(article, k=5, half_life=half_life, recency_floor=0.25, **extra)
        assert all(item.score <= item.similarity + EPS for item in result.items)
