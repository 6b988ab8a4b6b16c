"""The topic (LSA) blend (``lsa_*`` parameters): reproducible, exact, saved, and off at 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from recommender.cli import cli
from recommender.engine.recommender import Recommender
from recommender.errors import InvalidParameterError
from recommender.index.neighbors import compute_neighbors
from recommender.model import artifact
from recommender.model.estimator import RelatedStories
from recommender.model.lsa import LSA_CANDIDATES, lsa_rank, project
from recommender.state.db import StateDB
from recommender.state.live import LiveIndex, LiveStore, parse_articles

#: The engine reduced to its candidates' scores: no recency, feedback or same-story drop.
PLAIN = {"half_life": None, "duplicate_threshold": None, "near_duplicate_threshold": None,
         "feedback": 0, "draft_feedback": 0}
RANK, WEIGHT = 40, 0.3


@pytest.fixture(scope="module")
def lsa_model(sample_articles: pd.DataFrame) -> RelatedStories:
    return RelatedStories(n_jobs=1, lsa_components=RANK, lsa_weight=WEIGHT).fit(sample_articles)


def blended(model: RelatedStories, query_vec, query_lsa: np.ndarray, rows) -> np.ndarray:
    """What the blend should score, computed from the model's matrix and LSA rows."""
    rows = np.asarray(rows)
    cos = np.asarray((model.matrix_[rows] @ query_vec.T).toarray()).ravel()
    return (1 - WEIGHT) * cos + WEIGHT * (np.asarray(model.lsa_rows_[rows]) @ query_lsa)


def smoothed_by_hand(model: RelatedStories, row: int) -> np.ndarray:
    """A topic row from its definition: the article's projection plus ``lsa_smoothing``
    times its ``lsa_neighbors`` closest articles' projections weighted by their cosines
    (found by brute force here), made unit length."""
    comps = model.lsa_components_
    cos = np.asarray((model.matrix_ @ model.matrix_[row].T).toarray()).ravel()
    cos[row] = -np.inf
    nearest = np.argsort(-cos, kind="stable")[:model.lsa_neighbors]
    z = project(model.matrix_[row], comps)[0] + model.lsa_smoothing * (
        cos[nearest] @ project(model.matrix_[nearest], comps))
    return z / np.linalg.norm(z)


def test_fit_is_reproducible_and_rows_are_smoothed_projections(sample_articles, lsa_model):
    again = RelatedStories(n_jobs=1, lsa_components=RANK, lsa_weight=WEIGHT).fit(
        sample_articles)
    assert lsa_model.lsa_components_.shape == (lsa_model.matrix_.shape[1], RANK)
    assert lsa_model.lsa_rows_.shape == (lsa_model.n_articles_, RANK)
    assert lsa_model.lsa_rows_.dtype == lsa_model.lsa_components_.dtype == np.float32
    assert np.array_equal(again.lsa_components_, lsa_model.lsa_components_)
    assert np.array_equal(again.lsa_rows_, lsa_model.lsa_rows_)
    assert np.array_equal(again.neighbors_, lsa_model.neighbors_)
    # unit rows, each its article's projection leaning toward its closest articles
    assert (lsa_model.lsa_neighbors, lsa_model.lsa_smoothing) == (5, 0.5)  # the defaults
    assert np.allclose(np.linalg.norm(lsa_model.lsa_rows_, axis=1), 1.0, atol=1e-5)
    for row in (0, 7, 123, 300):
        assert np.allclose(smoothed_by_hand(lsa_model, row), lsa_model.lsa_rows_[row],
                           atol=1e-5)
    # the seed follows the corpus-side parameters, not the blend's weights
    other = RelatedStories(n_jobs=1, lsa_components=RANK, lsa_weight=0.5, lsa_neighbors=0,
                           title_weight=1.0).fit(sample_articles)
    assert not np.array_equal(other.lsa_components_, lsa_model.lsa_components_)
    same = RelatedStories(n_jobs=1, lsa_components=RANK, lsa_weight=0.5, lsa_neighbors=0,
                          lsa_smoothing=0.0).fit(sample_articles)
    assert np.array_equal(same.lsa_components_, lsa_model.lsa_components_)
    # without smoothing a row is its article's vector projected as a query is
    assert np.allclose(project(same.matrix_[:20], same.lsa_components_), same.lsa_rows_[:20],
                       atol=1e-6)
    assert not np.allclose(same.lsa_rows_[:20], lsa_model.lsa_rows_[:20], atol=1e-3)


