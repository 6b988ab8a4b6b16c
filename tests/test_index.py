"""The fast query path: candidates, pruning, neighbour lists, draft vectorising, memmaps."""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from recommender.errors import InvalidParameterError
from recommender.index.inverted import (
    Pruning,
    document_frequencies,
    index_slices,
    neighbor_block,
    prune_rows,
    query_candidates,
    rescore_bounds,
)
from recommender.model import artifact
from recommender.model.estimator import RelatedStories
from recommender.text.analyzer import fast_analyzer


def brute_force(model: RelatedStories, row: int | None, query: sp.csr_matrix | None,
                n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-n by a dense product over every article (the reference)."""
    q = model.matrix_[row] if query is None else query
    scores = np.asarray((q @ model.matrix_.T).todense(), dtype=np.float64).ravel()
    scores[~model.published_] = 0
    if row is not None:
        scores[row] = 0
    order = np.lexsort((np.arange(scores.size), -scores))
    order = order[scores[order] > 0][:n]
    return order, scores[order]


@pytest.fixture(scope="module")
def exact_model(sample_articles: pd.DataFrame) -> RelatedStories:
    return RelatedStories(max_query_terms=None, max_query_df=None, n_neighbors=20,
                          n_jobs=1, lsa_components=0).fit(sample_articles)


def test_exact_candidates_equal_brute_force(lexical_model: RelatedStories) -> None:
    for row in range(0, lexical_model.n_articles_, 7):
        article_id = lexical_model.ids_[row]
        rows, scores = lexical_model.candidates(article_id=article_id, n=60, exact=True)
        ref_rows, ref_scores = brute_force(lexical_model, row, None, 60)
        np.testing.assert_array_equal(rows, ref_rows)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)
        assert rows.dtype == np.int32 and scores.dtype == np.float32
        assert row not in rows


def test_draft_candidates_equal_brute_force(lexical_model: RelatedStories,
                                            sample_articles: pd.DataFrame) -> None:
    for i in range(0, 60, 6):
        q = lexical_model.vectorize_draft(sample_articles["title"].iat[i],
                                         sample_articles["body"].iat[i][:2000])
        rows, scores = lexical_model.candidates(query=q, n=30, exact=True)
        ref_rows, ref_scores = brute_force(lexical_model, None, q, 30)
        np.testing.assert_array_equal(rows, ref_rows)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)


def test_pruned_candidates_have_exact_scores_and_high_recall(
        sample_model: RelatedStories) -> None:
    # Defaults prune the query; every returned score must still be the true cosine.
    recalls = []
    for row in range(sample_model.n_articles_):
        q = sample_model.matrix_[row]
        rows, scores = query_candidates(
            q, sample_model.matrix_, sample_model.index_, sample_model.df_, 10,
            pruning=Pruning(max_terms=24, max_df=30, n_candidates=50),
            allowed=sample_model.published_, exclude_row=row)
        exact = np.asarray((q @ sample_model.matrix_[rows].T).todense()).ravel()
        np.testing.assert_allclose(scores, exact, rtol=1e-5, atol=1e-6)
        ref, _ = brute_force(sample_model, row, None, 10)
        recalls.append(len(set(rows) & set(ref)) / max(len(ref), 1))
    recall = float(np.mean(recalls))
    # Aggressive pruning on purpose: the recall is below 1 (the cut does something) but high.
    assert 0.8 < recall < 1.0, recall


def test_prune_rows_keeps_strongest_allowed_terms() -> None:
    q = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.7, 0.2],
                                [0.9, 0.0, 0.0, 0.0, 0.1]], dtype=np.float32))
    df = np.array([1, 1, 1, 100, 1], dtype=np.int32)
    out = prune_rows(q, df, Pruning(max_terms=2, max_df=10)).toarray()
    # Row 0: term 3 is too common; the two strongest others are 1 and 2.
    np.testing.assert_array_equal(out[0] > 0, [False, True, True, False, False])
    np.testing.assert_array_equal(out[1] > 0, [True, False, False, False, True])
    only_common = sp.csr_matrix(np.array([[0.0, 0.0, 0.0, 0.5, 0.0]], dtype=np.float32))
    # A query made of common terms only keeps its rarest terms instead of nothing.
    assert prune_rows(only_common, df, Pruning(max_terms=2, max_df=10)).nnz == 1


def test_neighbour_lists_equal_exact_top_n(exact_model: RelatedStories) -> None:
    lists, lscores = exact_model.neighbors_, exact_model.neighbor_scores_
    assert lists.shape == (exact_model.n_articles_, 20) and lists.dtype == np.int32
    assert lscores.dtype == np.float32
    for row in range(exact_model.n_articles_):
        ref_rows, ref_scores = brute_force(exact_model, row, None, 20)
        got = lists[row][lists[row] >= 0]
        np.testing.assert_array_equal(got, ref_rows)
        np.testing.assert_allclose(lscores[row][: got.size], ref_scores, rtol=1e-5, atol=1e-6)


def test_parallel_neighbour_lists_equal_sequential(sample_articles: pd.DataFrame) -> None:
    from recommender.index.neighbors import compute_neighbors

    m = RelatedStories(n_neighbors=30, n_jobs=1).fit(sample_articles.head(120))
    seq_rows, seq_scores, seq_stats = compute_neighbors(
        m.matrix_, m.index_, m.published_, 30, pruning=m.query_pruning(), n_jobs=1, block_size=32)
    par_rows, par_scores, par_stats = compute_neighbors(
        m.matrix_, m.index_, m.published_, 30, pruning=m.query_pruning(), n_jobs=2, block_size=32)
    assert seq_stats.backend == "sequential" and par_stats.backend == "loky"
    assert par_stats.blocks == 4
    np.testing.assert_array_equal(seq_rows, par_rows)
    np.testing.assert_array_equal(seq_scores, par_scores)
    np.testing.assert_array_equal(seq_rows, m.neighbors_)


@pytest.mark.parametrize("width", [1, 7, 100])
def test_index_slices_cut_the_inverted_index_by_article(sample_model: RelatedStories,
                                                        width: int) -> None:
    slices = list(index_slices(sample_model.matrix_, width))
    assert len(slices) == -(-sample_model.n_articles_ // width)
    assert all(part.shape[1] <= width and part.has_sorted_indices for part in slices)
    whole = sp.hstack(slices, format="csr")
    assert (whole != sample_model.index_).nnz == 0


@pytest.mark.parametrize("pruning", [Pruning(), Pruning(max_terms=16, max_df=20, n_candidates=40)])
def test_neighbour_block_same_lists_whatever_the_slices(sample_model: RelatedStories,
                                                        pruning: Pruning) -> None:
    # The product per slice of the index sums the same postings in the same order as one
    # product over the whole index: equal lists and scores, bit for bit.
    m = sample_model
    allowed = m.published_.copy()
    allowed[::5] = False
    one = list(index_slices(m.matrix_, m.n_articles_))
    n = m.n_articles_
    ref = neighbor_block(m.matrix_, one, m.df_, allowed, 0, n, 12, pruning)
    for width in (3, 40):
        got = neighbor_block(m.matrix_, list(index_slices(m.matrix_, width)), m.df_, allowed,
                             0, n, 12, pruning)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    # and the lists are the query path's (self and disallowed rows left out; the query
    # path sums postings in float64, the product in float32)
    for row in range(0, n, 7):
        rows, scores = query_candidates(m.matrix_[row], m.matrix_, m.index_, m.df_, 12,
                                        pruning=pruning, allowed=allowed, exclude_row=row)
        np.testing.assert_array_equal(ref[0][row][: rows.size], rows)
        np.testing.assert_allclose(ref[1][row][: rows.size], scores, rtol=1e-5)
        assert (ref[0][row][rows.size:] == -1).all()


def test_neighbour_progress_bar_covers_the_preparation(sample_model: RelatedStories,
                                                       capfd: pytest.CaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # every update drawn: the whole run takes ~0.1 s, tqdm's default refresh interval (its
    # TQDM_MININTERVAL variable is read once, when tqdm is first imported: too late here)
    import tqdm.auto

    from recommender.index.neighbors import compute_neighbors

    monkeypatch.setattr(tqdm.auto, "tqdm", functools.partial(tqdm.auto.tqdm, mininterval=0))

    m = sample_model
    compute_neighbors(m.matrix_, m.index_, m.published_, 5, pruning=m.query_pruning(), n_jobs=2,
                      block_size=64, progress=True)
    err = capfd.readouterr().err
    # the bar is up while the matrix and the index slices are written for the workers
    assert "neighbour lists" in err and "preparing index slice 1" in err, err[-500:]
    assert re.search(rf"\b[1-9]\d*/{m.n_articles_} ", err), err[-500:]  # blocks counted


def test_by_id_uses_lists_and_matches_full_query(sample_model: RelatedStories) -> None:
    agree = []
    for row in range(0, sample_model.n_articles_, 3):
        article_id = sample_model.ids_[row]
        from_lists = sample_model.candidates(article_id=article_id, n=10)
        # n beyond the list length: the fallback runs a full (pruned) query.
        full = sample_model.candidates(article_id=article_id, n=80)
        np.testing.assert_array_equal(from_lists[0], sample_model.neighbors_[row, :10])
        agree.append(len(set(from_lists[0]) & set(full[0][:10])) / 10)
        assert row not in full[0]
        assert sample_model.published_[full[0]].all()
    assert np.mean(agree) > 0.98


def test_unpublished_candidates_only_on_request(exact_model: RelatedStories) -> None:
    df = pd.DataFrame({"id": ["a", "b", "c"], "title": ["storm hits", "storm hits", "storm"],
                       "body": ["", "", ""], "status": ["published", "draft", "published"]})
    model = RelatedStories(max_df=1.0, tags_weight=0, n_jobs=1).fit(df)
    assert model.ids_[model.candidates(article_id="a", n=5)[0]].tolist() == ["c"]
    rows, _ = model.candidates(article_id="a", n=5, published_only=False)
    assert model.ids_[rows].tolist() == ["b", "c"]


def test_candidates_validates_arguments(sample_model: RelatedStories) -> None:
    with pytest.raises(InvalidParameterError):
        sample_model.candidates(n=5)
    with pytest.raises(InvalidParameterError) as err:
        sample_model.candidates(article_id=sample_model.ids_[0], n=0)
    assert err.value.field == "n"
    with pytest.raises(KeyError):
        sample_model.candidates(article_id="nope", n=5)


@pytest.mark.parametrize("params", [{"n_neighbors": -1}, {"max_query_terms": 0},
                                    {"max_query_df": 1.5}, {"n_candidates": "x"}])
def test_bad_query_parameters(params: dict, sample_articles: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameterError):
        RelatedStories(**params).fit(sample_articles.head(5))


def test_zero_neighbours_disables_lists(sample_articles: pd.DataFrame) -> None:
    model = RelatedStories(n_neighbors=0).fit(sample_articles.head(40))
    assert model.neighbors_.shape == (40, 0)
    assert "neighbors" not in model.fit_stats_
    assert model.related(model.ids_[0], k=3)  # answered by a query


def test_fast_draft_vectorising_equals_transform(sample_model: RelatedStories,
                                                 sample_articles: pd.DataFrame) -> None:
    for i in range(0, 100, 9):
        title = sample_articles["title"].iat[i]
        body = sample_articles["body"].iat[i]
        tags = list(sample_articles["tags"].iat[i])
        fast = sample_model._transform_one({"title": title, "body": body, "tags": tags})
        slow = sample_model.transform(pd.DataFrame({"title": [title], "body": [body],
                                                    "tags": [tags]}))
        assert fast.dtype == np.float32
        np.testing.assert_allclose(fast.toarray(), slow.toarray(), rtol=1e-5, atol=1e-6)


def test_document_frequencies(sample_model: RelatedStories) -> None:
    df = document_frequencies(sample_model.index_)
    np.testing.assert_array_equal(df, (sample_model.matrix_ > 0).sum(axis=0).A1)


def test_loaded_arrays_are_memory_mapped(trained_model_dir) -> None:
    loaded = artifact.load(trained_model_dir)
    m = loaded.model
    for arr in (m.matrix_.data, m.matrix_.indices, m.index_.data, m.index_.indices,
                m.neighbors_, m.neighbor_scores_, m.df_):
        assert isinstance(arr, np.memmap), type(arr)
        assert not arr.flags.writeable
    assert loaded.load_seconds > 0
    # ...and queries still work on read-only maps (scratch space is per process).
    assert m.related(m.ids_[0], k=5)
    assert m.related_to_text("Egypt election", "Egyptians vote", k=5)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(alphabet=st.sampled_from(
           list("abcdé É the of and ñ ü-.,'1 \n\t") + ["_", "\x0b", "\x1c", "$", "X", "y", "A"]),
           max_size=120),
       ngrams=st.sampled_from([(1, 1), (1, 2), (2, 2), (1, 3), (2, 3)]),
       stop=st.sampled_from([None, "english"]), accents=st.sampled_from([None, "unicode"]),
       lowercase=st.booleans(),
       pattern=st.sampled_from([r"(?u)\b\w\w+\b", r"(?u)\b\w+\b"]))
def test_fast_analyzer_equals_scikit_learn(text, ngrams, stop, accents, lowercase,
                                           pattern) -> None:
    # ASCII texts take the translate-and-split path with the default pattern, others (and
    # other patterns) the regular expression: both give scikit-learn's tokens.
    vec = TfidfVectorizer(ngram_range=ngrams, stop_words=stop, strip_accents=accents,
                          lowercase=lowercase, token_pattern=pattern)
    assert fast_analyzer(vec)(text) == vec.build_analyzer()(text)


def test_fast_analyzer_on_the_model(sample_model: RelatedStories,
                                    sample_articles: pd.DataFrame) -> None:
    for field, vec in sample_model.vectorizers_.items():
        fast, slow = fast_analyzer(vec), vec.build_analyzer()
        values = sample_model._field_values(sample_articles, field)
        assert all(fast(v) == slow(v) for v in values[:200]), field


@pytest.mark.parametrize("limits", [{"block": 7}, {"max_postings": 100}, {"max_postings": 1}])
def test_rescore_bounds_are_the_exact_maxima_and_norms(sample_model: RelatedStories,
                                                       limits: dict) -> None:
    """Whatever the blocks (by terms, or by postings: one term per block at 1), the same
    maxima and common-term norms."""
    pruning = sample_model.query_pruning()
    # A small sample has no term in MIN_QUERY_DF articles: bounds for a lower cut.
    max_df = 20
    bounds = rescore_bounds(sample_model.index_, sample_model.df_, max_df, **limits)
    dense = sample_model.matrix_.toarray().astype(np.float64)
    np.testing.assert_allclose(bounds.term_max, dense.max(axis=0), rtol=1e-6)
    common = sample_model.df_ > max_df
    assert common.any()
    np.testing.assert_allclose(bounds.row_common_norm,
                               np.sqrt((dense[:, common] ** 2).sum(axis=1)), rtol=1e-5)
    assert sample_model.rescore_bounds_.max_df == pruning.max_df  # saved at fit time


def test_bounded_rescoring_gives_the_same_top_n(sample_model: RelatedStories,
                                                sample_articles: pd.DataFrame,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import recommender.index.inverted as index_mod

    rescored: list[int] = []
    real_rescore = index_mod.rescore

    def counting(matrix, rows, *args, **kwargs):
        rescored.append(rows.size)
        return real_rescore(matrix, rows, *args, **kwargs)

    monkeypatch.setattr(index_mod, "rescore", counting)
    m = sample_model
    # A pruning so hard that the pruned order is poor (wrong bounds would show), and a
    # milder one where the bounds spare most of the re-scoring.
    for pruning, fewer in ((Pruning(max_terms=2, max_df=10, n_candidates=80), False),
                           (sample_model.query_pruning(), True)):
        bounds = rescore_bounds(m.index_, m.df_, pruning.max_df)
        full = bounded = 0
        for i in range(0, len(sample_articles), 3):
            q = m.draft_terms(sample_articles["title"].iat[i], sample_articles["body"].iat[i])
            for n in (1, 5, 10):
                rescored.clear()
                expected = query_candidates(q, m.matrix_, m.index_, m.df_, n,
                                            pruning=pruning, allowed=m.published_)
                full += sum(rescored)
                rescored.clear()
                got = query_candidates(q, m.matrix_, m.index_, m.df_, n, pruning=pruning,
                                       allowed=m.published_, bounds=bounds)
                bounded += sum(rescored)
                np.testing.assert_array_equal(got[0], expected[0])
                np.testing.assert_array_equal(got[1], expected[1])
        if fewer:
            assert bounded < 0.8 * full, (bounded, full)
