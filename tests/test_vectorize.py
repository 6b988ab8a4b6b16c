"""Parallel vectorising (recommender.vectors.vectorize) against scikit-learn's one-process fit."""

from __future__ import annotations

import marisa_trie
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from recommender.model.estimator import RelatedStories
from recommender.model.transform import FIELDS
from recommender.text.boilerplate import boilerplate_config, strip_boilerplate
from recommender.vectors.vectorize import fit_vectorizers


def _reference(vec: TfidfVectorizer, values: list) -> tuple[sp.csr_matrix, dict[str, int]]:
    """scikit-learn's own fit (a fresh clone of the unfitted vectoriser)."""
    from sklearn.base import clone

    ref = clone(vec)
    return sp.csr_matrix(ref.fit_transform(values)), ref.vocabulary_


def _permuted(matrix: sp.csr_matrix, ref_vocab: dict[str, int], trie: marisa_trie.Trie,
              ) -> sp.csr_matrix:
    """The reference matrix with its columns reordered to the trie's key ids."""
    assert set(trie.keys()) == set(ref_vocab)
    perm = np.empty(len(ref_vocab), dtype=np.int64)
    for term, col in ref_vocab.items():
        perm[trie[term]] = col
    return sp.csr_matrix(matrix[:, perm])


def _assert_close(a: sp.csr_matrix, b: sp.csr_matrix) -> None:
    assert a.shape == b.shape
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)


def _columns(model: RelatedStories, articles: pd.DataFrame) -> dict[str, list]:
    return {f: model._field_values(articles, f, strip=False) for f in FIELDS}


