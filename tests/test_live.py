"""Live articles in the library: validation, the SQLite store, snapshots, and their lists
through the engine (plain cosine: the live rows merged with the corpus rows)."""

from __future__ import annotations

import pandas as pd
import pytest

from recommender.engine.recommender import Recommender
from recommender.errors import UnknownArticleError
from recommender.state.db import StateDB
from recommender.state.live import (
    MAX_BATCH,
    MAX_BODY_CHARS,
    InvalidArticleError,
    LiveIndex,
    LiveStore,
    parse_articles,
)

GOOD = {"id": "live-1", "title": "French journalist kidnapped in Colombia",
        "body": "Rebels kidnapped a French journalist in Colombia.",
        "published_at": "2026-11-28T09:30:00Z", "tags": ["Colombia"], "section": "World"}


#: The engine reduced to cosine similarity: no recency, relevance feedback or same-story drop.
PLAIN = {"half_life": None, "duplicate_threshold": None, "near_duplicate_threshold": None,
         "feedback": 0, "draft_feedback": 0}


def listed_for(model, snap, article_id, k=5):
    """The list of a corpus or live article, live rows merged in, plain cosine."""
    return Recommender(model).related(article_id, k, live=snap, **PLAIN).items


def listed_for_text(model, snap, title, body="", k=5):
    return Recommender(model).related_to_text(title, body, k, live=snap, **PLAIN).items


def fields(links):
    return [(r.id, r.title, r.url, r.published_at, r.section, r.score) for r in links]


@pytest.fixture
def store(tmp_path) -> LiveStore:
    return LiveStore(StateDB(tmp_path / "state.db").init())


@pytest.fixture
def corpus_id(sample_model) -> str:
    """The Colombia kidnapping story of the sample (the live article above is about it)."""
    return sample_model.related_to_text("French journalist kidnapped Colombia", k=1)[0].id


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({"title": "t"}, "id", "required"),
        ({"id": "", "title": "t"}, "id", "empty"),
        ({"id": ["a"], "title": "t"}, "id", "string"),
        ({"id": "a"}, "title", "required"),
        ({"id": "a", "title": 3}, "title", "string"),
        ({"id": "a", "title": "   "}, "title", "empty"),
        ({"id": "a", "title": "<p> </p>"}, "title", "empty"),
        ({"id": "a", "title": "t", "body": "x" * (MAX_BODY_CHARS + 1)}, "body", "too large"),
        ({"id": "a", "title": "t", "body": {"html": "x"}}, "body", "string"),
        ({"id": "a", "title": "t", "published_at": "next tuesday"}, "published_at", "date"),
        ({"id": "a", "title": "t", "published_at": 1700000000}, "published_at", "ISO"),
        ({"id": "a", "title": "t", "tags": "a,b"}, "tags", "array"),
        ({"id": "a", "title": "t", "tags": [1]}, "tags", "array"),
        ({"id": "a", "title": "t", "url": 5}, "url", "string"),
        ({"id": "a", "title": "t", "status": True}, "status", "string"),
    ],
)
def test_bad_article_names_the_field(record, field, words):
    with pytest.raises(InvalidArticleError) as info:
        parse_articles([record])
    assert info.value.field == field
    assert words in info.value.message
    assert str(info.value).startswith(field)


def test_batch_errors_name_the_item():
    with pytest.raises(InvalidArticleError) as info:
        parse_articles([GOOD, {**GOOD, "id": "x", "published_at": "??"}], batch=True)
    assert info.value.field == "articles[1].published_at"
    with pytest.raises(InvalidArticleError) as info:
        parse_articles([GOOD, GOOD], batch=True)
    assert info.value.field == "articles[1].id"
    with pytest.raises(InvalidArticleError, match="at most"):
        parse_articles([GOOD] * (MAX_BATCH + 1), batch=True)
    with pytest.raises(InvalidArticleError) as info:
        parse_articles(["not an object"], batch=True)
    assert info.value.field == "articles[0]"