def test_listed_scores_are_the_blend(lsa_model):
    m = lsa_model
    # a list re-scores the ordinary neighbour pass's own candidates (n_neighbors wide)
    lexical, _, _ = compute_neighbors(m.matrix_, m.index_, m.published_, m.n_neighbors,
                                      pruning=m.query_pruning(), n_jobs=1)
    for row in (0, 7, 123):
        listed = np.asarray(m.neighbors_[row])
        listed = listed[listed >= 0]
        cands = lexical[row][lexical[row] >= 0]
        want_all = blended(m, m.matrix_[row], m.lsa_rows_[row], cands)
        assert set(listed) == set(cands[want_all > 0])  # nothing from beyond the pass
        want = blended(m, m.matrix_[row], m.lsa_rows_[row], listed)
        assert np.allclose(m.neighbor_scores_[row, :listed.size], want, atol=1e-5)
        assert np.all(np.diff(m.neighbor_scores_[row, :listed.size]) <= 0)  # best first
        assert row not in listed
    # a draft: its own vector projected, its lexical candidates re-scored
    title, body = "French journalist kidnapped", "Rebels in Colombia hold a reporter."
    vec = m.vectorize_draft(title, body)
    qz = project(vec, m.lsa_components_)[0]
    got = m.related_to_text(title, body, k=10)
    rows = [m.row(r.id) for r in got]
    assert np.allclose([r.score for r in got], blended(m, vec, qz, rows), atol=1e-5)
    # the same draft through the engine (no feedback, no recency), which re-scores a pool of
    # 100 lexical candidates: the model's best 10 of as many
    got = m.related_to_text(title, body, k=100)[:10]
    items = Recommender(m).related_to_text(title, body, 10, **PLAIN).items
    assert [i.id for i in items] == [r.id for r in got]
    assert np.allclose([i.similarity for i in items], [r.score for r in got], atol=1e-6)


def test_weight_zero_keeps_the_lexical_lists(sample_articles, lexical_model):
    """The blend re-scores the lists' own lexical candidates (no wider pass): at weight 0
    the lists are exactly the lexical model's."""
    zero = RelatedStories(n_jobs=1, lsa_components=RANK, lsa_weight=0.0).fit(sample_articles)
    assert zero.has_lsa
    assert np.array_equal(zero.neighbors_, lexical_model.neighbors_)
    assert np.array_equal(zero.neighbor_scores_, lexical_model.neighbor_scores_)


def test_drafts_rescore_a_constant_number_of_candidates(lsa_model, monkeypatch):
    """A draft re-scores max(k, LSA_CANDIDATES) lexical candidates, whatever k."""
    from recommender.model import search

    asked: list[int] = []
    real = search.query_candidates

    def spy(*args, **kwargs):
        asked.append(args[4])
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "query_candidates", spy)
    terms = lsa_model.draft_terms("Syria protests", "Protesters in Syria marched.", ())
    for n, want in ((5, LSA_CANDIDATES), (LSA_CANDIDATES + 30, LSA_CANDIDATES + 30)):
        rows, _ = lsa_model.candidates(query=terms, n=n)
        assert asked[-1] == want and rows.size <= n
    assert LSA_CANDIDATES == 50


