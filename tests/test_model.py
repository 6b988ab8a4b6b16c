"""Behaviour of the RelatedStories estimator."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from recommender.errors import InvalidParameterError, NotFittedError, UnknownArticleError
from recommender.model.estimator import RelatedStories
from recommender.model.search import top_k


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["flood-1", "flood-2", "chess", "budget", "flood-body", "draft-killed"],
            "title": [
                "River flood forces evacuation of Dhaka suburbs",
                "Dhaka suburbs evacuation after river flood",
                "Chess olympiad final ends in a draw",
                "Parliament passes the annual budget",
                "Council meeting on roads",
                "River flood evacuation Dhaka suburbs killed story",
            ],
            "body": [
                "Thousands left their homes as the river rose.",
                "Officials counted damage to homes and roads.",
                "The grandmasters agreed a draw after forty moves.",
                "The finance minister defended spending cuts.",
                "Councillors discussed a river flood evacuation plan for Dhaka suburbs.",
                "This story was killed.",
            ],
            "status": ["published"] * 5 + ["killed"],
        }
    )


@pytest.fixture(scope="module")
def fitted(small: pd.DataFrame) -> RelatedStories:
    return RelatedStories(max_df=1.0).fit(small)


def test_follows_sklearn_conventions(small: pd.DataFrame) -> None:
    model = RelatedStories(title_weight=2.0, min_df=1)
    assert model.get_params()["title_weight"] == 2.0
    assert not hasattr(model, "matrix_")  # __init__ learns nothing
    with pytest.raises(NotFittedError):
        model.related("flood-1")
    assert model.fit(small) is model
    check_is_fitted(model)
    unfitted = clone(model)
    assert unfitted.get_params() == model.get_params()
    assert not hasattr(unfitted, "matrix_")


def test_matrix_is_float32_and_l2_normalised(fitted: RelatedStories) -> None:
    assert fitted.matrix_.dtype == np.float32
    assert fitted.matrix_.indices.dtype == np.int32
    norms = np.sqrt(np.asarray(fitted.matrix_.multiply(fitted.matrix_).sum(axis=1))).ravel()
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    assert fitted.index_.shape == fitted.matrix_.T.shape


def test_self_never_returned_and_k_respected(fitted: RelatedStories, small: pd.DataFrame) -> None:
    for article_id in small["id"]:
        results = fitted.related(article_id, k=3)
        assert article_id not in [r.id for r in results]
        assert len(results) <= 3


def test_unpublished_is_never_recommended(fitted: RelatedStories) -> None:
    ids = [r.id for r in fitted.related("flood-1", k=10)]
    assert "draft-killed" not in ids
    # ...but an unpublished article can still be asked about (an editor previewing it).
    assert fitted.related("draft-killed", k=2)


def test_headline_sharing_pair_ranks_above_unrelated(fitted: RelatedStories) -> None:
    ids = [r.id for r in fitted.related("flood-1", k=5)]
    assert ids[0] == "flood-2"
    assert "chess" not in ids[:2]


def test_headline_match_counts_more_than_body_match(small: pd.DataFrame) -> None:
    # flood-2 shares the headline words; flood-body shares the same words only in its body.
    model = RelatedStories(max_df=1.0, title_weight=3.0).fit(small)
    scores = {r.id: r.score for r in model.related("flood-1", k=5)}
    assert scores["flood-2"] > scores["flood-body"]
    flat = RelatedStories(max_df=1.0, title_weight=0.0, tags_weight=0.0).fit(small)
    flat_scores = {r.id: r.score for r in flat.related("flood-1", k=5)}
    assert flat_scores.get("flood-2", 0) < scores["flood-2"]


def test_scores_sorted_and_in_range(fitted: RelatedStories) -> None:
    results = fitted.related("flood-1", k=10)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < s <= 1.0 for s in scores)


def test_stable_order_on_ties() -> None:
    df = pd.DataFrame({"id": ["q", "b", "a", "c"],
                       "title": ["storm", "storm", "storm", "storm"],
                       "body": ["", "", "", ""]})
    model = RelatedStories(max_df=1.0, tags_weight=0).fit(df)
    # All three candidates score identically: corpus order decides, every time.
    assert [r.id for r in model.related("q", k=3)] == ["b", "a", "c"]
    assert [r.id for r in model.related("q", k=2)] == ["b", "a"]


def test_top_k_partial_selection_matches_full_sort() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(10_000).astype(np.float32)
    scores[rng.random(10_000) < 0.5] = 0
    got = top_k(scores, 10)
    expected = np.argsort(-scores, kind="stable")[:10]
    np.testing.assert_array_equal(got, expected)
    assert top_k(np.zeros(5, dtype=np.float32), 3).size == 0


@pytest.mark.parametrize("k", [0, -1, 101, 1.5, "5", None, True])
def test_bad_k_is_rejected(fitted: RelatedStories, k: object) -> None:
    with pytest.raises(InvalidParameterError) as err:
        fitted.related("flood-1", k=k)  # type: ignore[arg-type]
    assert err.value.field == "k"


def test_unknown_id_is_a_key_error(fitted: RelatedStories) -> None:
    with pytest.raises(KeyError) as err:
        fitted.related("no-such-story")
    assert isinstance(err.value, UnknownArticleError)
    assert "no-such-story" in str(err.value)


def test_draft_queries(fitted: RelatedStories) -> None:
    results = fitted.related_to_text("Flood in Dhaka", "The river flood forced an evacuation.")
    assert {"flood-1", "flood-2"} <= {r.id for r in results[:3]}
    assert "chess" not in {r.id for r in results}
    with pytest.raises(InvalidParameterError):
        fitted.related_to_text("", "   ")
    with pytest.raises(InvalidParameterError) as err:
        fitted.related_to_text(123, "text")  # type: ignore[arg-type]
    assert err.value.field == "title"
    assert fitted.related_to_text("zzzqqq unknownword", "") == []


def test_results_carry_metadata(sample_model: RelatedStories) -> None:
    first = sample_model.ids_[0]
    results = sample_model.related(first, k=5)
    assert len(results) == 5
    d = results[0].to_dict()
    assert set(d) == {"id", "title", "url", "published_at", "section", "score"}
    assert d["url"].startswith("http")
    assert d["published_at"].endswith("Z")


def test_pickle_round_trip(fitted: RelatedStories) -> None:
    again = pickle.loads(pickle.dumps(fitted))
    assert [r.to_dict() for r in again.related("flood-1", k=3)] == [
        r.to_dict() for r in fitted.related("flood-1", k=3)
    ]


def test_sample_query_is_fast(sample_model: RelatedStories) -> None:
    ids = list(sample_model.ids_[:200])
    for article_id in ids[:20]:  # warm-up
        sample_model.related(article_id)
    times = []
    for article_id in ids:
        t = time.perf_counter()
        sample_model.related(article_id)
        times.append(time.perf_counter() - t)
    # The target is a 2 ms median; 20 ms only catches a gross regression on a busy CI box.
    assert np.median(times) < 0.020