@pytest.mark.parametrize("params", [
    {},
    {"min_df": 2, "max_df": 0.3},
    {"min_df": 0.002, "max_features": 3000},
])
def test_parallel_fit_equals_scikit_learn(sample_articles: pd.DataFrame, params: dict) -> None:
    articles = sample_articles
    model = RelatedStories(**params)
    unfitted = {f: model._make_vectorizer(f, n_docs=len(articles)) for f in FIELDS}
    columns = _columns(model, articles)
    config = boilerplate_config(None)
    # Shards of 64 articles: the merge of per-shard vocabularies is exercised (in-process
    # here; test_parallel_equals_sequential_exactly runs the same on worker processes).
    result = fit_vectorizers(unfitted, columns, boilerplate=config, n_jobs=1, shard_size=64)
    assert result.stats.shards == -(-len(articles) // 64) > 3
    assert not result.skipped
    removed = 0
    for field in FIELDS:
        values = columns[field]
        if field == "body":
            stripped = [strip_boilerplate(v, config) for v in values]
            removed = sum(n for _, n in stripped)
            values = [t for t, _ in stripped]
        ref, ref_vocab = _reference(model._make_vectorizer(field, len(articles)), values)
        vec = result.vectorizers[field]
        assert isinstance(vec.vocabulary_, marisa_trie.Trie)
        _assert_close(result.blocks[field], _permuted(ref, ref_vocab, vec.vocabulary_))
        # The fitted vectoriser transforms new text like scikit-learn's (same columns).
        fresh = vec.transform(values[:50])
        _assert_close(fresh, result.blocks[field][:50])
    assert result.boilerplate_removed == removed


def test_parallel_equals_sequential_exactly(sample_articles: pd.DataFrame) -> None:
    articles = sample_articles
    model = RelatedStories()
    columns = _columns(model, articles)

    def run(**kw: object) -> dict[str, sp.csr_matrix]:
        unfitted = {f: model._make_vectorizer(f, len(articles)) for f in FIELDS}
        result = fit_vectorizers(unfitted, columns, **kw)
        assert result.stats.backend == ("loky" if kw["n_jobs"] == 2 else "sequential")
        assert result.stats.worker_peak_rss_mib > 10  # a worker's own peak when parallel
        assert result.stats.count_cpu_seconds > 0
        return result.blocks

    many = run(n_jobs=2, shard_size=100, min_parallel=0, boilerplate=boilerplate_config(None))
    one = run(n_jobs=1, boilerplate=boilerplate_config(None))
    for field in FIELDS:
        assert (one[field] != many[field]).nnz == 0


@pytest.mark.parametrize("weights", [
    {},
    {"title_weight": 2.5, "body_weight": 1.0, "tags_weight": 1.5},
    {"title_weight": 0.3, "body_weight": 0.7, "tags_weight": 0.0},
])
def test_model_matrix_equals_a_scikit_learn_one_space_reference(
        sample_articles: pd.DataFrame, weights: dict) -> None:
    """The whole fit against the same vectors computed with scikit-learn only: one
    vocabulary for headline and body, counts added with the field weights, sublinear tf
    (``tf`` below 1), one IDF, tags as IDF-weighted terms times their weight, one L2 norm."""
    from sklearn.feature_extraction.text import CountVectorizer

    articles = sample_articles
    model = RelatedStories(n_neighbors=0, **weights).fit(articles)
    tw, bw, gw = model.title_weight, model.body_weight, model.tags_weight
    title = model._field_values(articles, "title")
    body = model._field_values(articles, "body")  # stripped as in training
    words = CountVectorizer(stop_words="english", strip_accents="unicode").fit(
        [t + "\n" + b for t, b in zip(title, body, strict=True)])
    counts = (tw * words.transform(title) + bw * words.transform(body)).astype(np.float64)
    counts = sp.csr_matrix(counts)
    counts.eliminate_zeros()
    counts.data = np.where(counts.data < 1, counts.data,
                           1 + np.log(np.maximum(counts.data, 1)))
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    n = counts.shape[0]
    text = counts @ sp.diags(np.log((1 + n) / (1 + df)) + 1)
    blocks, vocabs = [text], [("text", words.vocabulary_)]
    if gw > 0:
        tags = TfidfVectorizer(analyzer=lambda ts: [t.strip().lower() for t in ts if t.strip()],
                               sublinear_tf=True, norm=None)
        blocks.append(gw * tags.fit_transform(model._field_values(articles, "tags")))
        vocabs.append(("tags", tags.vocabulary_))
    reference = normalize(sp.hstack(blocks, format="csr"), norm="l2")
    perm, start = [], 0
    for (space, vocab), block in zip(vocabs, blocks, strict=True):
        trie = model.vectorizers_[space].vocabulary_
        assert set(trie.keys()) == set(vocab)
        assert model.field_slices_[space][0] == start
        p = np.empty(len(vocab), dtype=np.int64)
        for term, col in vocab.items():
            p[trie[term]] = start + col
        perm.append(p)
        start += block.shape[1]
    _assert_close(model.matrix_, sp.csr_matrix(reference[:, np.concatenate(perm)]))
    assert model.fit_stats_["vectorize"]["counting"]["backend"] == "sequential"
    # A draft is vectorised exactly as the fit vectorises an article.
    rows = model.transform(articles.iloc[:40])
    _assert_close(rows, model.matrix_[:40])


def test_field_without_terms_is_left_out_with_the_reason() -> None:
    articles = pd.DataFrame({"id": ["a", "b", "c"], "title": ["Flood hits city", "City flood",
                                                              "Chess final"],
                             "body": ["the and of", "a the", "of an"]})
    model = RelatedStories(max_df=1.0)
    columns = _columns(model, articles)
    unfitted = {f: model._make_vectorizer(f, 3) for f in FIELDS}
    result = fit_vectorizers(unfitted, columns)
    assert set(result.blocks) == {"title"}
    assert "empty vocabulary" in result.skipped["body"]
    assert "empty vocabulary" in result.skipped["tags"]
    fitted = model.fit(articles)
    assert set(fitted.vectorizers_) == {"text"}  # headline words; no tags
    assert [r.id for r in fitted.related("a", k=1)] == ["b"]


def test_pruning_that_leaves_nothing_is_reported(sample_articles: pd.DataFrame) -> None:
    articles = sample_articles.head(50)
    model = RelatedStories(min_df=40, max_df=0.5)
    unfitted = {"body": model._make_vectorizer("body", len(articles))}
    result = fit_vectorizers(unfitted, {"body": _columns(model, articles)["body"]})
    assert "max_df corresponds to < documents than min_df" in result.skipped["body"]



# ---------------------------------------------------------------- counting and assembly
_EDGE_DOCS = ["", "a", "the the of", "x y", "Ünïcödé café naïve Ωmega ΣΊΣΥΦΟΣ", "one two\nthree",
              "Word_with_underscore 42 x9 __ a_b", "tab\tsep\r\nline—dash’s “quoted”",
              "The flood. The FLOOD! the flood?", "日本語のテキスト 東京 2012年"]


def _analyzer_counts(vec: TfidfVectorizer, docs: list[str]) -> list[dict[str, int]]:
    from collections import Counter

    analyze = vec.build_analyzer()  # scikit-learn's own, not ours
    return [dict(Counter(analyze(d))) for d in docs]


@pytest.mark.parametrize("params", [
    {"ngram_range": (1, 2), "stop_words": "english", "strip_accents": "unicode"},
    {"ngram_range": (1, 1), "stop_words": None},
    {"ngram_range": (2, 2), "stop_words": "english", "lowercase": False},
    {"ngram_range": (1, 2), "token_pattern": r"(?u)\b\w+\b"},
])
def test_shard_counts_equal_scikit_learns_analyzer(sample_articles: pd.DataFrame,
                                                   params: dict) -> None:
    """The whole-shard counting (ASCII texts split by bytes, the others by the regular
    expression, bigrams from token-number pairs) gives the analyzer's counts per document."""
    from recommender.vectors.vectorize import _word_counts

    docs = _EDGE_DOCS + sample_articles["body"].fillna("").tolist()[:150]
    assert any(d.isascii() for d in docs[10:]) and not all(d.isascii() for d in docs[10:])
    vec = TfidfVectorizer(**params)
    terms, counts = _word_counts(vec, docs)
    terms = terms.to_pylist()
    assert len(set(terms)) == len(terms) == counts.shape[1]
    got = [{terms[j]: int(c) for j, c in zip(counts.indices[counts.indptr[i]:counts.indptr[i + 1]],
                                              counts.data[counts.indptr[i]:counts.indptr[i + 1]],
                                              strict=True)}
           for i in range(len(docs))]
    assert got == _analyzer_counts(vec, docs)


@pytest.mark.parametrize("params", [{}, {"min_df": 2, "max_df": 0.3}])
def test_model_matrix_assembled_by_shard_equals_stacked_blocks(sample_articles: pd.DataFrame,
                                                               params: dict) -> None:
    """With field weights the matrix is written shard by shard into one CSR: bit for bit the
    weighted, stacked and normalised per-field blocks (the former assembly), and within
    float rounding scikit-learn's TfidfVectorizer with the same weights."""
    model = RelatedStories(title_weight=1.5, tags_weight=0.5, **params)
    weights = model._weights()
    columns = _columns(model, sample_articles)
    config = boilerplate_config(None)

    def unfitted() -> dict[str, TfidfVectorizer]:
        return {f: model._make_vectorizer(f, len(sample_articles)) for f in FIELDS}

    result = fit_vectorizers(unfitted(), columns, boilerplate=config, n_jobs=1, shard_size=64,
                             weights=weights)
    assert result.stats.shards > 3 and not result.blocks
    assert list(result.field_slices) == list(FIELDS)
    blocks = fit_vectorizers(unfitted(), columns, boilerplate=config, n_jobs=1,
                             shard_size=97).blocks
    stacked = []
    for f in FIELDS:
        block = blocks[f].copy()
        block.data *= np.float32(weights[f])
        stacked.append(block)
    expected = normalize(sp.hstack(stacked, format="csr", dtype=np.float32), norm="l2")
    got = result.matrix
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)
    # Against scikit-learn: columns permuted from its vocabulary to the tries' key ids.
    refs, perm = [], []
    for f in FIELDS:
        values = columns[f]
        if f == "body":
            values = [strip_boilerplate(v, config)[0] for v in values]
        ref_vec = model._make_vectorizer(f, len(sample_articles))
        ref = sp.csr_matrix(ref_vec.fit_transform(values)) * np.float32(weights[f])
        vec = result.vectorizers[f]
        np.testing.assert_array_equal(  # IDF: scikit-learn's arithmetic, same bits
            vec.idf_[[vec.vocabulary_[t] for t in ref_vec.vocabulary_]],
            ref_vec.idf_[list(ref_vec.vocabulary_.values())])
        start = result.field_slices[f][0]
        p = np.empty(len(ref_vec.vocabulary_), dtype=np.int64)
        for term, col in ref_vec.vocabulary_.items():
            p[vec.vocabulary_[term]] = sum(r.shape[1] for r in refs) + col
        refs.append(ref)
        perm.append(p)
        assert result.field_slices[f] == (start, start + len(vec.vocabulary_))
    reference = normalize(sp.hstack(refs, format="csr", dtype=np.float32), norm="l2")
    _assert_close(got, sp.csr_matrix(reference[:, np.concatenate(perm)]))