def test_parse_normalises_like_the_corpus_loader():
    frame = parse_articles([{**GOOD, "id": 42, "body": "<p>Rebels <b>kidnapped</b></p>"}])
    row = frame.iloc[0]
    assert row["id"] == "42"
    assert row["body"] == "Rebels kidnapped"
    assert row["published_at"].isoformat() == "2026-11-28T09:30:00+00:00"
    assert row["status"] == "published"


def test_store_round_trip_and_versions(store):
    v0 = store.db.version()
    assert store.publish(parse_articles([GOOD])) == ["live-1"]
    assert store.db.version() == v0 + 1
    got = store.get("live-1")
    assert got.published and got.record["title"] == GOOD["title"]
    assert got.record["published_at"] == "2026-11-28T09:30:00Z"
    assert got.record["tags"] == ["Colombia"]
    assert store.unpublish("live-1") == 1
    assert store.unpublish("live-1") == 0  # already unpublished: nothing changes
    assert store.get("live-1").published is False
    assert store.counts() == {"published": 0, "unpublished": 1}
    changes = store.changes(since=v0)
    assert [(c.id, c.published) for c in changes] == [("live-1", False)]
    assert store.changes(since=store.db.version()) == []
    # Publishing again brings it back.
    store.publish(parse_articles([GOOD]))
    assert store.counts() == {"published": 1, "unpublished": 0}


def test_failed_batch_stores_nothing(store):
    store.publish(parse_articles([GOOD]))
    version = store.db.version()
    with pytest.raises(InvalidArticleError):
        store.publish([{**GOOD, "id": "new"}, {"id": "bad", "title": 7}])
    assert store.get("new") is None
    assert store.db.version() == version


def test_apply_is_one_transaction(store):
    store.publish(parse_articles([GOOD]))
    version = store.db.version()
    ids, changed = store.apply(parse_articles([{**GOOD, "id": "b"}]), ["live-1"])
    assert ids == ["b"] and changed == 1
    assert store.db.version() == version + 1
    assert {c.id: c.published for c in store.changes(version)} == {"b": True, "live-1": False}


def test_live_article_is_queryable_and_a_candidate(store, sample_model, corpus_id):
    store.publish(parse_articles([GOOD]))
    index = LiveIndex(store, sample_model, "v1")
    snap = index.snapshot(store.db.version())
    assert snap.n_live == 1
    # The live story finds the corpus story, and the corpus story now lists the live one.
    assert listed_for(sample_model, snap, "live-1", k=3)[0].id == corpus_id
    related = listed_for(sample_model, snap, corpus_id, k=3)
    assert related[0].id == "live-1"
    assert related[0].published_at == "2026-11-28T09:30:00Z"
    assert all(r.id != corpus_id for r in related)
    drafts = listed_for_text(sample_model, snap, "journalist kidnapped Colombia", k=2)
    assert "live-1" in {r.id for r in drafts}
    # Unchanged state: the same snapshot object (no work per request).
    assert index.snapshot(store.db.version()) is snap


def test_unpublish_hides_live_and_corpus_articles(store, sample_model, corpus_id):
    index = LiveIndex(store, sample_model, "v1")
    before = listed_for_text(sample_model, index.snapshot(), "journalist Colombia", k=5)
    assert corpus_id in {r.id for r in before}
    store.unpublish(corpus_id)
    snap = index.snapshot(store.db.version())
    with pytest.raises(UnknownArticleError):
        listed_for(sample_model, snap, corpus_id)
    after = listed_for_text(sample_model, snap, "journalist Colombia", k=20)
    assert corpus_id not in {r.id for r in after}
    for other in sample_model.ids_[:30]:
        if other != corpus_id:
            assert corpus_id not in {r.id for r in listed_for(sample_model, snap, other, 20)}