@pytest.mark.parametrize("how", ["id", "draft", "id-feedback", "draft-feedback", "live"])
def test_explanations_sum_to_the_score(lsa_model, tmp_path, how):
    engine = Recommender(lsa_model)
    opts = dict(PLAIN) if how in ("id", "draft", "live") else {}
    live = None
    if how == "live":
        store = LiveStore(StateDB(tmp_path / "state.db").init())
        store.publish(parse_articles([{
            "id": "live-1", "title": "French journalist kidnapped in Colombia",
            "body": "Rebels kidnapped a French journalist in Colombia.",
            "published_at": "2026-11-28T09:30:00Z"}]))
        live = LiveIndex(store, lsa_model, "v1").snapshot(store.db.version())
    if how.startswith("draft"):  # with feedback, the expanded draft is projected again
        results = [engine.related_to_text("Syria protests", "Protesters in Syria marched.", 5,
                                          explain=True, **opts)]
    elif how == "live":
        # the live article's own list, and the corpus story that now lists it
        story = lsa_model.related_to_text("French journalist kidnapped Colombia", k=1)[0].id
        results = [engine.related(q, 5, explain=True, live=live, **opts)
                   for q in ("live-1", story)]
        assert "live-1" in [i.id for i in results[1].items]
    else:
        results = [engine.related(str(lsa_model.ids_[5]), 5, explain=True, **opts)]
    items = [item for result in results for item in result.items]
    assert items
    for item in items:
        ex = item.explanation
        parts = (sum(t["contribution"] for t in ex["terms"]) + ex["other_terms"]["contribution"]
                 + ex["topic_similarity"])
        assert parts == pytest.approx(ex["similarity"], abs=1e-9)
        assert sum(ex["fields"].values()) + ex["topic_similarity"] == pytest.approx(
            ex["similarity"], abs=1e-9)
        assert ex["similarity"] == pytest.approx(item.similarity, abs=2e-6)
        assert 0 < ex["topic_similarity"] <= WEIGHT + 1e-6


def test_saved_and_loaded_model_gives_the_same_lists(lsa_model, tmp_path):
    path = artifact.save(lsa_model, tmp_path / "models")
    manifest = artifact.read_manifest(path)
    assert manifest["parameters"]["lsa_components"] == RANK
    assert manifest["parameters"]["lsa_weight"] == WEIGHT
    loaded = artifact.load(tmp_path / "models").model
    assert isinstance(loaded.lsa_rows_, np.memmap)  # shared by the workers, not copied
    assert isinstance(loaded.lsa_components_, np.memmap)
    assert np.array_equal(loaded.lsa_rows_, lsa_model.lsa_rows_)
    a, b = Recommender(lsa_model), Recommender(loaded)
    for qid in (str(lsa_model.ids_[i]) for i in (0, 50, 300)):
        assert [(i.id, i.score) for i in a.related(qid, 8).items] == \
               [(i.id, i.score) for i in b.related(qid, 8).items]
    draft = ("Bahrain protests", "Protesters gathered in Manama again.")
    assert [(i.id, i.score) for i in a.related_to_text(*draft, 8).items] == \
           [(i.id, i.score) for i in b.related_to_text(*draft, 8).items]


def test_off_is_the_lexical_model_unchanged(sample_articles):
    """Off (``lsa_components=0``): no LSA arrays, and the lists are exactly the lexical
    search's."""
    off = RelatedStories(lsa_components=0, lsa_weight=0.9).fit(sample_articles)
    assert not off.has_lsa and off.lsa_rows_ is None and "lsa" not in off.fit_stats_
    rows, scores, _ = compute_neighbors(off.matrix_, off.index_, off.published_,
                                        off.n_neighbors, pruning=off.query_pruning(), n_jobs=1)
    assert rows.tobytes() == off.neighbors_.tobytes()
    assert scores.tobytes() == off.neighbor_scores_.tobytes()
    draft = off.vectorize_draft("Syria protests", "Protesters in Syria marched.")
    got = off.related_to_text("Syria protests", "Protesters in Syria marched.", k=10)
    cos = np.asarray((off.matrix_ @ draft.T).toarray()).ravel()
    assert np.allclose([r.score for r in got], cos[[off.row(r.id) for r in got]], atol=1e-6)


def test_auto_rank_follows_the_archive():
    assert lsa_rank("auto", 982, 20_000) == 125  # round(4 * sqrt(982))
    assert lsa_rank("auto", 100_000, 500_000) == 400
    assert lsa_rank("auto", 400, 300) == 80  # below the matrix's smaller side
    assert lsa_rank("auto", 299, 5000) == 0  # too few articles to learn topics from
    assert lsa_rank(10, 50, 500) == 10  # an explicit rank is taken as asked
    assert lsa_rank(0, 1000, 1000) == 0