def test_tag_that_cannot_be_stored_leaves_the_field_out_with_the_reason() -> None:
    articles = pd.DataFrame({"id": ["a", "b", "c"],
                             "title": ["Flood hits city", "City flood", "Chess final"],
                             "body": ["Rain and flood", "Flood damage", "A chess match"],
                             "tags": [["weather"], ["bad\ud800tag"], ["chess"]]})
    model = RelatedStories(max_df=1.0, n_neighbors=0)
    result = fit_vectorizers({f: model._make_vectorizer(f, 3) for f in FIELDS},
                             _columns(model, articles), weights=model._weights())
    assert "lone surrogate" in result.skipped["tags"]
    assert list(result.field_slices) == ["title", "body"]
    assert [r.id for r in model.fit(articles).related("a", k=1)] == ["b"]


def test_garbage_collector_is_paused_while_fitting_and_restored_after(
        sample_articles: pd.DataFrame) -> None:
    import gc

    model = RelatedStories()
    columns = _columns(model, sample_articles.head(50))
    unfitted = {f: model._make_vectorizer(f, 50) for f in FIELDS}
    seen: list[bool] = []
    assert gc.isenabled()
    fit_vectorizers(unfitted, columns, n_jobs=1, while_counting=lambda: seen.append(gc.isenabled()))
    assert seen == [False] and gc.isenabled()
    gc.disable()  # a caller's own setting is kept, not switched on
    try:
        fit_vectorizers({f: model._make_vectorizer(f, 50) for f in FIELDS}, columns, n_jobs=1)
        assert not gc.isenabled()
    finally:
        gc.enable()
