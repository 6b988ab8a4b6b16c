"""The draft (free-text) query path against straightforward references.

The fast path copies postings with scipy's row-copy routine, sums them through a per-thread
numbering of rows, checks eligibility only at the top of the list and re-scores in at most
two batches. Each step is compared here with the obvious computation, exactly where the
arithmetic is the same (float64 sums in postings order) and to float rounding elsewhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import recommender.index.inverted as index_mod
from recommender.index.inverted import Pruning, _slices, _top_eligible, accumulate, query_candidates
from recommender.model.estimator import RelatedStories


def reference_sums(index: sp.csr_matrix, qi: np.ndarray, qd: np.ndarray) -> np.ndarray:
    """Dense float64 sums, term by term in query order (the order accumulate adds in)."""
    out = np.zeros(index.shape[1], dtype=np.float64)
    for t, w in zip(qi.tolist(), qd.tolist(), strict=True):
        lo, hi = index.indptr[t], index.indptr[t + 1]
        # float32 products, added as float64; a term's rows are distinct, so += is safe
        out[index.indices[lo:hi]] += index.data[lo:hi] * np.float32(w)
    return out


def draft_queries(model: RelatedStories, articles: pd.DataFrame) -> list[tuple]:
    return [model.draft_terms(articles["title"].iat[i], articles["body"].iat[i])
            for i in range(0, len(articles), 5)]


@pytest.mark.parametrize("use_scipy", [True, False])
def test_slices_equal_the_rows_of_the_matrix(sample_model: RelatedStories, use_scipy: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_scipy:  # the numpy fallback must give the same arrays
        monkeypatch.setattr(index_mod, "_csr_row_index", None)
    m = sample_model.matrix_
    rng = np.random.default_rng(0)
    for keys in (rng.integers(0, m.shape[0], 40).astype(np.int32), np.zeros(0, np.int32),
                 np.array([3, 3, 0], dtype=np.int32)):
        cols, data, lens = _slices(np.asarray(m.indptr), np.asarray(m.indices),
                                   np.asarray(m.data), keys)
        sub = m[keys]
        np.testing.assert_array_equal(cols, sub.indices)
        np.testing.assert_array_equal(data, sub.data)
        np.testing.assert_array_equal(lens, np.diff(sub.indptr))


def test_slices_with_int64_indices(sample_model: RelatedStories) -> None:
    m = sample_model.matrix_
    keys = np.array([5, 1, 7], dtype=np.int32)
    cols, data, lens = _slices(m.indptr.astype(np.int64), m.indices.astype(np.int64),
                               m.data, keys)
    np.testing.assert_array_equal(cols, m[keys].indices)
    assert lens.sum() == cols.size == data.size


def test_accumulate_equals_term_by_term_sums(sample_model: RelatedStories,
                                             sample_articles: pd.DataFrame) -> None:
    index = sample_model.index_
    n_rows = index.shape[1]
    paths = set()
    for qi, qd in draft_queries(sample_model, sample_articles):
        for terms in (qi[:3], qi):  # few postings (row numbering) and many (dense sums)
            w = qd[: terms.size]
            rows, scores = accumulate(index, terms, w)
            ref = reference_sums(index, terms, w)
            paths.add(int(index.indptr[terms + 1].sum() - index.indptr[terms].sum()) * 2
                      < n_rows)
            assert rows.dtype == np.int32 and scores.dtype == np.float32
            assert np.unique(rows).size == rows.size
            got = np.zeros(n_rows, dtype=np.float32)
            got[rows] = scores
            # bit for bit: the same float64 sums, in the same order, rounded once
            np.testing.assert_array_equal(got, ref.astype(np.float32))
    assert paths == {True, False}


def test_top_eligible_equals_filter_then_select() -> None:
    rng = np.random.default_rng(1)
    fallbacks = 0
    for trial in range(300):
        size = int(rng.integers(0, 400))
        rows = rng.permutation(1000)[:size].astype(np.int32)
        # coarse scores: many ties at the n-th place; some zeros
        scores = (rng.integers(0, 6, size) / 5).astype(np.float32)
        allowed = rng.random(1000) < (0.3 if trial % 3 == 0 else 0.97)
        exclude = int(rows[0]) if size and trial % 2 else None
        n = int(rng.integers(1, 60))
        keep = (scores > 0) & allowed[rows]
        if exclude is not None:
            keep &= rows != exclude
        r, s = rows[keep], scores[keep]
        order = np.lexsort((r, -s))[:n]
        got_rows, got_scores = _top_eligible(rows, scores, n, allowed, exclude)
        np.testing.assert_array_equal(got_rows, r[order])
        np.testing.assert_array_equal(got_scores, s[order])
        fallbacks += size > n and np.count_nonzero(keep) < size
    assert fallbacks > 50  # the check after the selection did have to look further


def reference_draft_top(model: RelatedStories, q: tuple[np.ndarray, np.ndarray], n: int,
                        pruning: Pruning) -> tuple[np.ndarray, np.ndarray]:
    """The pruned query's candidates by a dense product, re-scored exactly, top n."""
    qi, qd = q
    row = sp.csr_matrix((qd, qi, [0, qi.size]), shape=(1, model.matrix_.shape[1]))
    pruned = index_mod.prune_rows(row, model.df_, pruning)
    partial = reference_sums(model.index_, pruned.indices, pruned.data)
    partial = partial.astype(np.float32)
    partial[~model.published_] = 0
    cand = np.flatnonzero(partial > 0)
    cand = cand[np.lexsort((cand, -partial[cand]))][: pruning.n_candidates]
    # float64: scipy's float32 product drifts by ~2e-5 over a long draft's 2,000 terms
    exact = model.matrix_[cand].astype(np.float64) @ row.toarray().ravel().astype(np.float64)
    order = np.lexsort((cand, -exact))[:n]
    return cand[order], exact[order]


@pytest.mark.parametrize("pruning", [Pruning(max_terms=16, max_df=20, n_candidates=40),
                                     Pruning(max_terms=64, max_df=50, n_candidates=100)])
def test_draft_candidates_equal_the_reference(sample_model: RelatedStories,
                                              sample_articles: pd.DataFrame,
                                              pruning: Pruning) -> None:
    m = sample_model
    bounds = index_mod.rescore_bounds(m.index_, m.df_, pruning.max_df)
    for q in draft_queries(m, sample_articles):
        for n in (1, 5, 10):
            ref_rows, ref_scores = reference_draft_top(m, q, n, pruning)
            for b in (None, bounds):
                rows, scores = query_candidates(q, m.matrix_, m.index_, m.df_, n,
                                                pruning=pruning, allowed=m.published_,
                                                scratch=m.scratch(), bounds=b)
                np.testing.assert_array_equal(rows, ref_rows)
                np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6)


def test_draft_weights_follow_the_parameters(sample_articles: pd.DataFrame) -> None:
    model = RelatedStories(n_neighbors=0, n_jobs=1).fit(sample_articles.head(60))
    title, body = sample_articles["title"].iat[3], sample_articles["body"].iat[3]
    before = model.vectorize_draft(title, body)
    model.set_params(title_weight=3.0)  # the per-process draft cache must not go stale
    after = model.vectorize_draft(title, body)
    expected = model.transform(pd.DataFrame({"title": [title], "body": [body]}))
    np.testing.assert_allclose(after.toarray(), expected.toarray(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(after.toarray(), before.toarray())