def test_above_the_fit_rows_the_svd_sees_a_seeded_sample(sample_articles, lsa_model,
                                                         monkeypatch):
    """Above LSA_FIT_ROWS articles the SVD is fitted on a seeded sample of that many rows
    (the same each time), and every row is still its article's projection."""
    from recommender.model import lsa

    monkeypatch.setattr(lsa, "LSA_FIT_ROWS", 200)
    seen: list[tuple[int, int]] = []
    from sklearn.decomposition import TruncatedSVD

    real_fit = TruncatedSVD.fit

    def spy(self, X, y=None):
        seen.append(X.shape)
        return real_fit(self, X, y)

    monkeypatch.setattr(TruncatedSVD, "fit", spy)
    # unsmoothed, so that a row is its article's projection
    fit = [RelatedStories(n_jobs=1, lsa_components=RANK, lsa_weight=WEIGHT,
                          lsa_neighbors=0).fit(sample_articles) for _ in range(2)]
    a, b = fit
    assert [shape[0] for shape in seen] == [200, 200]  # the sample, not the whole corpus
    assert seen[0][1] < a.matrix_.shape[1]  # the sample's own terms only
    assert a.fit_stats_["lsa"]["fit_rows"] == 200
    assert np.array_equal(a.lsa_components_, b.lsa_components_)
    assert np.array_equal(a.lsa_rows_, b.lsa_rows_)
    assert np.array_equal(a.neighbors_, b.neighbors_)
    assert not np.array_equal(a.lsa_components_, lsa_model.lsa_components_)
    assert a.lsa_rows_.shape == (a.n_articles_, RANK)
    assert np.allclose(project(a.matrix_, a.lsa_components_), a.lsa_rows_, atol=1e-6)
    # the sample is seeded from the parameters: rows never seen still get a projection
    rows = lsa.fit_rows(a.n_articles_, lsa.lsa_seed(a.get_params()))
    assert rows.size == 200 and np.array_equal(rows, np.unique(rows))
    unseen = np.setdiff1d(np.arange(a.n_articles_), rows)
    assert np.allclose(np.linalg.norm(a.lsa_rows_[unseen], axis=1), 1.0, atol=1e-5)
    # below the threshold, the whole corpus (and the arrays the unchanged fit gives)
    monkeypatch.setattr(lsa, "LSA_FIT_ROWS", a.n_articles_)
    whole = RelatedStories(n_jobs=1, lsa_components=RANK, lsa_weight=WEIGHT).fit(
        sample_articles)
    assert seen[-1] == whole.matrix_.shape
    assert np.array_equal(whole.lsa_components_, lsa_model.lsa_components_)


@pytest.mark.parametrize(("params", "field"), [
    ({"lsa_components": -1}, "lsa_components"),
    ({"lsa_components": "many"}, "lsa_components"),
    ({"lsa_components": 2.5}, "lsa_components"),
    ({"lsa_components": 10**6}, "lsa_components"),  # more than the vocabulary
    ({"lsa_components": "auto", "lsa_weight": 1.5}, "lsa_weight"),
    ({"lsa_components": "auto", "lsa_weight": -0.1}, "lsa_weight"),
    ({"lsa_components": "auto", "lsa_weight": True}, "lsa_weight"),
    ({"lsa_neighbors": -1}, "lsa_neighbors"),
    ({"lsa_neighbors": 2.0}, "lsa_neighbors"),
    ({"lsa_neighbors": 51}, "lsa_neighbors"),
    ({"lsa_smoothing": -0.5}, "lsa_smoothing"),
    ({"lsa_smoothing": "lots"}, "lsa_smoothing"),
])
def test_bad_values_name_the_parameter(sample_articles, params, field):
    with pytest.raises(InvalidParameterError) as err:
        RelatedStories(n_jobs=1, **params).fit(sample_articles.head(60))
    assert err.value.field == field


@pytest.mark.parametrize(("args", "flag"), [
    (["--lsa-components", "-2"], "--lsa-components"),
    (["--lsa-components", "lots"], "--lsa-components"),
    (["--lsa-components", "100000"], "--lsa-components"),  # more than the sample's articles
    (["--lsa-components", "auto", "--lsa-weight", "2"], "--lsa-weight"),
    (["--lsa-neighbors", "-1"], "--lsa-neighbors"),
    (["--lsa-smoothing", "-1"], "--lsa-smoothing"),
])
def test_train_rejects_bad_lsa_flags_as_usage_errors(tmp_path, args, flag):
    result = CliRunner().invoke(cli, ["train", "-q", "--out", str(tmp_path / "m"), *args])
    assert result.exit_code == 2, result.output
    assert flag in result.output
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").glob("2*"))