def test_live_version_replaces_corpus_article(store, sample_model, corpus_id):
    index = LiveIndex(store, sample_model, "v1")
    store.publish(parse_articles([{"id": corpus_id, "title": "Chess final ends in a draw",
                                   "body": "The chess world championship final was drawn."}]))
    snap = index.snapshot(store.db.version())
    hits = listed_for_text(sample_model, snap, "chess championship final draw", k=3)
    assert hits[0].id == corpus_id and hits[0].title == "Chess final ends in a draw"
    kidnapping = listed_for_text(sample_model, snap, "journalist kidnapped Colombia", k=10)
    assert corpus_id not in {r.id for r in kidnapping}  # the old text no longer matches
    assert [r.id for r in hits].count(corpus_id) == 1


def test_not_published_status_is_queryable_but_never_recommended(store, sample_model, corpus_id):
    store.publish(parse_articles([{**GOOD, "status": "draft"}]))
    snap = LiveIndex(store, sample_model, "v1").snapshot()
    assert listed_for(sample_model, snap, "live-1", k=1)[0].id == corpus_id
    assert "live-1" not in {r.id for r in listed_for(sample_model, snap, corpus_id, k=10)}


def test_refresh_is_incremental(store, sample_model, monkeypatch):
    store.publish(parse_articles([{**GOOD, "id": f"a{i}", "url": f"https://x.example/a{i}"}
                                  for i in range(5)], batch=True))
    index = LiveIndex(store, sample_model, "v1")
    first = index.snapshot()
    assert first.n_live == 5
    vectorised = []
    transform = sample_model.transform
    monkeypatch.setattr(sample_model, "transform",
                        lambda frame: vectorised.append(list(frame["id"])) or transform(frame))
    store.publish(parse_articles([{**GOOD, "id": "a5"}]))
    second = index.snapshot(store.db.version())
    assert second.n_live == 6 and second is not first
    store.publish(parse_articles([{**GOOD, "id": "a2", "title": "Chess final drawn"}]))
    store.unpublish("a1")
    third = index.snapshot(store.db.version())
    # Only the rows that changed were vectorised; the others were carried over.
    assert vectorised == [["a5"], ["a2"]]
    assert third.n_live == 5 and "a1" in third.tombstones and not third.has("a1")
    assert third.ids == ("a0", "a3", "a4", "a5", "a2")
    assert third.records[third.row_of["a2"]]["title"] == "Chess final drawn"
    assert third.url_keys[third.row_of["a3"]] == "https://x.example/a3"
    for article_id in third.ids:  # each carried row is the vector it had
        row = third.row_of[article_id]
        again = transform(pd.DataFrame([third.records[row]]))
        assert abs(third.matrix[row] - again).sum() < 1e-6
        assert third.index.T[row].nnz == third.matrix[row].nnz
    # A write that changes no live row (a takedown) keeps the rows: caches carry over.
    from recommender.state.editorial import Editorial
    Editorial(store.db).takedown("a0", reason="x", by="t")
    fourth = index.snapshot(store.db.version())
    assert fourth.state_version > third.state_version and fourth.same_rows(third)


def test_published_frame_for_retraining(store):
    store.publish(parse_articles([GOOD, {**GOOD, "id": "gone"}], batch=True))
    store.unpublish("gone")
    frame = store.published_frame()
    assert list(frame["id"]) == ["live-1"]
    assert store.unpublished_ids() == ["gone"]


def test_without_live_state_results_equal_the_model(store, sample_model):
    snap = LiveIndex(store, sample_model, "v1").snapshot()
    for article_id in sample_model.ids_[:20]:
        assert fields(listed_for(sample_model, snap, article_id, 7)) == \
            fields(sample_model.related(article_id, 7))
    assert fields(listed_for_text(sample_model, snap, "Egypt elections", k=7)) == \
        fields(sample_model.related_to_text("Egypt elections", k=7))
