"""The engine's fast paths give the same lists as a plain, slow reference of the ranking.

The reference below spells the ranking out candidate by candidate (Python loops, the exact
pairwise cosine matrix of the pool, the matrix forms of collapse and MMR), the way the
engine computed it before its per-query work was vectorised. Every article of the bundled
sample is ranked by both under several option sets; the ids must be equal and the scores
equal to the rounding of the results.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from recommender.engine.recommender import Recommender
from recommender.ranking import options as ranking
from recommender.values import _iso, iso_from_ns

NOW = dt.datetime(2020, 6, 2, 12, tzinfo=dt.UTC)

OPTION_SETS = [
    {},
    {"k": 10},
    {"k": 1},
    {"k": 30, "half_life": 30, "recency_floor": 0.2},
    {"half_life": None},
    {"near_duplicate_threshold": 0.3, "k": 10},
    {"near_duplicate_threshold": 0.3, "collapse_keep": "older", "k": 10},
    {"near_duplicate_threshold": 0.3, "collapse_keep": "higher", "k": 10},
    {"duplicate_threshold": 0.5, "near_duplicate_threshold": None},
    {"min_score": 0.15, "k": 10},
    {"diversity": 0.3, "k": 10},
    {"diversity": 0.8, "k": 5, "pool": 12, "near_duplicate_threshold": 0.3},
    {"exclude_sections": ["East Asia"], "k": 10},
]


def reference_ids(engine: Recommender, article_id: str, **options) -> list[tuple[str, float]]:
    """The ranking of ``article_id`` computed the slow, obvious way: (id, score) pairs."""
    model, uni = engine.model, engine.row_space()
    opts = engine.options(**options)
    row = model.row(article_id)
    ts = uni.timestamps
    reference = int(ts[row]) if ts[row] != ranking.NAT else ranking.to_ns(NOW)
    width = model.neighbors_.shape[1]
    n = width if width >= 2 * opts.k + 4 else max(opts.pool, 10 * opts.k, 100)
    excluded = {uni.section_code(s) for s in opts.exclude_sections}
    stories = uni.story_codes
    while True:
        exact = n >= uni.n_corpus
        rows, sims = model.candidates(article_id=article_id, n=n, exact=exact)
        cand = []
        for r, s in zip(rows.tolist(), sims.tolist(), strict=True):
            if r == row or not uni.published[r] or uni.section_codes[r] in excluded:
                continue
            same = (opts.duplicate_threshold is not None
                    and s >= opts.duplicate_threshold - 1e-6)
            same = same or (stories[row] >= 0 and stories[r] == stories[row])
            if same or s < opts.min_score:
                continue
            cand.append((r, s))
        if not (len(rows) >= n and not exact) or len(cand) >= 2 * opts.k + 4:
            break
        n *= 4
    scored = []
    for pos, (r, s) in enumerate(cand):
        factor = 1.0
        if opts.half_life is not None and ts[r] != ranking.NAT:
            gap = abs(float(ts[r]) - float(reference)) / ranking.NS_PER_DAY
            factor = opts.recency_floor + (1 - opts.recency_floor) * float(
                np.power(0.5, gap / opts.half_life))
        if s * factor > 0:
            scored.append((-(s * factor), pos, r, s, factor))
    scored.sort()
    size = opts.pool if opts.diversity > 0 else max(2 * opts.k, 4)
    while True:
        pool = scored[:size]
        rows = np.array([p[2] for p in pool], dtype=np.int64)
        adjusted = np.array([-p[0] for p in pool])
        gram = ranking.pair_cosines(model.matrix_, rows)
        shown = np.ones(len(pool), dtype=bool)
        if len(pool) >= 2 and opts.near_duplicate_threshold is not None:
            close = (gram >= opts.near_duplicate_threshold - 1e-6).astype(float)
            leader = ranking.collapse_groups(np.arange(len(pool)), close, 0.5)
            shown = ranking.pick_in_groups(leader, adjusted, ts[rows], opts.collapse_keep)
        if shown.sum() >= opts.k or size >= len(scored):
            break
        size = min(size * 2, len(scored))
    live = np.flatnonzero(shown)
    order = ranking.mmr(adjusted[live], gram[np.ix_(live, live)], opts.k, opts.diversity)
    out = []
    for pos in live[order]:
        _, _, r, s, factor = pool[pos]
        out.append((str(model.ids_[r]), round(min(max(s * factor, 0.0), 1.0), 6)))
    return out


@pytest.fixture(scope="module")
def engine(sample_model):
    return Recommender(sample_model, clock=lambda: NOW)


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(map(str, o.items()))
                         or "defaults")
def test_engine_equals_the_reference(engine, sample_model, options):
    compared = 0
    for article_id in sample_model.ids_[::4]:
        expected = reference_ids(engine, article_id, **options)
        got = [(item.id, item.score) for item in engine.related(article_id, **options).items]
        assert [i for i, _ in got] == [i for i, _ in expected], (article_id, options)
        for (_, a), (_, b) in zip(got, expected, strict=True):
            assert math.isclose(a, b, abs_tol=2e-6), (article_id, options, a, b)
        compared += len(got)
    assert compared > 0


def test_group_leaders_equal_the_matrix_rule():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 12))
        close = rng.random((n, n)) < rng.random() * 0.4
        close = close | close.T
        np.fill_diagonal(close, False)
        i, j = np.nonzero(close)
        keep = rng.random(i.size) < 0.7  # one direction of a pair is enough
        keep |= i < j
        expected = ranking.collapse_groups(np.arange(n), close.astype(float), 0.5)
        assert ranking.group_leaders(n, i[keep], j[keep]).tolist() == expected.tolist()


def test_pick_in_groups_undated_members_without_overflow():
    leader = np.array([0, 0, 0, 3])
    ts = np.array([ranking.NAT, 5, ranking.NAT, 1])
    scores = np.array([0.9, 0.5, 0.95, 0.4])
    assert ranking.pick_in_groups(leader, scores, ts, "older").tolist() == [
        False, True, False, True]
    undated = np.full(4, ranking.NAT)
    assert ranking.pick_in_groups(leader, scores, undated, "older").tolist() == [
        False, False, True, True]


def test_mmr_reads_rows_on_demand_like_the_matrix(sample_model):
    engine = Recommender(sample_model)
    uni = engine.row_space()
    rng = np.random.default_rng(1)
    for _ in range(20):
        rows = rng.choice(sample_model.n_articles_, size=int(rng.integers(2, 40)),
                          replace=False)
        gram = ranking.pair_cosines(sample_model.matrix_, rows)
        lazy = uni.pool_cosines(rows)
        read = []

        def row(i, lazy=lazy, read=read):
            read.append(i)
            return lazy(i)

        for i in range(rows.size):
            np.testing.assert_allclose(lazy(i), gram[i], atol=1e-12)
        rel = rng.random(rows.size)
        for diversity in (0.2, 0.5, 0.9):
            read.clear()
            picked = ranking.mmr(rel, row, 5, diversity)
            assert picked.tolist() == ranking.mmr(rel, gram, 5, diversity).tolist()
            assert read == picked[:-1].tolist()  # only the picked rows, not the last
        assert not sample_model.scratch().any()  # the scratch vector is left all-zero


def test_fast_dates_and_article_fields_equal_the_model(engine, sample_model):
    for value in ["2020-06-01T08:00:00", "1969-12-31T23:59:59", "2021-03-04T05:06:07.25",
                  "1970-01-01T00:00:00.000000001", "NaT"]:
        ts = np.datetime64(value, "ns")
        expected = None if np.isnat(ts) else pd.Timestamp(ts).tz_localize("UTC").isoformat(
        ).replace("+00:00", "Z")
        assert iso_from_ns(int(ts.view(np.int64))) == _iso(ts) == expected, value
    for article_id in sample_model.ids_:
        assert engine.article(article_id) == sample_model.article(article_id)


def _pick_reference(leader, scores, timestamps, keep):
    """The member rule spelled out per group (the engine's former loop)."""
    n = len(leader)
    shown = leader == np.arange(n)
    ts = np.asarray(timestamps, dtype=np.int64)
    for lead in np.unique(leader[~shown]).tolist():
        members = np.flatnonzero(leader == lead).tolist()
        shown[members] = False
        if keep == "higher":
            key = [(scores[m],) for m in members]
        elif keep == "newer":
            key = [(ts[m] != ranking.NAT, ts[m], scores[m]) for m in members]
        else:
            key = [(ts[m] != ranking.NAT, -ts[m] if ts[m] != ranking.NAT else 0, scores[m])
                   for m in members]
        shown[members[max(range(len(members)), key=key.__getitem__)]] = True
    return shown


def test_vectorised_pick_in_groups_equals_the_loop():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        n = int(rng.integers(1, 12))
        close = rng.random((n, n)) < rng.random() * 0.5
        close |= close.T
        np.fill_diagonal(close, False)
        leader = ranking.collapse_groups(np.arange(n), close.astype(float), 0.5)
        scores = rng.integers(0, 3, n) / 4.0  # many ties
        ts = rng.integers(0, 4, n).astype(np.int64)
        ts[rng.random(n) < 0.3] = ranking.NAT
        for keep in ("newer", "older", "higher"):
            assert ranking.pick_in_groups(leader, scores, ts, keep).tolist() == \
                _pick_reference(leader, scores, ts, keep).tolist()