def test_train_records_the_lsa_parameters(tmp_path):
    result = CliRunner().invoke(cli, ["train", "-q", "--out", str(tmp_path / "m"),
                                      "--lsa-components", "auto", "--lsa-weight", "0.25",
                                      "--lsa-neighbors", "3", "--lsa-smoothing", "1"])
    assert result.exit_code == 0, result.output
    manifest = artifact.read_manifest(artifact.resolve(tmp_path / "m"))
    assert manifest["parameters"]["lsa_components"] == "auto"
    assert manifest["parameters"]["lsa_weight"] == 0.25
    assert manifest["parameters"]["lsa_neighbors"] == 3
    assert manifest["parameters"]["lsa_smoothing"] == 1.0
    model = artifact.load(tmp_path / "m").model
    assert model.lsa_rows_.shape[1] == round(4 * np.sqrt(model.n_articles_))


def test_bench_builds_with_the_given_model_parameters(sample_articles, tmp_path):
    from recommender.bench.benchmark import _job_build_alsosee
    from recommender.cli.bench import bench

    corpus = tmp_path / "corpus.parquet"
    sample_articles[["id", "title", "body", "published_at"]].to_parquet(corpus)
    built = _job_build_alsosee({"corpus": str(corpus), "out": str(tmp_path / "m"),
                                "params": {"lsa_components": 20, "n_jobs": 1}})
    assert built["fit_stats"]["lsa"]["rank"] == 20
    manifest = artifact.read_manifest(built["version_dir"])
    assert manifest["parameters"]["lsa_components"] == 20
    for bad, words in (("lsa_components=-1", "lsa_components"), ("lsa_weight=2", "lsa_weight"),
                       ("no_such=1", "NAME=VALUE")):
        result = CliRunner().invoke(bench, ["--sizes", "10k", "--param", bad])
        assert result.exit_code == 2, result.output
        assert words in result.output


def test_service_serves_an_lsa_model_with_exact_explanations(lsa_model, tmp_path, monkeypatch):
    from service import create_app

    for name in ("ALSOSEE_CONFIG", "ALSOSEE_MODEL_DIR", "ALSOSEE_MAX_BODY_BYTES"):
        monkeypatch.delenv(name, raising=False)
    artifact.save(lsa_model, tmp_path / "models")
    client = create_app({"TESTING": True, "MODEL_DIR": str(tmp_path / "models")}).test_client()
    qid = str(lsa_model.ids_[5])
    got = client.get(f"/v1/articles/{qid}/related?k=3&explain=true")
    posted = client.post("/v1/related", json={
        "title": "Syria protests", "body": "Protesters in Syria marched.", "k": 3,
        "explain": True})
    for resp in (got, posted):
        assert resp.status_code == 200, resp.get_json()
        items = resp.get_json()["related"]
        assert items
        for item in items:
            ex = item["explanation"]
            total = (sum(t["contribution"] for t in ex["terms"])
                     + ex["other_terms"]["contribution"] + ex["topic_similarity"])
            assert total == pytest.approx(ex["similarity"], abs=1e-6)


def test_a_model_saved_before_the_lsa_parameters_loads_with_lsa_off(lexical_model):
    """A pickled model without the LSA attributes (older versions) answers as before."""
    import pickle

    state = lexical_model.__getstate__()
    for name in ("lsa_components", "lsa_weight", "lsa_components_", "lsa_rows_"):
        state.pop(name, None)
    old = RelatedStories.__new__(RelatedStories)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert not old.has_lsa
    assert old.get_params()["lsa_components"] == 0
    qid = str(lexical_model.ids_[0])
    assert [(r.id, r.score) for r in old.related(qid, k=5)] == \
           [(r.id, r.score) for r in lexical_model.related(qid, k=5)]


