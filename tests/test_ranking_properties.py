"""Property-based tests (hypothesis) of the ranking invariants, on the sample model and with
live articles published and unpublished over it:

* never the article itself; never an unpublished (taken-down) id; never an unknown id;
* at most k results, no duplicates;
* scores in [0, 1] and non-increasing;
* drafts obey the same rules.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.engine.recommender import Recommender
from recommender.errors import UnknownArticleError
from recommender.state.db import StateDB
from recommender.state.live import LiveIndex, LiveStore

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
WORDS = ["election", "journalist", "kidnapped", "Colombia", "Egypt", "protest", "bloggers",
         "internet", "censorship", "floods", "president", "women", "rights", "Syria", "police"]


#: The engine reduced to cosine similarity: no recency, relevance feedback or same-story drop.
PLAIN = {"half_life": None, "duplicate_threshold": None, "near_duplicate_threshold": None,
         "feedback": 0, "draft_feedback": 0}


def check_list(recs, k, *, forbidden=frozenset(), known=None):
    ids = [r.id for r in recs]
    assert len(recs) <= k
    assert len(set(ids)) == len(ids), ids
    assert not forbidden & set(ids), forbidden & set(ids)
    if known is not None:
        assert set(ids) <= known
    scores = [r.score for r in recs]
    assert all(0.0 <= s <= 1.0 for s in scores), scores
    assert scores == sorted(scores, reverse=True), scores


@pytest.fixture(scope="module")
def engine(sample_model):
    return Recommender(sample_model)


@pytest.fixture(scope="module")
def ids(sample_model):
    return list(sample_model.ids_)


@SETTINGS
@given(data=st.data(), k=st.integers(1, 100))
def test_related_invariants(sample_model, ids, data, k):
    article_id = data.draw(st.sampled_from(ids))
    recs = sample_model.related(article_id, k=k)
    published = {i for i, p in zip(sample_model.ids_, sample_model.published_, strict=True)
                 if p}
    check_list(recs, k, forbidden={article_id}, known=published)


@SETTINGS
@given(title=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
       body=st.text(max_size=200), k=st.integers(1, 100))
def test_draft_invariants(sample_model, title, body, k):
    check_list(sample_model.related_to_text(title, body, k=k), k,
               known=set(sample_model.ids_))


def _live_article(article_id: str, words: list[str]) -> dict:
    return {"id": article_id, "title": " ".join(words[:4]) or "untitled",
            "body": " ".join(words) + " journalist election protest"}


@SETTINGS
@given(data=st.data(), k=st.integers(1, 50),
       n_unpublished=st.integers(0, 30), n_live=st.integers(0, 8))
def test_live_overlay_invariants(sample_model, engine, ids, data, k, n_unpublished, n_live):
    """Publish live articles and unpublish corpus/live ids in a fresh state database; every
    list through the engine (of corpus articles, of live articles, of drafts) keeps the
    invariants and never shows an unpublished id."""
    unpublished = set(data.draw(st.lists(st.sampled_from(ids), max_size=n_unpublished,
                                         unique=True)))
    live_articles = [
        _live_article(f"live-{i}", data.draw(st.lists(st.sampled_from(WORDS), min_size=1,
                                                      max_size=8)))
        for i in range(n_live)
    ]
    live_gone = set(data.draw(st.lists(st.sampled_from([a["id"] for a in live_articles]),
                                       max_size=n_live, unique=True))) if live_articles \
        else set()
    with tempfile.TemporaryDirectory() as tmp:
        db = StateDB(Path(tmp) / "state.db").init()
        store = LiveStore(db)
        if live_articles:
            store.publish(live_articles)
        if unpublished | live_gone:
            store.unpublish(sorted(unpublished | live_gone))
        snap = LiveIndex(store, sample_model, "v").snapshot()
        forbidden = unpublished | live_gone
        known = (set(ids) | {a["id"] for a in live_articles}) - forbidden

        query_ids = [i for i in ids if i not in forbidden][:50] + [
            a["id"] for a in live_articles if a["id"] not in live_gone]
        article_id = data.draw(st.sampled_from(query_ids))
        recs = engine.related(article_id, k, live=snap, **PLAIN).items
        check_list(recs, k, forbidden=forbidden | {article_id}, known=known)

        draft = engine.related_to_text("journalist election", "protest in Egypt", k, live=snap,
                                       **PLAIN).items
        check_list(draft, k, forbidden=forbidden, known=known)

        for gone in sorted(forbidden)[:3]:
            with pytest.raises(UnknownArticleError):
                engine.related(gone, k, live=snap, **PLAIN)
        db.close()