def test_near_duplicates_are_judged_on_the_cosine(lsa_model, lexical_model):
    """The lists hold blended scores; each article's best lexical cosine (top_cosine_) says
    which pools may hold a near-duplicate, and the pairs found are the exact cosine's."""
    assert np.array_equal(lsa_model.top_cosine_, lexical_model.neighbor_scores_[:, 0])
    assert lexical_model.top_cosine_ is None
    space = Recommender(lsa_model)._base
    threshold = 0.5
    close = np.flatnonzero(lsa_model.top_cosine_ >= threshold)
    assert close.size  # the sample has near-duplicates at this threshold
    partner = int(lsa_model.neighbors_[close[0]][
        np.argmax(np.asarray(lsa_model.matrix_[lsa_model.neighbors_[close[0]]]
                             @ lsa_model.matrix_[close[0]].T).ravel())])
    far = np.flatnonzero(lsa_model.top_cosine_ < 0.2)[:10]
    for pool in (np.r_[far, close[0], partner], far):
        got = set(zip(*(a.tolist() for a in space.near_duplicate_pairs(pool, threshold)),
                      strict=True))
        gram = np.asarray((lsa_model.matrix_[pool] @ lsa_model.matrix_[pool].T).toarray())
        np.fill_diagonal(gram, 0)
        assert got == set(zip(*np.nonzero(gram >= threshold), strict=True))
    assert not got  # the far rows: no pair, and no Gram computed


def test_train_says_when_the_svd_saw_a_sample(tmp_path, monkeypatch):
    from recommender.model import lsa

    monkeypatch.setattr(lsa, "LSA_FIT_ROWS", 200)
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "m"),
                                      "--lsa-components", "20"])
    assert result.exit_code == 0, result.output
    model = artifact.load(tmp_path / "m").model
    assert f"SVD fitted on 200 of {model.n_articles_:,} articles" in result.output


def test_draft_feedback_blends_the_expanded_draft(lsa_model):
    """With draft feedback the draft is expanded by its two best matches; the candidates'
    scores blend the expanded draft's cosine and its topic vector projected again (not the
    draft's own)."""
    from sklearn.preprocessing import normalize

    m, engine = lsa_model, Recommender(lsa_model)
    title, body = "Syria protests", "Protesters in Syria marched against the government."
    plain = engine.related_to_text(title, body, 10, **PLAIN)
    got = engine.related_to_text(title, body, 10, **{**PLAIN, "draft_feedback": 0.5})
    best = [m.row(i.id) for i in plain.items[:2]]
    expanded = normalize(m.vectorize_draft(title, body)
                         + 0.5 * (m.matrix_[best[0]] + m.matrix_[best[1]]) / 2)
    topic = project(expanded, m.lsa_components_)[0]
    assert [i.id for i in got.items] != [i.id for i in plain.items]  # it re-ranks
    for item in got.items:
        row = m.row(item.id)
        cos = float((expanded @ m.matrix_[row].T).toarray()[0, 0])
        want = (1 - WEIGHT) * cos + WEIGHT * float(m.lsa_rows_[row] @ topic)
        assert item.similarity == pytest.approx(want, abs=1e-5)


def test_rebuilding_the_lists_applies_new_topic_settings(sample_articles):
    """``set_params`` + ``build_neighbors`` (how scripts/quality.py --cv-topics scores each
    setting on one fit) re-derives the topic rows from the projections: another setting
    changes them, and going back gives the first fit's arrays exactly."""
    model = RelatedStories(n_jobs=1, lsa_components=RANK).fit(sample_articles)
    rows, lists = np.array(model.lsa_rows_), np.array(model.neighbors_)
    model.set_params(lsa_neighbors=0).build_neighbors()
    assert np.allclose(model.lsa_rows_, project(model.matrix_, model.lsa_components_),
                       atol=1e-6)
    assert not np.array_equal(model.neighbors_, lists)
    model.set_params(lsa_neighbors=5, lsa_weight=0.0).build_neighbors()
    assert np.array_equal(model.lsa_rows_, rows)
    model.set_params(lsa_weight=WEIGHT).build_neighbors()
    assert np.array_equal(model.lsa_rows_, rows) and np.array_equal(model.neighbors_, lists)
